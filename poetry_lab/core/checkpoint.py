"""The one place that saves and loads a model file: safetensors weights + JSON metadata, no pickle.

The metadata makes the file self-describing: model config, vocabulary and training facts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from poetry_lab.core.model import CharLSTM, ModelConfig, pick_device
from poetry_lab.core.vocab import Vocab
from poetry_lab.core.wordmodel import WordConfig, WordLSTM, WordVocab
from poetry_lab.errors import PoetryLabError
from poetry_lab.files import atomic_write
from poetry_lab.settings import MAX_FILE_PARAMETERS

FORMAT = "poetry_lab.charlstm/1"
WRITER_FORMAT = "poetry_lab.wordlstm/1"  # the word-level writer of poems in form (poetry_lab.core.wordmodel)
WRITER_FILE = "writer.safetensors"  # a model file's writer: this file in the same folder (the shipped base's, a run's)


@dataclass
class ModelBundle:
    """A model with everything needed to use it: its vocabulary and where it came from."""

    model: CharLSTM
    vocab: Vocab
    facts: dict = field(default_factory=dict)  # corpus, steps, best_val_loss, date, ...
    writer: WriterBundle | None = None  # the word-level writer of this model's poems in form (WRITER_FILE beside the model file)


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
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


@dataclass
class WriterBundle:
    """The word-level writer of poems in form, its vocabulary and where it came from."""

    model: WordLSTM
    vocab: WordVocab
    facts: dict = field(default_factory=dict)

    def encode(self, text: str) -> np.ndarray:
        """`text` as this writer reads it: its token ids, each line led by its end word for a planning writer."""
        return self.vocab.encode(text, plans=self.model.config.plans)


def save_writer(path: str | Path, bundle: WriterBundle, half: bool = True) -> Path:
    """Write a writer file atomically; `half` stores the weights in half precision (they load as float32)."""
    path = Path(path)
    tensors = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in bundle.model.state_dict().items()}
    metadata = {"format": WRITER_FORMAT, "config": json.dumps(bundle.model.config.to_dict()),
                "vocab": json.dumps(bundle.vocab.tokens, ensure_ascii=False),
                "facts": json.dumps(bundle.facts, ensure_ascii=False, default=str)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path




def _read_header(path: Path) -> tuple[dict, dict[str, list[int]]]:
    """Metadata and tensor shapes, read from the header alone (no tensor data is loaded)."""
    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}, {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


def _check_config(described: torch.nn.Module, vocab_size: int, vocab: int, shapes: dict[str, list[int]], name: str) -> None:
    """The file's tensors must be exactly those its config describes (`described`: that model built on "meta",
    shapes only, so a config claiming gigabytes allocates nothing), with `vocab` entries for its `vocab_size`."""
    expected = {k: list(v.shape) for k, v in described.state_dict().items()}
    if vocab != vocab_size:
        raise PoetryLabError(f"'{name}' is damaged: its vocabulary does not match its weights.")
    if sum(math.prod(s) for s in expected.values()) > MAX_FILE_PARAMETERS:
        raise PoetryLabError(f"'{name}' describes a model too large for Poetry Lab.")
    if expected != shapes:
        raise PoetryLabError(f"'{name}' is damaged: its weights do not match its description.")


def load_model(path: str | Path, device: torch.device | str | None = None, writer: bool = True) -> ModelBundle:
    """Load a model file saved by save_model, onto `device` (default: CUDA if present, else CPU), with
    the writer beside it (WRITER_FILE in its folder) unless `writer` is False or there is none.

    Untrusted files are checked (format tag, JSON metadata, tensor names and shapes, size) before any
    weights are read; safetensors holds only raw tensors, so loading runs no code from the file.
    """
    path = Path(path)
    if not path.is_file():
        raise PoetryLabError(f"There is no model file at '{path}'.")
    try:
        meta, shapes = _read_header(path)
        if meta.get("format") == WRITER_FORMAT:
            raise PoetryLabError(f"'{path.name}' is a writer of poems in form (words), not a character model: "
                                 "it writes poems, and cannot be trained, sampled or looked into here.")
        if meta.get("format") != FORMAT:
            raise PoetryLabError(f"'{path.name}' is not a Poetry Lab model file.")
        config = ModelConfig(**json.loads(meta["config"]))
        vocab = Vocab.from_list(json.loads(meta["vocab"]))
        facts = json.loads(meta.get("facts", "{}"))
        if not isinstance(facts, dict):
            raise ValueError("facts must be an object")
        _check_config(CharLSTM(config, device="meta"), config.vocab_size, len(vocab), shapes, path.name)
        tensors = load_file(str(path), device="cpu")
        model = CharLSTM(config, device="meta")
        model.load_state_dict(tensors, strict=True, assign=True)  # the loaded tensors become the parameters
    except PoetryLabError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError, OverflowError) as e:
        raise PoetryLabError(f"'{path.name}' is not a usable Poetry Lab model file ({type(e).__name__}).") from e
    model.to(torch.device(device) if device is not None else pick_device()).eval()
    beside = path.parent / WRITER_FILE
    return ModelBundle(model=model, vocab=vocab, facts=facts, writer=load_writer(beside) if writer and beside.is_file() else None)


def load_writer(path: str | Path) -> WriterBundle:
    """Load a writer file saved by save_writer, on the CPU, checked as load_model checks a model file."""
    path = Path(path)
    if not path.is_file():
        raise PoetryLabError(f"There is no writer file at '{path}'.")
    try:
        meta, shapes = _read_header(path)
        if meta.get("format") != WRITER_FORMAT:
            raise PoetryLabError(f"'{path.name}' is not a Poetry Lab writer file.")
        config = WordConfig.from_dict(json.loads(meta["config"]))
        vocab = WordVocab(json.loads(meta["vocab"]))
        facts = json.loads(meta.get("facts", "{}"))
        if not isinstance(facts, dict):
            raise ValueError("facts must be an object")
        _check_config(WordLSTM(config, device="meta"), config.vocab_size, len(vocab), shapes, path.name)
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path), device="cpu").items()}
        model = WordLSTM(config, device="meta")
        model.load_state_dict(tensors, strict=True, assign=True)
    except PoetryLabError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError, OverflowError) as e:
        raise PoetryLabError(f"'{path.name}' is not a usable Poetry Lab writer file ({type(e).__name__}).") from e
    return WriterBundle(model.eval(), vocab, facts)
