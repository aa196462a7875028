"""TrainingJob: the only module that starts threads. It runs a Trainer in the background and offers
thread-safe snapshots of its progress and of the best weights so far.

A process-wide limit (POETRY_LAB_MAX_JOBS, default 1) keeps a 2-core server responsive: a job that
finds no free slot is refused with a message instead of slowing everyone down.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from poetry_lab.checkpoint import ModelBundle, atomic_write_text, save_model
from poetry_lab.errors import PoetryLabError
from poetry_lab.model import CharLSTM
from poetry_lab.sampling import SampleConfig, sample
from poetry_lab.train import Progress, Trainer
from poetry_lab.training_run import PreparedRun, training_facts

_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None  # the process-wide job limit, made on first use


def _job_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(max(1, int(os.environ.get("POETRY_LAB_MAX_JOBS", "1"))))
        return _slots


@dataclass
class JobSnapshot:
    """A consistent copy of a job's progress; losses in nats per character."""

    state: str = "idle"  # idle, running, done, stopped, error
    message: str = ""
    step: int = 0
    epoch: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    chars_per_s: float = 0.0
    train_points: list[tuple[int, float, float]] = field(default_factory=list)  # (step, elapsed, loss)
    eval_points: list[tuple[int, float, float, float]] = field(default_factory=list)  # (step, elapsed, train, val)
    samples: list[tuple[int, float, str]] = field(default_factory=list)  # (step, temperature, text)
    model_path: str | None = None


def inference_copy(model: CharLSTM, state_dict: dict) -> CharLSTM:
    """A separate eval-mode model holding `state_dict`, safe to sample from while training goes on."""
    with torch.device("meta"):
        clone = CharLSTM(model.config)
    clone = clone.to_empty(device=next(model.parameters()).device)
    clone.load_state_dict(state_dict)
    return clone.eval()


