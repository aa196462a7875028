"""Data-parallel pretraining: rank shards of the stream layout, and 2 torchrun processes = 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from conftest import POEM_TEXT, REPO_ROOT

from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.distributed import (
    DistEnv,
    DistributedTrainer,
    rank_rows,
    shard_batches,
)
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig, Trainer
from poetry_lab.core.vocab import Vocab
from poetry_lab.errors import PoetryLabError

VOCAB = Vocab.from_text(POEM_TEXT)
IDS = VOCAB.encode(POEM_TEXT)


def _trainer(**train) -> Trainer:
    model = build_model(ModelConfig(vocab_size=len(VOCAB), hidden=16, emb_dim=8, dropout=0.0), seed=0, device=torch.device("cpu"))
    cfg = TrainConfig(**{"seq_len": 16, "batch_size": 8, "minutes": None, "max_steps": 8, "patience": None, **train})
    return Trainer(model, IDS, IDS[-500:], cfg)


def test_rank_shards_put_together_are_the_single_process_batches():
    trainer = _trainer()
    n = trainer.steps_per_epoch + 3  # across an epoch boundary, where the random offset changes
    whole = [b for _, b in zip(range(n), trainer._epoch_batches(torch.Generator().manual_seed(0)))]
    for world in (2, 4):
        shards = [list(zip(range(n), shard_batches(trainer._epoch_batches(torch.Generator().manual_seed(0)),
                                                  rank_rows(trainer.streams, r, world)))) for r in range(world)]
        for i, (x, y, new_epoch) in enumerate(whole):
            parts = [shard[i][1] for shard in shards]
            assert all(p[0].shape == (trainer.streams // world, trainer.seq_len) for p in parts)
            assert torch.equal(torch.cat([p[0] for p in parts]), x)
            assert torch.equal(torch.cat([p[1] for p in parts]), y)
            assert all(p[2] == new_epoch for p in parts)
    assert sum(b[2] for b in whole) == 2


def test_uneven_shares_are_refused():
    assert rank_rows(8, 1, 2) == slice(4, 8)
    with pytest.raises(PoetryLabError, match="multiple of 4"):
        rank_rows(6, 0, 4)


@pytest.fixture
def one_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield DistEnv(device=torch.device("cpu"))
    dist.destroy_process_group()


def test_distributed_trainer_alone_trains_like_the_trainer(one_process_group):
    plain = _trainer()
    plain.fit()
    single = _trainer()
    ddp = DistributedTrainer(single.model, IDS, IDS[-500:], single.config, one_process_group)
    result = ddp.fit()
    assert result.steps == 8 and result.stop_reason == "steps"
    for k, v in plain.model.state_dict().items():
        torch.testing.assert_close(ddp.model.state_dict()[k], v, atol=1e-6, rtol=0)


def test_early_stop_is_shared_at_the_next_step(one_process_group):
    # Patience 1 with an unreachable min_delta: the second evaluation (step 4) asks to stop.
    kw = {"max_steps": 50, "eval_every_steps": 2, "patience": 1, "min_delta": 10.0}
    assert _trainer(**kw).fit().steps == 4
    t = _trainer(**kw)
    result = DistributedTrainer(t.model, IDS, IDS[-500:], t.config, one_process_group).fit()
    assert (result.stop_reason, result.steps) == ("early_stop", 5)


def _pretrain(tmp_path, out: str, processes: int) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] if processes > 1 else []
    args = [str(tmp_path / "poems.txt"), "--out", str(tmp_path / out), "--max-steps", "20", "--val-chars", "4000",
            "--hidden", "32", "--dropout", "0", "--batch", "8", "--seq-len", "32", "--lr", "1e-2", "--warmup", "5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, *launcher, "-m", "poetry_lab", "pretrain", *args], cwd=REPO_ROOT, env=env,
                          check=False, capture_output=True, text=True, timeout=180)


def test_two_torchrun_processes_learn_what_one_process_learns(tmp_path):
    # Dropout 0: with dropout each process draws its own masks, and the runs would differ.
    (tmp_path / "poems.txt").write_text(POEM_TEXT * 20, encoding="utf-8")  # 44 KB: 10 x the validation split
    for out, processes in (("ddp.safetensors", 2), ("one.safetensors", 1)):
        run = _pretrain(tmp_path, out, processes)
        assert run.returncode == 0, f"{processes} process(es) failed:\n{run.stdout}\n{run.stderr}"
    ddp, one = load_model(tmp_path / "ddp.safetensors", "cpu"), load_model(tmp_path / "one.safetensors", "cpu")
    init = build_model(one.model.config, seed=0, device=torch.device("cpu")).state_dict()
    a, b = ddp.model.state_dict(), one.model.state_dict()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    moved = max((b[k] - init[k]).abs().max().item() for k in b)
    assert diff < 1e-4 and moved > 100 * 1e-4, (diff, moved)
    assert ddp.facts["steps"] == one.facts["steps"] == 20
    assert abs(ddp.facts["best_val_loss"] - one.facts["best_val_loss"]) < 1e-4
    card = json.loads((tmp_path / "ddp.json").read_text(encoding="utf-8"))
    assert card["processes"] == 2 and card["command"].startswith("torchrun --nproc-per-node 2")
