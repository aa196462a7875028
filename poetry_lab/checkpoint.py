"""The one place that saves and loads a model file: safetensors weights + JSON metadata, no pickle.

The metadata makes the file self-describing: model config, vocabulary and training facts.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from poetry_lab.errors import PoetryLabError
from poetry_lab.model import CharLSTM, ModelConfig, pick_device
from poetry_lab.vocab import Vocab

FORMAT = "poetry_lab.charlstm/1"


@dataclass
class ModelBundle:
    """A model with everything needed to use it: its vocabulary and where it came from."""

    model: CharLSTM
    vocab: Vocab
    facts: dict = field(default_factory=dict)  # corpus, steps, best_val_loss, date, ...


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model file is an ordinary document
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(path: str | Path, bundle: ModelBundle, state_dict: dict | None = None) -> Path:
    """Write the bundle atomically (temp file + rename). `state_dict` overrides the model's weights."""
    path = Path(path)
    weights = state_dict if state_dict is not None else bundle.model.state_dict()
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    metadata = {
        "format": FORMAT,
        "config": json.dumps(bundle.model.config.to_dict()),
        "vocab": json.dumps(bundle.vocab.to_list(), ensure_ascii=False),
        "facts": json.dumps(bundle.facts, ensure_ascii=False, default=str),
    }
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def _read_metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}


def load_model(path: str | Path, device: torch.device | str | None = None) -> ModelBundle:
    """Load a model file saved by save_model, onto `device` (default: CUDA if present, else CPU)."""
    path = Path(path)
    if not path.is_file():
        raise PoetryLabError(f"There is no model file at '{path}'.")
    try:
        meta = _read_metadata(path)
        if meta.get("format") != FORMAT:
            raise PoetryLabError(f"'{path.name}' is not a Poetry Lab model file.")
        config = ModelConfig(**json.loads(meta["config"]))
        vocab = Vocab.from_list(json.loads(meta["vocab"]))
        facts = json.loads(meta.get("facts", "{}"))
        tensors = load_file(str(path), device="cpu")
        model = CharLSTM(config)
        model.load_state_dict(tensors, strict=True)
    except PoetryLabError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise PoetryLabError(f"'{path.name}' is not a usable Poetry Lab model file ({type(e).__name__}).") from e
    if len(vocab) != config.vocab_size:
        raise PoetryLabError(f"'{path.name}' is damaged: its vocabulary does not match its weights.")
    model.to(torch.device(device) if device is not None else pick_device()).eval()
    return ModelBundle(model=model, vocab=vocab, facts=facts)
