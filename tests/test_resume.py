"""Faults lose nothing: exact continuation from a checkpoint, SIGKILL mid-training, damaged run
directories, and each visitor seeing only their own runs."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest
import torch
from apphelpers import ui
from conftest import POEM_TEXT, REPO_ROOT

from poetry_lab.app.session import Session
from poetry_lab.app.ui import api, train_tab
from poetry_lab.cli import main
from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.train import TrainConfig
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs import listing as runs
from poetry_lab.runs.prepare import prepare_run
from poetry_lab.runs.record import RESUME, RunRecorder, read_record


def _prepared(cell: str, max_steps: int = 48, ema: float | None = None):
    cfg = TrainConfig(seq_len=16, batch_size=4, lr=1e-2, warmup_steps=5, minutes=None, max_steps=max_steps,
                      eval_every_steps=6, patience=None, seed=3, ema=ema)
    model = {"cell": cell, "layers": 2 if cell == "lstm" else 1, "hidden": 24, "emb_dim": 8, "dropout": 0.2}
    return prepare_run(Corpus(POEM_TEXT, name="tiny poems"), model, cfg)


def _final_state(trainer) -> dict:
    """The trainer's state at its last step (fit() then loads the best weights into the model)."""
    seen = {}
    trainer.add_callback("on_step_end", lambda t, p: seen.update(state=t.training_state()) if t.stop_reason else None)
    return seen


@pytest.mark.parametrize("cell, ema", [("lstm", None), ("gru", None), ("lstm", 0.95)])
def test_resumed_run_matches_the_uninterrupted_run(tmp_path, cell, ema):
    whole = _prepared(cell, ema=ema)
    whole_end = _final_state(whole.trainer)
    whole_result = whole.trainer.fit()

    first = _prepared(cell, ema=ema)  # the same run, stopped at step 18 and written to a run directory
    first.trainer.add_callback("on_step", lambda t, p: t.stop() if p.step == 18 else None)
    recorder = RunRecorder(tmp_path / "run", first, checkpoint_every_s=3600)
    recorder.begin()
    recorder.finish(first.trainer.fit())
    assert read_record(tmp_path / "run")["status"] == "stopped"

    again = runs.prepare_resumed(tmp_path / "run")  # fresh objects, rebuilt from the files alone
    assert again.trainer.resumed_from == 18 and again.bundle.vocab == whole.bundle.vocab
    assert (again.train_text, again.val_text) == (whole.train_text, whole.val_text)
    steps = []
    again.trainer.add_callback("on_step", lambda t, p: steps.append(p.step))
    again_end = _final_state(again.trainer)
    again_result = again.trainer.fit()

    assert steps[0] == 19 and steps[-1] == 48 and again_result.steps == whole_result.steps == 48
    a, b = whole_end["state"].tensors, again_end["state"].tensors
    assert set(a) == set(b) and any(k.startswith("adam.exp_avg_sq.") for k in a)
    assert any(k.startswith("ema.") for k in a) == (ema is not None)
    for key in a:
        if not key.startswith("rng."):
            assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key
    assert torch.equal(a["rng.dropout"], b["rng.dropout"])  # dropout drew the same masks
    assert [h["val_loss"] for h in whole.trainer.history] == pytest.approx([h["val_loss"] for h in again.trainer.history], abs=1e-6)
    assert again_result.best_step == whole_result.best_step


