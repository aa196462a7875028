"""A run directory on disk, kept up to date while a Trainer runs, so that a killed process loses little.

    run.json            what was trained (configs, corpus name, split) and its status:
                        running, done, stopped or error (a "running" run nobody runs was interrupted)
    corpus.txt          the normalised training text, then the validation text (cut at run.json's split_at)
    metrics.csv         one row per evaluation, appended
    model.safetensors   the best model so far (checkpoint.save_model)
    writer.safetensors  its writer of poems in form (checkpoint.WRITER_FILE), when the run started from a
                        model with one: the base's copy, replaced by one that learnt the run's text
                        after the training (runs.writer; run.json's "writer" says how that went)
    resume.safetensors  the whole training state (Trainer.training_state()) at least every
                        `checkpoint_every_s` seconds and at the end: weights, Adam moments, best
                        weights, hidden state and generator states as tensors; vocabulary, configs
                        and scalars as JSON metadata. No pickle anywhere.

Every file is replaced atomically (temp file + rename), so a reader sees the old or the new one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from poetry_lab.core.checkpoint import WRITER_FILE, ModelBundle, WriterBundle, save_model, save_writer
from poetry_lab.core.train import Progress, TrainConfig, Trainer, TrainingState, TrainResult
from poetry_lab.errors import PoetryLabError
from poetry_lab.files import atomic_write, atomic_write_text
from poetry_lab.runs.prepare import PreparedRun, facts_record, now_iso, training_facts

RUN_RECORD, CORPUS, METRICS, MODEL, RESUME = "run.json", "corpus.txt", "metrics.csv", "model.safetensors", "resume.safetensors"
RESUME_FORMAT = "poetry_lab.resume/1"
METRICS_HEADER = "step,epoch,elapsed_s,lr,train_loss,val_loss,train_bpc,val_bpc\n"  # losses in nats/char, bpc in bits


def save_resume(path: Path, state: TrainingState, bundle: ModelBundle, train_config: TrainConfig) -> Path:
    """The training state plus what rebuilding the run needs (vocabulary, configs, facts so far)."""
    metadata = {"format": RESUME_FORMAT, "state": json.dumps(state.meta, ensure_ascii=False),
                "config": json.dumps(bundle.model.config.to_dict()), "train_config": json.dumps(train_config.to_dict()),
                "vocab": json.dumps(bundle.vocab.to_list(), ensure_ascii=False),
                "facts": json.dumps(bundle.facts, ensure_ascii=False, default=str), "saved": now_iso()}
    atomic_write(path, lambda tmp: save_file(state.tensors, tmp, metadata=metadata))
    return path


def read_resume_header(path: Path) -> dict:
    """The resume file's metadata with its JSON fields decoded; no tensor is read."""
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if meta.get("format") != RESUME_FORMAT:
        raise ValueError("not a Poetry Lab resume file")
    return {k: json.loads(v) if k in ("state", "config", "train_config", "vocab", "facts") else v for k, v in meta.items()}


def load_resume(path: Path) -> tuple[dict, TrainingState]:
    header = read_resume_header(path)
    return header, TrainingState(load_file(str(path), device="cpu"), header["state"])