class TrainingJob:
    """Runs `run.trainer.fit()` in a daemon thread; writes the best model to `out_dir`."""

    CHECKPOINT_EVERY_S = 30.0  # an improved model reaches the disk at least this often

    def __init__(self, run: PreparedRun, out_dir: str | Path, sample_temperatures: tuple[float, ...] = (0.5, 1.0), sample_chars: int = 240):
        self.run, self.out_dir = run, Path(out_dir)
        self.sample_config = SampleConfig(temperatures=sample_temperatures, max_chars=sample_chars)
        self._lock = threading.Lock()
        self._snap = JobSnapshot(state="idle", message="ready to train")
        self._best: ModelBundle | None = None
        self._thread: threading.Thread | None = None
        self._last_point = 0.0
        self._last_save = 0.0
        trainer = run.trainer
        trainer.add_callback("on_step", self._on_step)
        trainer.add_callback("on_eval", self._on_eval)

    # --- control -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise PoetryLabError("This training job has already been started.")
        if not _job_slots().acquire(blocking=False):
            raise PoetryLabError("Another training is running on this server right now. Please try again in a few minutes.")
        try:
            self._write_run_record()
        except OSError as e:
            _job_slots().release()
            raise PoetryLabError(f"Cannot write the training run to disk ({e.strerror}).") from e
        self._update(state="running", message="training started")
        self._thread = threading.Thread(target=self._main, name="poetry-lab-training", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to end soon; it keeps (and saves) the best model so far."""
        self.run.trainer.stop()
        if self.running:
            self._update(message="stopping after the current step...")

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- observing ---------------------------------------------------------------------------
    def snapshot(self) -> JobSnapshot:
        with self._lock:
            s = self._snap
            return JobSnapshot(**{**s.__dict__, "train_points": list(s.train_points), "eval_points": list(s.eval_points), "samples": list(s.samples)})

    def best_bundle(self) -> ModelBundle | None:
        """The best weights so far as a separate model (None before the first evaluation)."""
        with self._lock:
            return self._best

    def _write_run_record(self) -> None:
        """The run directory keeps what is needed to understand or redo the run: config and corpus."""
        run = self.run
        record = {
            "corpus": run.corpus.name,
            "model_config": run.bundle.model.config.to_dict(),
            "train_config": run.trainer.config.to_dict(),
            "base_model": run.bundle.facts.get("base_model"),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out_dir / "run.json", json.dumps(record, indent=1, ensure_ascii=False))
        atomic_write_text(self.out_dir / "corpus.txt", run.corpus.text)
        atomic_write_text(self.out_dir / "metrics.csv", "step,epoch,elapsed_s,train_loss,val_loss\n")

    # --- inside the thread -------------------------------------------------------------------
    def _update(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._snap, k, v)

    def _on_step(self, trainer: Trainer, p: Progress) -> None:
        now = time.perf_counter()
        with self._lock:
            s = self._snap
            s.step, s.epoch, s.elapsed_s, s.eta_s, s.train_loss, s.chars_per_s = p.step, p.epoch, p.elapsed, p.eta_s, p.train_loss, p.chars_per_s
            if now - self._last_point >= 0.25:  # enough points for a live curve, not one per step
                s.train_points.append((p.step, round(p.elapsed, 2), p.train_loss))
                self._last_point = now

    def _on_eval(self, trainer: Trainer, p: Progress) -> None:
        bundle = self.run.bundle
        improved = trainer.best_step == p.step and trainer.best_state is not None
        if improved:
            best = ModelBundle(inference_copy(trainer.model, trainer.best_state), bundle.vocab, dict(bundle.facts))
        samples = sample(trainer.model, bundle.vocab, "", SampleConfig(**{**self.sample_config.__dict__, "seed": p.step}))
        trainer.model.train()
        with self._lock:
            s = self._snap
            s.val_loss, s.best_val_loss = p.val_loss, p.best_val
            s.eval_points.append((p.step, round(p.elapsed, 2), p.train_loss, p.val_loss))
            s.samples.extend((p.step, x.temperature, x.continuation) for x in samples)
            if improved:
                self._best = best
        with open(self.out_dir / "metrics.csv", "a", encoding="utf-8") as fh:  # appended rows: a crash loses at most one
            fh.write(f"{p.step},{p.epoch:.4f},{p.elapsed:.2f},{p.train_loss:.5f},{p.val_loss:.5f}\n")
        if improved and time.perf_counter() - self._last_save >= self.CHECKPOINT_EVERY_S:
            self._save({**self.run.bundle.facts, "partial": True}, trainer.best_state)

    def _save(self, facts: dict, state_dict: dict | None = None) -> Path:
        """Write the run's model file: `state_dict` (the best so far) or, at the end, the model itself."""
        bundle = ModelBundle(self.run.bundle.model, self.run.bundle.vocab, facts)
        path = save_model(self.out_dir / "model.safetensors", bundle, state_dict=state_dict)
        self._last_save = time.perf_counter()
        self._update(model_path=str(path))
        return path

    def _main(self) -> None:
        try:
            result = self.run.trainer.fit()
            self.run.bundle.facts = training_facts(self.run, result)
            self._save(self.run.bundle.facts)
            best = "" if result.best_val is None else f": best validation loss {result.best_val:.3f} nats/char ({result.best_val / math.log(2):.3f} bits/char)"
            state = "stopped" if result.stop_reason == "cancelled" else "done"
            why = {"budget": "time is up", "epochs": "all epochs done", "early_stop": "validation stopped improving",
                   "cancelled": "stopped", "steps": "all steps done"}.get(result.stop_reason, result.stop_reason)
            with self._lock:
                self._best = ModelBundle(self.run.bundle.model, self.run.bundle.vocab, self.run.bundle.facts)
                self._snap.state, self._snap.message = state, f"Finished ({why}) after {result.steps} steps{best}."
        except PoetryLabError as e:
            self._update(state="error", message=str(e))
        except MemoryError:
            self._update(state="error", message="Training ran out of memory. Try a smaller model or a smaller batch.")
        except Exception as e:  # a bug or a resource failure: this job ends, the app goes on
            self._update(state="error", message=f"Training stopped because of an internal error ({type(e).__name__}: {e}).")
        finally:
            _job_slots().release()
