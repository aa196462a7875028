"""Model files: safetensors + metadata, round trips, atomic saving and refusing what is not ours."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from poetry_lab.core.checkpoint import FORMAT, ModelBundle, load_model, save_model
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.vocab import Vocab
from poetry_lab.errors import PoetryLabError

CPU = torch.device("cpu")
CHARS = "abc \nßé—“”🌹жΩ"
FACTS = {"corpus": "Gedichte für Ωmega — “curly” 🌹", "steps": 12, "best_val_loss": 1.25, "nested": {"a": [1, 2]}}


def _bundle(cell: str = "lstm", layers: int = 2) -> ModelBundle:
    vocab = Vocab.from_text(CHARS)
    cfg = ModelConfig(vocab_size=len(vocab), cell=cell, hidden=16, emb_dim=8, layers=layers, dropout=0.1)
    return ModelBundle(model=build_model(cfg, seed=2, device=CPU).eval(), vocab=vocab, facts=dict(FACTS))


def _logits(model, vocab: Vocab, text: str = "abc ßé🌹 Ω\nж") -> torch.Tensor:
    with torch.no_grad():
        logits, _, _ = model.eval()(torch.as_tensor(vocab.encode(text)).unsqueeze(0))
    return logits


@pytest.mark.parametrize("cell, layers", [("lstm", 2), ("gru", 1)])
def test_round_trip_gives_identical_logits_vocab_and_facts(tmp_path, cell, layers):
    bundle = _bundle(cell, layers)
    path = save_model(tmp_path / "model.safetensors", bundle)
    assert path == tmp_path / "model.safetensors" and path.is_file()
    loaded = load_model(path, device="cpu")
    assert loaded.vocab == bundle.vocab
    assert loaded.vocab.chars == bundle.vocab.chars  # non-ASCII characters in the same order
    assert loaded.facts == FACTS
    assert loaded.model.config == bundle.model.config
    assert not loaded.model.training
    assert torch.equal(_logits(loaded.model, loaded.vocab), _logits(bundle.model, bundle.vocab))
    for k, v in bundle.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k


def test_file_is_safetensors_with_our_metadata(tmp_path):
    bundle = _bundle()
    path = save_model(tmp_path / "m.safetensors", bundle)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["format"] == FORMAT
    assert json.loads(meta["config"]) == bundle.model.config.to_dict()
    assert json.loads(meta["vocab"]) == bundle.vocab.to_list()
    assert json.loads(meta["facts"]) == FACTS
    assert "🌹" in meta["vocab"]  # stored as text, not as \\u escapes
    assert keys == set(bundle.model.state_dict())
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle


def test_state_dict_argument_overrides_the_weights(tmp_path):
    bundle = _bundle()
    other = {k: torch.zeros_like(v) for k, v in bundle.model.state_dict().items()}
    loaded = load_model(save_model(tmp_path / "z.safetensors", bundle, state_dict=other), device="cpu")
    assert all(torch.count_nonzero(v) == 0 for v in loaded.model.state_dict().values())


def test_facts_with_non_json_values_are_saved_as_text(tmp_path):
    bundle = _bundle()
    bundle.facts = {"path": tmp_path, "n": 3}
    loaded = load_model(save_model(tmp_path / "f.safetensors", bundle), device="cpu")
    assert loaded.facts == {"path": str(tmp_path), "n": 3}


def _assert_refused(path):
    with pytest.raises(PoetryLabError) as info:
        load_model(path, device="cpu")
    message = str(info.value)
    assert message and "Traceback" not in message
    return message


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.safetensors"
    path.write_bytes(os.urandom(3000))
    _assert_refused(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    _assert_refused(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 8 / 1e9])
def test_truncated_file_is_refused(tmp_path, keep):
    good = save_model(tmp_path / "good.safetensors", _bundle())
    data = good.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    _assert_refused(path)


def test_safetensors_without_our_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    assert "not a Poetry Lab model" in _assert_refused(path)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other), metadata={"format": "something/else"})
    _assert_refused(other)


def test_our_metadata_with_wrong_weights_is_refused(tmp_path):
    bundle = _bundle()
    meta = {
        "format": FORMAT,
        "config": json.dumps(bundle.model.config.to_dict()),
        "vocab": json.dumps(bundle.vocab.to_list()),
    }
    path = tmp_path / "wrong.safetensors"
    save_file({"w": torch.zeros(3)}, str(path), metadata=meta)
    _assert_refused(path)


def test_vocab_that_does_not_match_the_weights_is_refused(tmp_path):
    bundle = _bundle()
    bundle.vocab = Vocab.from_text("abc")
    path = save_model(tmp_path / "mismatch.safetensors", bundle)
    _assert_refused(path)


def test_missing_path_is_refused(tmp_path):
    assert "no model file" in _assert_refused(tmp_path / "nope" / "model.safetensors")
    _assert_refused(tmp_path)  # a directory is not a model file


def test_saving_is_atomic_and_leaves_no_temp_files(tmp_path):
    bundle = _bundle()
    target = tmp_path / "deep" / "dir" / "model.safetensors"
    save_model(target, bundle)
    save_model(target, bundle)  # overwriting works too
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.safetensors"]


def test_failed_save_leaves_no_temp_file_and_keeps_the_old_file(tmp_path, monkeypatch):
    import poetry_lab.core.checkpoint as checkpoint

    bundle = _bundle()
    target = save_model(tmp_path / "model.safetensors", bundle)
    before = target.read_bytes()

    def crash_half_way(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", crash_half_way)
    with pytest.raises(OSError):
        save_model(target, bundle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert target.read_bytes() == before


def test_loads_on_cpu_when_asked(tmp_path):
    device = torch.device("cuda") if torch.cuda.is_available() else CPU
    vocab = Vocab.from_text(CHARS)
    model = build_model(ModelConfig(vocab_size=len(vocab), hidden=16, emb_dim=8), seed=0, device=device)
    path = save_model(tmp_path / "m.safetensors", ModelBundle(model=model, vocab=vocab))
    loaded = load_model(path, device="cpu")
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    assert torch.equal(_logits(loaded.model, vocab), _logits(model.to(CPU), vocab))
    loaded2 = load_model(str(path), device=torch.device("cpu"))
    assert next(loaded2.model.parameters()).device.type == "cpu"


def _rewrite_config(src, dst, **changes):
    import json as _json

    from safetensors import safe_open as _open
    from safetensors.torch import load_file as _load
    from safetensors.torch import save_file as _save

    with _open(str(src), framework="pt") as f:
        meta = f.metadata()
    cfg = _json.loads(meta["config"])
    cfg.update(changes)
    meta["config"] = _json.dumps(cfg)
    _save(_load(str(src)), str(dst), metadata=meta)
    return dst


def test_config_that_disagrees_with_the_weights_is_refused(tiny_model_path, tmp_path):
    bad = _rewrite_config(tiny_model_path, tmp_path / "mismatch.safetensors", hidden=48)
    with pytest.raises(PoetryLabError, match="do not match"):
        load_model(bad, device="cpu")


def test_config_claiming_a_huge_model_is_refused_before_allocating(tiny_model_path, tmp_path):
    bad = _rewrite_config(tiny_model_path, tmp_path / "huge.safetensors", hidden=8192, layers=16)
    with pytest.raises(PoetryLabError, match="too large"):
        load_model(bad, device="cpu")


def test_header_claiming_gigabytes_and_a_pickle_are_refused(tmp_path):
    import json as _json
    import pickle
    import struct

    header = _json.dumps({
        "__metadata__": {"format": FORMAT, "config": _json.dumps({"vocab_size": 3}), "vocab": _json.dumps(["a", "b"])},
        "embed.weight": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 40_000_000_000]},
    }).encode()
    giga = tmp_path / "giga.safetensors"
    giga.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    pick = tmp_path / "model.safetensors"
    pick.write_bytes(pickle.dumps({"embed.weight": [1, 2, 3]}))
    for path in (giga, pick):
        with pytest.raises(PoetryLabError):
            load_model(path, device="cpu")
