"""TrainingJob: background training, snapshots, stop, errors and the process-wide job limit."""

from __future__ import annotations

import time

import pytest
from conftest import POEM_TEXT

from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.train import TrainConfig, TrainResult
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.jobs import TrainingJob, stop_message
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


def test_a_job_that_only_gets_worse_stops_early_and_says_why_in_plain_words(tmp_path):
    # Validated on a character the poems never have: every check after the first is worse.
    cfg = TrainConfig(seq_len=32, batch_size=8, lr=1e-2, warmup_steps=5, minutes=None, max_steps=500, eval_every_steps=3, patience=2)
    run = prepare_run(Corpus(POEM_TEXT, name="tiny poems"), {"hidden": 32, "emb_dim": 16}, cfg, val_text="#" * 200)
    job = TrainingJob(run, tmp_path / "run", sample_chars=20)
    job.start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.state == "done" and len(snap.eval_points) == 3
    assert snap.message.startswith("Stopped early after 9 steps: the model stopped improving on text it had not seen after step 3 ")
    assert "learn your poems by heart" in snap.message and f"{snap.best_val_loss:.3f} nats/char" in snap.message
    assert load_model(snap.model_path, device="cpu").facts["stop_reason"] == "early_stop"


def test_samples_are_written_at_the_first_check_then_at_most_every_few_seconds(tmp_path, monkeypatch):
    # Small corpora are checked every few seconds; two samples cost as much as ~10 steps on a busy CPU.
    monkeypatch.setattr(TrainingJob, "SAMPLES_EVERY_S", 1e9)
    cfg = TrainConfig(seq_len=32, batch_size=8, minutes=None, max_steps=8, eval_every_steps=2, patience=None)
    run = prepare_run(Corpus(POEM_TEXT, name="tiny poems"), {"hidden": 16, "emb_dim": 8}, cfg)
    job = TrainingJob(run, tmp_path / "run", sample_chars=10)
    job.start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert len(snap.eval_points) == 4
    assert {step for step, _, _ in snap.samples} == {2}


def _result(reason: str, best_step: int = 40, evals=(20, 40, 60), best_val: float | None = 1.3) -> TrainResult:
    return TrainResult(best_val=best_val, best_step=best_step, steps=evals[-1], epochs=1.0, elapsed=60.0, stop_reason=reason,
                       history=[{"kind": "eval", "step": s} for s in evals])


def test_stop_messages_say_why_and_what_is_kept():
    cfg = TrainConfig(minutes=1.0)
    assert stop_message(_result("budget"), cfg) == (
        "Finished: the 1-minute budget is used up after 60 steps. "
        "The model from step 40 (best validation loss 1.300 nats/char (1.876 bits/char)) is kept.")
    improving = stop_message(_result("budget", best_step=60), cfg)
    assert "the model was still improving" in improving and improving.endswith("more minutes may help.")
    by_epochs = stop_message(_result("epochs"), TrainConfig(minutes=None, epochs=3))
    assert by_epochs.startswith("Finished: all 3 passes over your poems are done")
    assert stop_message(_result("steps", best_step=60), TrainConfig(max_steps=60)).endswith("a longer training may help.")
    assert stop_message(_result("cancelled"), cfg).startswith("Stopped as you asked after 60 steps. The model from step 40")
    assert "after step 40 (best validation loss 1.300" in stop_message(_result("early_stop"), cfg)
    assert stop_message(_result("budget", best_val=None), cfg) == "Finished: the 1-minute budget is used up after 60 steps."


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