class RunRecorder:
    """Writes a PreparedRun's directory from its Trainer's callbacks; TrainingJob and the CLI share it.

    Call begin() before fit() (a restored Trainer continues the directory: metrics rows of the steps it
    will redo are dropped, the others kept), then finish(result) or fail(message).
    """

    CHECKPOINT_EVERY_S = 30.0  # the whole training state reaches the disk at least this often
    MODEL_EVERY_S = 1.0  # each improved model reaches the disk (at most once a second, for runs that evaluate constantly)

    def __init__(self, out_dir: str | Path, run: PreparedRun, checkpoint_every_s: float | None = None,
                 on_model_saved: Callable[[Path], None] | None = None,
                 on_checkpoint: Callable[[int, float], None] | None = None):
        self.out_dir, self.run = Path(out_dir), run
        self.checkpoint_every_s = float(self.CHECKPOINT_EVERY_S if checkpoint_every_s is None else checkpoint_every_s)
        self.on_model_saved, self.on_checkpoint = on_model_saved, on_checkpoint
        self.record: dict = {}
        self.last_checkpoint: tuple[int, float] | None = None  # (step, seconds it took to write)
        self._last_model_save = 0.0
        self._last_checkpoint = time.perf_counter()
        self._saved_best_step: int | None = None
        run.trainer.add_callback("on_eval", self._on_eval)
        run.trainer.add_callback("on_step_end", self._on_step_end)

    # --- the record --------------------------------------------------------------------------
    def begin(self) -> None:
        run, out = self.run, self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        resumed = run.trainer.resumed_from
        if resumed is None:
            if (out / RUN_RECORD).exists():  # its checkpoint would not belong to this run
                raise PoetryLabError(f"'{out}' already holds a training run: continue it (resume), or choose another folder.")
            self.record = {"corpus": run.corpus.name, "model_config": run.bundle.model.config.to_dict(),
                           "train_config": run.trainer.config.to_dict(), "base_model": run.bundle.facts.get("base_model"),
                           "split_at": len(run.train_text), "started": now_iso()}
            atomic_write_text(out / CORPUS, run.train_text + run.val_text)  # what trained, then what validated
            atomic_write_text(out / METRICS, METRICS_HEADER)
            if run.bundle.writer is not None:
                # The base's writer from the start: the run's model writes in words whenever it is loaded (even
                # interrupted), and a resumed run finds the writer it is to fine-tune (~17 MB for the shipped one).
                self.save_writer(run.bundle.writer)
        else:
            for tmp in out.glob(".*.tmp"):  # a write that a killed process left half done
                tmp.unlink(missing_ok=True)
            self.record = json.loads((out / RUN_RECORD).read_text(encoding="utf-8"))
            self.record["train_config"] = run.trainer.config.to_dict()  # limits may have been changed
            self.record.setdefault("resumed", []).append({"at": now_iso(), "step": resumed})
            self._trim_metrics(resumed)
            self._saved_best_step = run.trainer.best_step
        if run.bundle.writer is not None:
            self.record["writer_tuning"] = run.writer_tuning.to_dict()  # a resumed run's may have been changed
        for key in ("finished", "stop_reason", "message"):
            self.record.pop(key, None)
        self._write_record(status="running", pid=os.getpid(), host=socket.gethostname(), checkpoint_every_s=self.checkpoint_every_s)
        self._last_checkpoint = time.perf_counter()

    def _write_record(self, **changes) -> None:
        self.record.update(changes)
        atomic_write_text(self.out_dir / RUN_RECORD, json.dumps(self.record, indent=1, ensure_ascii=False))

    def _trim_metrics(self, step: int) -> None:
        """Keep the rows up to `step`: later ones belong to steps that will be trained again."""
        path = self.out_dir / METRICS
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
        kept = [ln for ln in lines[1:] if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) <= step]
        atomic_write_text(path, METRICS_HEADER + "".join(kept))

    def finish(self, result: TrainResult) -> Path:
        """The final model (with its training facts) and the run's final status; returns the model's path."""
        self.run.bundle.facts = training_facts(self.run, result)
        path = self._save_model(self.run.bundle.facts)
        self._write_record(status="stopped" if result.stop_reason == "cancelled" else "done", finished=now_iso(),
                           steps=result.steps, best_val_loss=result.best_val, stop_reason=result.stop_reason)
        return path

    def fail(self, message: str) -> None:
        self._write_record(status="error", finished=now_iso(), message=message)

    def save_writer(self, writer: WriterBundle) -> Path:
        return save_writer(self.out_dir / WRITER_FILE, writer)

    def record_writer(self, facts: dict) -> None:
        """run.json's "writer": what the writer's fine-tune did (runs.writer.finetune_writer's facts)."""
        self._write_record(writer={**facts, "date": now_iso()})

    # --- inside the training loop ------------------------------------------------------------
    def _on_eval(self, trainer: Trainer, p: Progress) -> None:
        with open(self.out_dir / METRICS, "a", encoding="utf-8") as fh:  # appended rows: a crash loses at most one
            fh.write(f"{p.step},{p.epoch:.4f},{p.elapsed:.2f},{p.lr:.3e},{p.train_loss:.5f},{p.val_loss:.5f},"
                     f"{Progress.bits(p.train_loss):.5f},{Progress.bits(p.val_loss):.5f}\n")
        improved = trainer.best_step == p.step and trainer.best_state is not None
        if improved and time.perf_counter() - self._last_model_save >= self.MODEL_EVERY_S:
            self._save_best(trainer)

    def _on_step_end(self, trainer: Trainer, p: Progress) -> None:
        if trainer.stop_reason is None and time.perf_counter() - self._last_checkpoint < self.checkpoint_every_s:
            return
        t0 = time.perf_counter()
        save_resume(self.out_dir / RESUME, trainer.training_state(), self.run.bundle, trainer.config)
        if trainer.best_state is not None and trainer.best_step != self._saved_best_step:
            self._save_best(trainer)  # model.safetensors is never older than the resume file's best weights
        self._last_checkpoint = time.perf_counter()
        self.last_checkpoint = (p.step, self._last_checkpoint - t0)
        if self.on_checkpoint is not None:
            self.on_checkpoint(*self.last_checkpoint)

    def _save_best(self, trainer: Trainer) -> None:
        facts = facts_record(self.run.bundle.facts, corpus=self.run.corpus.name, best_step=trainer.best_step,
                             best_val_loss=trainer.best_val, partial=True)
        self._save_model(facts, trainer.best_state)
        self._saved_best_step = trainer.best_step

    def _save_model(self, facts: dict, state_dict: dict | None = None) -> Path:
        bundle = ModelBundle(self.run.bundle.model, self.run.bundle.vocab, facts)
        path = save_model(self.out_dir / MODEL, bundle, state_dict=state_dict)
        self._last_model_save = time.perf_counter()
        if self.on_model_saved is not None:
            self.on_model_saved(path)
        return path


def read_record(run_dir: Path) -> dict:
    """run.json as a dict; PoetryLabError if it is missing or damaged."""
    try:
        record = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PoetryLabError(f"The run '{run_dir.name}' is damaged: its record cannot be read.") from e
    if not isinstance(record, dict):
        raise PoetryLabError(f"The run '{run_dir.name}' is damaged: its record cannot be read.")
    return record


__all__ = ["CORPUS", "METRICS", "MODEL", "RESUME", "RUN_RECORD", "RunRecorder", "load_resume", "read_record", "read_resume_header", "save_resume"]
