"""TrainingJob: background training, snapshots, stop, errors and the process-wide job limit."""

from __future__ import annotations

import time

import pytest
from conftest import POEM_TEXT

from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.train import TrainConfig
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.jobs import TrainingJob
from poetry_lab.runs.prepare import prepare_run


def _run(minutes=0.5, **kw):
    cfg = TrainConfig(seq_len=32, batch_size=8, lr=1e-2, warmup_steps=5, minutes=minutes, eval_every_s=0.3, patience=None, **kw)
    return prepare_run(Corpus(POEM_TEXT, name="tiny poems"), {"hidden": 32, "emb_dim": 16}, cfg)


def _wait(cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_job_trains_in_background_and_stop_keeps_best(tmp_path):
    job = TrainingJob(_run(), tmp_path / "run", sample_chars=40)
    job.start()
    try:
        assert job.running
        assert _wait(lambda: job.snapshot().eval_points and len(job.snapshot().train_points) >= 2)
        snap = job.snapshot()
        assert snap.state == "running" and snap.step > 0 and snap.best_val_loss is not None
        assert snap.samples and all(isinstance(t, str) for _, _, t in snap.samples)
        assert job.best_bundle() is not None  # a snapshot to generate from while training goes on
    finally:
        job.stop()
        assert job.join(timeout=20)
    snap = job.snapshot()
    assert snap.state == "stopped", snap.message
    assert "best validation loss" in snap.message
    bundle = load_model(snap.model_path, device="cpu")
    assert bundle.facts["stop_reason"] == "cancelled"
    assert bundle.facts["best_val_loss"] == pytest.approx(snap.best_val_loss)


def test_second_job_is_refused_while_one_runs(tmp_path):
    first = TrainingJob(_run(), tmp_path / "a")
    first.start()
    try:
        second = TrainingJob(_run(), tmp_path / "b")
        with pytest.raises(PoetryLabError, match="Another training is running"):
            second.start()
    finally:
        first.stop()
        first.join(timeout=20)
    third = TrainingJob(_run(minutes=0.01), tmp_path / "c")  # the slot is free again
    third.start()
    assert third.join(timeout=20)
    assert third.snapshot().state == "done"


def test_exception_in_thread_ends_job_with_message_and_frees_slot(tmp_path):
    run = _run()

    def explode(trainer, progress):
        if progress.step == 3:
            raise RuntimeError("simulated failure")

    run.trainer.add_callback("on_step", explode)
    job = TrainingJob(run, tmp_path / "x")
    job.start()
    assert job.join(timeout=20)
    snap = job.snapshot()
    assert snap.state == "error" and "simulated failure" in snap.message
    again = TrainingJob(_run(minutes=0.01), tmp_path / "y")
    again.start()
    assert again.join(timeout=20) and again.snapshot().state == "done"


def test_a_job_starts_only_once(tmp_path):
    job = TrainingJob(_run(minutes=0.01), tmp_path / "z")
    job.start()
    with pytest.raises(PoetryLabError):
        job.start()
    job.join(timeout=20)


def test_run_directory_keeps_config_corpus_metrics_and_model(tmp_path):
    import json

    job = TrainingJob(_run(minutes=0.05), tmp_path / "run")
    job.start()
    assert job.join(timeout=20)
    out = tmp_path / "run"
    record = json.loads((out / "run.json").read_text())
    assert record["model_config"]["hidden"] == 32 and record["train_config"]["batch_size"] == 8
    assert (out / "corpus.txt").read_text() == POEM_TEXT
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 1 + len(job.snapshot().eval_points)
    assert load_model(out / "model.safetensors", device="cpu").facts["steps"] == job.snapshot().step
