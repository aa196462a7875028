"""Pretraining: the base model and its card are written as validation improves, and a run resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import POEM_TEXT

from poetry_lab.cli import main
from poetry_lab.core.checkpoint import load_model
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.pretrain import PretrainConfig, pretrain, resume_file

TRAIN = {"max_steps": 12, "minutes": None, "eval_every_steps": 3, "batch_size": 4, "seq_len": 16, "warmup_steps": 2}
CFG = PretrainConfig(val_chars=2000, model={"hidden": 16, "emb_dim": 8}, train=TRAIN)


@pytest.fixture
def verse(tmp_path):
    path = tmp_path / "verse.txt"
    path.write_text(POEM_TEXT * 30, encoding="utf-8")  # about 66 KB: enough for a 2,000-character held-out tail
    return path


def _interrupt_at_step(step: int):
    def log(message: str) -> None:
        if f"step {step:6d}" in message:
            raise KeyboardInterrupt  # as Ctrl-C would, inside the evaluation after that step
    return log


def test_an_interrupted_pretraining_resumes_where_it_was(tmp_path, verse):
    full, _ = pretrain(str(verse), CFG, log=lambda m: None, out=tmp_path / "full.safetensors", checkpoint_every_s=0)
    cut = tmp_path / "cut.safetensors"
    pretrain(str(verse), CFG, log=_interrupt_at_step(6), out=cut, checkpoint_every_s=0)
    assert json.loads(cut.with_suffix(".json").read_text())["steps"] <= 6  # the card of the best model so far
    assert resume_file(cut).is_file()
    lines = []
    resumed, facts = pretrain("ignored: the checkpoint names its corpus", PretrainConfig(), log=lines.append, out=cut,
                              resume=True, checkpoint_every_s=0)
    assert any("resumed from the checkpoint at step 5" in m for m in lines), lines
    assert facts["steps"] == 12 and facts["corpus"] == str(verse)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name  # the same weights as the run that was never interrupted
    assert load_model(cut, device="cpu").facts["best_val_loss"] == pytest.approx(facts["best_val_loss"])


def test_resume_without_a_checkpoint_is_a_plain_error(tmp_path, capsys):
    assert main(["pretrain", "--resume", "--out", str(tmp_path / "none.safetensors")]) == 2
    assert "no pretraining checkpoint" in capsys.readouterr().err
    with pytest.raises(PoetryLabError, match="no pretraining checkpoint"):
        pretrain("x", CFG, out=None, resume=True)


def test_pretraining_from_a_base_at_a_larger_width_starts_where_the_base_was(tmp_path, verse):
    base_file = tmp_path / "base.safetensors"
    base, base_facts = pretrain(str(verse), CFG, log=lambda m: None, out=base_file, checkpoint_every_s=3600)
    wide_file = tmp_path / "wide.safetensors"
    args = ["pretrain", str(verse), "--from", str(base_file), "--hidden", "24", "--out", str(wide_file), "--max-steps", "3",
            "--val-chars", "2000", "--batch", "4", "--seq-len", "16", "--warmup", "1", "--lr", "1e-4", "--eval-every", "0"]
    assert main(args) == 0
    wide = load_model(wide_file, device="cpu")
    assert wide.model.config.hidden == 24 and wide.model.num_params() > base.model.num_params()
    assert wide.facts["continued_from"]["steps"] == base_facts["steps"]
    # three small steps from the widened base: about the base's loss, far below a fresh model's
    assert wide.facts["best_val_loss"] < base_facts["best_val_loss"] + 0.05