def test_time_budget_goes_on_from_the_saved_elapsed_time(tmp_path):
    run = _prepared("gru", max_steps=6)
    RunRecorder(tmp_path / "run", run, checkpoint_every_s=3600).begin()
    run.trainer.fit()
    path = tmp_path / "run" / RESUME
    assert path.is_file()
    again = runs.prepare_resumed(tmp_path / "run", limits={"max_steps": 8})
    elapsed = []
    again.trainer.add_callback("on_step", lambda t, p: elapsed.append(p.elapsed))
    again.trainer.fit()
    saved = runs.read_resume_header(path)["state"]["elapsed"]
    assert elapsed and elapsed[0] >= saved > 0


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def test_sigkill_mid_training_then_list_load_and_resume(tmp_path, capsys):
    corpus = tmp_path / "poems.txt"
    corpus.write_text(POEM_TEXT * 4, encoding="utf-8")
    run_dir = tmp_path / "runs" / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "poetry_lab", "train", str(corpus), "--out", str(run_dir), "--minutes", "2",
           "--steps", "1000000", "--hidden", "16", "--emb", "8", "--seq-len", "16", "--batch", "4", "--eval-steps", "3",
           "--patience", "never", "--no-samples", "--checkpoint-every", "0.3"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    checkpoint, last_step, deadline = None, 0, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, "the training ended before it could be killed"
            if m := re.match(r"checkpoint at step (\d+) \((\d+) ms\)", line):
                checkpoint = int(m[1])
            elif m := re.match(r"step +(\d+) \|", line):
                last_step = int(m[1])
            if checkpoint and checkpoint >= 6 and last_step > checkpoint:
                break
        assert checkpoint and last_step > checkpoint, "no checkpoint came within a minute"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    (info,) = runs.list_runs(run_dir.parent)
    assert info.status == "interrupted" and info.resumable and info.steps >= checkpoint
    bundle = load_model(run_dir / "model.safetensors", device="cpu")
    assert bundle.model.config.hidden == 16 and bundle.facts["partial"] is True

    resumed_from = info.steps
    lost = runs.lost_steps(run_dir, resumed_from)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--steps", str(resumed_from + 12), "--no-samples"]) == 0
    out = capsys.readouterr().out
    assert f"from its checkpoint at step {resumed_from};" in out and f"{lost} steps trained after it were lost" in out
    record = read_record(run_dir)
    assert record["status"] == "done" and record["steps"] == resumed_from + 12 and record["resumed"][0]["step"] == resumed_from
    assert load_model(run_dir / "model.safetensors", device="cpu").facts["steps"] == resumed_from + 12
    steps = [int(r.split(",")[0]) for r in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[0] <= resumed_from < steps[-1] == resumed_from + 12  # no step twice
    with capsys.disabled():
        print(f"\n[sigkill] killed at step >= {last_step}; checkpoint at step {resumed_from}: "
              f"{last_step - resumed_from} steps lost by the output ({lost} by metrics.csv), resumed to {resumed_from + 12}")


def test_kill_right_after_the_first_evaluation_leaves_a_model_that_writes(tmp_path, capsys):
    """`train --out DIR` (the README's form) writes the best model as soon as validation improves, not at the end."""
    corpus = tmp_path / "poems.txt"
    corpus.write_text(POEM_TEXT * 4, encoding="utf-8")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "poetry_lab", "train", str(corpus), "--out", str(out), "--minutes", "2",
           "--hidden", "16", "--emb", "8", "--seq-len", "16", "--batch", "4", "--eval-steps", "5", "--patience", "never",
           "--no-samples", "--checkpoint-every", "600"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = lines.get(timeout=60)
            assert line is not None, "the training ended before it could be killed"
            if re.match(r"step +5 \|", line):  # the first evaluation has been printed
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert not (out / "resume.safetensors").exists()  # no checkpoint yet: only the improved model saved it
    assert load_model(out / "model.safetensors", device="cpu").facts["best_step"] == 5
    capsys.readouterr()
    assert main(["generate", str(out / "model.safetensors"), "--prompt", "The", "--chars", "30", "--temperatures", "0.5"]) == 0
    assert "The" in capsys.readouterr().out


def test_listing_survives_damaged_run_directories(tmp_path, capsys):
    root = tmp_path / "runs"
    good = _prepared("gru", max_steps=6)
    recorder = RunRecorder(root / "good", good, checkpoint_every_s=3600)
    recorder.begin()
    recorder.finish(good.trainer.fit())
    (root / "truncated").mkdir()
    (root / "truncated" / "run.json").write_text('{"corpus": "x", "sta')
    (root / "no_record").mkdir()
    (root / "no_record" / "corpus.txt").write_text(POEM_TEXT)
    bad_ckpt = root / "bad_checkpoint"
    bad_ckpt.mkdir()
    (bad_ckpt / "run.json").write_text(json.dumps({"corpus": "y", "status": "running", "pid": os.getpid()}))
    (bad_ckpt / RESUME).write_bytes((root / "good" / RESUME).read_bytes()[:300])
    (root / "not_a_run").mkdir()  # an empty folder is not listed at all

    found = {r.id: r for r in runs.list_runs(root)}
    assert set(found) == {"good", "truncated", "no_record", "bad_checkpoint"}
    assert found["good"].status == "done" and found["good"].steps == 6 and found["good"].has_model
    for name in ("truncated", "no_record", "bad_checkpoint"):
        assert found[name].status == "damaged" and not found[name].resumable and found[name].problem
    for name in ("truncated", "bad_checkpoint"):
        with pytest.raises(PoetryLabError, match="cannot be continued"):
            runs.prepare_resumed(root / name)
    with pytest.raises(PoetryLabError, match="has finished"):
        runs.prepare_resumed(root / "good")
    assert main(["runs", "--home", str(root)]) == 0
    assert "damaged" in capsys.readouterr().out
    assert runs.list_runs(tmp_path / "missing") == []

    corpus = tmp_path / "poems.txt"
    corpus.write_text(POEM_TEXT)
    for argv, message in ([[str(corpus), "--run-dir", str(root / "good")], "already holds a training run"],
                          [[str(corpus), "--resume", str(root / "good")], "no text files"],
                          [["--run-dir", str(tmp_path / "new")], "Give one or more text files"],
                          [["--resume", str(root / "truncated")], "cannot be continued"]):
        assert main(["train", *argv, "--steps", "2", "--hidden", "8", "--no-samples"]) == 2
        assert message in capsys.readouterr().err


@pytest.fixture
def two_visitors(tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    a, b = Session("tab-a", home=tmp_path), Session("tab-b", home=tmp_path)
    ids = a.use_visitor(None), b.use_visitor(None)
    yield a, b, ids
    a.close()
    b.close()


def test_visitors_see_only_their_runs_and_resume_through_the_lab(two_visitors, tmp_path):
    a, b, (id_a, id_b) = two_visitors
    assert id_a != id_b and a.use_visitor("../../etc") not in ("../../etc", id_a)  # a bad id gets a new one
    a.use_visitor(id_a)
    a.load_corpus(text=POEM_TEXT)
    a.start_training("quick", minutes=1, start_from="scratch",
                     advanced={"hidden": 16, "batch_size": 4, "seq_len": 16, "patience": None})
    a.job.recorder.checkpoint_every_s = 0.2
    assert _wait(lambda: a.job.recorder.last_checkpoint is not None)
    a.stop_training()
    assert a.job.join(timeout=30)
    (run,) = a.list_runs()
    assert run.status == "stopped" and run.resumable and b.list_runs() == []

    for bad in (run.id, str(run.path), f"../../{id_a}/runs/{run.id}", "..", "", None):
        with pytest.raises(PoetryLabError):
            b.resume_run(bad)
        with pytest.raises(PoetryLabError):
            b.load_run(bad)

    later = Session("a-new-page-load", home=tmp_path)  # a reload (or a restarted server): a new session, same browser id
    later.use_visitor(id_a)
    assert [r.id for r in later.list_runs()] == [run.id]
    assert "Loaded the best model" in later.load_run(run.id) and later.bundle.model.config.hidden == 16

    try:
        message = later.resume_run(run.id)
        assert f"from step {run.steps}" in message and later.job.snapshot().state == "running"
        with pytest.raises(PoetryLabError, match="still training"):
            a.resume_run(run.id)  # the same run twice: refused
        assert _wait(lambda: later.job.snapshot().step > run.steps + 2)
    finally:
        later.close()
    snap = later.job.snapshot()
    assert snap.state == "stopped" and snap.eval_points[0][0] <= run.steps  # the curve shows the run's past too
    (again,) = later.list_runs()
    assert again.steps > run.steps and read_record(run.path)["resumed"][0]["step"] == run.steps


def test_interrupted_runs_and_the_handlers(two_visitors):

    a, _, (id_a, _) = two_visitors
    a.load_corpus(text=POEM_TEXT)
    a.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 16, "batch_size": 4, "seq_len": 16})
    a.job.recorder.checkpoint_every_s = 0.2
    assert _wait(lambda: a.job.recorder.last_checkpoint is not None)
    a.stop_training()
    assert a.job.join(timeout=30)
    (run,) = a.list_runs()
    record = read_record(run.path)
    (run.path / "run.json").write_text(json.dumps({**record, "status": "running"}))  # as a killed server left it
    assert a.list_runs()[0].status == "interrupted"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gr.Warning outside an app
        visitor, table, chooser, status, _ = ui(train_tab.identify_visitor, a, visitor=id_a)
        assert visitor == id_a and list(table["run"]) == [run.id] and chooser.value == run.id
        assert table["status"][0] == "interrupted"
        assert api.api_list_runs(a)[0]["resumable"] is True
        assert "no run called" in ui(train_tab.load_run, a, chooser="../x")[0]
        status, timer = ui(train_tab.resume_run, a, chooser=run.id)
        assert "Training resumed" in status and timer.active is True
        a.stop_training()
        assert a.job.join(timeout=30)
        out = ui(train_tab.poll_training_and_runs, a, chooser=run.id)
        assert len(out) == 7 and out[3].active is False and out[5]["status"][0] == "stopped"


def _wait(cond, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False
