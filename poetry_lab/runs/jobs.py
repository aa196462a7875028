"""TrainingJob: the only module that starts threads. It runs a Trainer in the background and offers
thread-safe snapshots of its progress and of the best weights so far.

A process-wide limit (POETRY_LAB_MAX_JOBS, default 1) keeps a 2-core server responsive: a job that
finds no free slot is refused with a message instead of slowing everyone down. The run directory
(runs.record.RunRecorder) gets a resume checkpoint at least every CHECKPOINT_EVERY_S seconds, so a
killed server loses at most that much training; `live_run_dirs()` tells which runs this process runs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from poetry_lab import settings
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.core.model import CharLSTM
from poetry_lab.core.sampling import SampleConfig, sample
from poetry_lab.core.train import Progress, TrainConfig, Trainer, TrainResult
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.prepare import PreparedRun
from poetry_lab.runs.record import MODEL, RunRecorder
from poetry_lab.runs.writer import progress_message, teach_writer
from poetry_lab.settings import LN2

log = logging.getLogger(__name__)
_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None  # the process-wide job limit, made on first use
_live: dict[Path, TrainingJob] = {}  # this process's running jobs by resolved run directory (guarded by _slots_lock)


def live_run_dirs() -> set[Path]:
    """The (resolved) run directories that a job of this process is training right now."""
    with _slots_lock:
        return set(_live)


def live_job_under(folder: Path) -> TrainingJob | None:
    """The job of this process that is training a run inside `folder` (a visitor's runs), if any.

    A job outlives the session that started it (a closed tab, an idle session), so a returning visitor's
    new session takes it up again from here."""
    folder = folder.resolve()
    with _slots_lock:
        return next((job for key, job in _live.items() if key.parent == folder), None)


def _job_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.current().max_jobs)
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


def stop_message(result: TrainResult, config: TrainConfig) -> str:
    """Why a training ended and what it kept, in a poet's words (the page, the API and the CLI say this)."""
    steps = f"{result.steps:,} step{'' if result.steps == 1 else 's'}"
    if result.best_val is None:
        best = kept = ""
    else:
        best = f"best validation loss {result.best_val:.3f} nats/char ({result.best_val / LN2:.3f} bits/char)"
        kept = f" The model from step {result.best_step:,} ({best}) is kept."
    last_eval = next((h["step"] for h in reversed(result.history) if h.get("kind") == "eval"), None)
    still_improving = result.best_val is not None and last_eval == result.best_step
    reason = result.stop_reason
    if reason == "early_stop":
        return (f"Stopped early after {steps}: the model stopped improving on text it had not seen after step "
                f"{result.best_step:,} ({best}); it was starting to learn your poems by heart. "
                f"Its state at step {result.best_step:,} is kept.")
    if reason == "cancelled":
        return f"Stopped as you asked after {steps}.{kept}"
    done = {"budget": f"the {config.minutes:g}-minute budget is used up" if config.minutes else "the time is up",
            "epochs": f"all {config.epochs:g} passes over your poems are done" if config.epochs else "all passes are done",
            "steps": "all its steps are done"}.get(reason, reason)
    if still_improving:
        more = "more minutes" if reason == "budget" else "a longer training"
        return f"Finished: {done} after {steps}, and the model was still improving ({best}): {more} may help."
    return f"Finished: {done} after {steps}.{kept}"


def inference_copy(model: CharLSTM, state_dict: dict) -> CharLSTM:
    """A separate eval-mode model holding `state_dict`, safe to sample from while training goes on."""
    clone = CharLSTM(model.config, device="meta").to_empty(device=next(model.parameters()).device)
    clone.load_state_dict(state_dict)
    return clone.eval()


class TrainingJob:
    """Runs `run.trainer.fit()` in a daemon thread, keeping the run directory `out_dir` up to date.

    A Trainer restored from a resume checkpoint (runs.resume_run) continues its directory.
    """

    CHECKPOINT_EVERY_S = RunRecorder.CHECKPOINT_EVERY_S  # the whole training state reaches the disk this often
    # Samples are written at an evaluation at most this often, and 10x their cost apart: two of them cost
    # 0.1-0.7 s on 2 cores (as much as 10 steps when busy), and small corpora are checked every few seconds.
    # (The trainer keeps its own validation under a tenth of the time in the same way.)
    SAMPLES_EVERY_S = 10.0

    def __init__(self, run: PreparedRun, out_dir: str | Path, sample_temperatures: tuple[float, ...] = (0.5, 1.0),
                 sample_chars: int = 240, checkpoint_every_s: float | None = None):
        self.run, self.out_dir = run, Path(out_dir)
        self.sample_config = SampleConfig(temperatures=sample_temperatures, max_chars=sample_chars)
        self._lock = threading.Lock()
        self._snap = JobSnapshot(state="idle", message="ready to train")
        self._best: ModelBundle | None = None
        self._thread: threading.Thread | None = None
        self._last_point = 0.0
        self._next_samples = -math.inf
        self._stopping = threading.Event()  # the Stop button: ends the character training, then the writer's
        trainer = run.trainer
        self.recorder = RunRecorder(self.out_dir, run, self.CHECKPOINT_EVERY_S if checkpoint_every_s is None else checkpoint_every_s,
                                    on_model_saved=lambda path: self._update(model_path=str(path)))
        trainer.add_callback("on_step", self._on_step)
        trainer.add_callback("on_eval", self._on_eval)
        if trainer.resumed_from is not None:
            self._take_up_restored(trainer)

    def _take_up_restored(self, trainer: Trainer) -> None:
        """A continued run shows its past: the evaluations so far, and its best model to write with."""
        evals = [h for h in trainer.history if h.get("kind") == "eval"]
        s = self._snap
        s.step = trainer.step
        s.eval_points = [(h["step"], round(h["elapsed"], 2), h["train_loss"], h["val_loss"]) for h in evals]
        s.train_points = [(h["step"], round(h["elapsed"], 2), h["train_loss"]) for h in evals]
        s.val_loss, s.best_val_loss = (evals[-1]["val_loss"] if evals else None), trainer.best_val
        if (self.out_dir / MODEL).is_file():
            s.model_path = str(self.out_dir / MODEL)
        if trainer.best_state is not None:
            self._best = self._bundle_of(inference_copy(trainer.model, trainer.best_state))

    def _bundle_of(self, model: CharLSTM) -> ModelBundle:
        """The run's model as the app writes with it. Until the run's own writer is ready, its poems in form
        come from the base's writer (run.bundle.writer): blind readers rated it 2.67/5 against 1.9 for
        the fully trained character model, and a half-trained one writes worse still."""
        bundle = self.run.bundle
        return ModelBundle(model, bundle.vocab, dict(bundle.facts), writer=bundle.writer)

    # --- control -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise PoetryLabError("This training job has already been started.")
        key = self.out_dir.resolve()
        if key in live_run_dirs():
            raise PoetryLabError("This run is already training.")
        if not _job_slots().acquire(blocking=False):
            raise PoetryLabError("Another training is running on this server right now. Please try again in a few minutes.")
        with _slots_lock:
            taken = key in _live
            _live.setdefault(key, self)
        if taken:  # started meanwhile by another session (POETRY_LAB_MAX_JOBS > 1)
            _job_slots().release()
            raise PoetryLabError("This run is already training.")
        try:
            self.recorder.begin()
        except (OSError, ValueError, PoetryLabError) as e:
            self._release()
            if isinstance(e, PoetryLabError):
                raise
            raise PoetryLabError(f"Cannot write the training run to disk ({getattr(e, 'strerror', None) or e}).") from e
        resumed = self.run.trainer.resumed_from
        self._update(state="running", message="training started" if resumed is None else f"training resumed at step {resumed}")
        self._thread = threading.Thread(target=self._main, name="poetry-lab-training", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to end soon; it keeps (and saves) the best model so far. A stop during the character
        training leaves the writer as it came; during the writer's, it keeps what the writer learnt so far."""
        self._stopping.set()
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

    def _release(self) -> None:
        with _slots_lock:
            _live.pop(self.out_dir.resolve(), None)
        _job_slots().release()

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
            best = self._bundle_of(inference_copy(trainer.model, trainer.best_state))
        samples = []
        t0 = time.perf_counter()
        if t0 >= self._next_samples:  # the first evaluation's always
            samples = sample(trainer.model, bundle.vocab, "", SampleConfig(**{**self.sample_config.__dict__, "seed": p.step}))
            done = time.perf_counter()
            self._next_samples = done + max(self.SAMPLES_EVERY_S, 10 * (done - t0))
        with self._lock:
            s = self._snap
            s.val_loss, s.best_val_loss = p.val_loss, p.best_val
            s.eval_points.append((p.step, round(p.elapsed, 2), p.train_loss, p.val_loss))
            s.samples.extend((p.step, x.temperature, x.continuation) for x in samples)
            if improved:
                self._best = best

    def _main(self) -> None:
        try:
            result = self.run.trainer.fit()
            self.recorder.finish(result)
            state = "stopped" if result.stop_reason == "cancelled" else "done"
            message = stop_message(result, self.run.trainer.config)
            with self._lock:
                self._best = self._bundle_of(self.run.bundle.model)
            writer = self._teach_writer(result)
            with self._lock:
                self._best = ModelBundle(self._best.model, self._best.vocab, self._best.facts, writer=writer.writer)
                self._snap.state, self._snap.message = state, f"{message} {writer.message}".strip()
        except PoetryLabError as e:
            self._fail(str(e))
        except MemoryError:
            self._fail("Training ran out of memory. Try a smaller model or a smaller batch.")
        except Exception as e:  # a bug or a resource failure: this job ends, the app goes on
            log.exception("training job in %s failed", self.out_dir)
            self._fail(f"Training stopped because of an internal error ({type(e).__name__}: {e}).")
        finally:
            self._release()

    def _teach_writer(self, result: TrainResult):
        """The writer learns the run's text (runs.writer.teach_writer), the snapshot saying how far it got."""
        total = self.run.writer_tuning.seconds

        def on_progress(seconds: float, steps: int) -> None:
            self._update(message=progress_message(seconds, total), eta_s=max(0.0, total - seconds))

        return teach_writer(self.run, self.recorder, result, should_stop=self._stopping.is_set, on_progress=on_progress)

    def _fail(self, message: str) -> None:
        self._update(state="error", message=message)
        try:
            self.recorder.fail(message)
        except OSError:  # the disk may be what failed; the snapshot still says what happened
            log.exception("cannot record the failure of %s", self.out_dir)
