"""The runs kept on disk: list them, load a run's best model, and continue an unfinished run.

A run directory (see runs.record) survives the process that wrote it. A run whose record still says
"running" but that no process is training any more (this one, or a live one on this machine that
checkpointed recently) was interrupted: killed, or the server restarted. It can be resumed from its
last resume checkpoint, losing only the steps trained since.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError

from poetry_lab.core.checkpoint import WRITER_FILE, ModelBundle, WriterBundle, load_model, load_writer
from poetry_lab.core.model import CharLSTM, ModelConfig, pick_device
from poetry_lab.core.train import TrainConfig, Trainer
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.jobs import TrainingJob, live_run_dirs
from poetry_lab.runs.prepare import PreparedRun
from poetry_lab.runs.record import (
    CORPUS,
    METRICS,
    MODEL,
    RESUME,
    RUN_RECORD,
    load_resume,
    read_record,
    read_resume_header,
)
from poetry_lab.runs.writer import WriterTuning

log = logging.getLogger(__name__)
STALE_AFTER_S = 180.0  # a "running" run whose files have not changed for this long (or 3 checkpoints) is not running
RESUMABLE = ("interrupted", "stopped", "error")
LIMIT_KEYS = ("minutes", "epochs", "max_steps")  # the settings a resumed run may change
RUN_FILES = (RUN_RECORD, CORPUS, METRICS, MODEL, RESUME)  # a folder with none of them is not a run
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, SafetensorError, PoetryLabError)


@dataclass
class RunInfo:
    """One run as the listing shows it. `steps` and `best_val_loss` are those of the last resume checkpoint."""

    id: str
    path: Path
    status: str = "damaged"  # running, interrupted, stopped, done, error or damaged
    corpus: str = ""
    started: str = ""
    steps: int | None = None
    best_val_loss: float | None = None  # nats per character
    minutes_left: float | None = None
    has_model: bool = False
    has_checkpoint: bool = False
    problem: str = ""  # why it cannot be loaded or resumed, in plain words

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE and self.has_checkpoint

    def to_json(self) -> dict:
        keys = ("id", "status", "corpus", "started", "steps", "best_val_loss", "minutes_left", "has_model", "problem")
        out = {k: getattr(self, k) for k in keys}
        out["resumable"] = self.resumable
        return out


def _running_elsewhere(record: dict, run_dir: Path) -> bool:
    """Another live process on this machine trains this run, and has written to it lately."""
    pid = record.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    if record.get("host") == socket.gethostname() and os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return False
        except PermissionError:  # it exists, owned by someone else
            pass
    every = record.get("checkpoint_every_s")
    stale = max(STALE_AFTER_S, 3 * every) if isinstance(every, (int, float)) else STALE_AFTER_S
    files = [run_dir / RUN_RECORD, run_dir / RESUME]
    newest = max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)
    return time.time() - newest < stale


def run_info(run_dir: Path, live: set[Path] | None = None) -> RunInfo:
    """What a run directory holds; a damaged one is reported as such, never raised."""
    info = RunInfo(id=run_dir.name, path=run_dir)
    try:
        record = read_record(run_dir)
        info.corpus, info.started = str(record.get("corpus", "")), str(record.get("started", ""))
        info.has_model = (run_dir / MODEL).is_file()
        status = str(record.get("status") or ("done" if info.has_model else "damaged"))  # older runs had no status
        if status == "running":
            mine = run_dir.resolve() in (live_run_dirs() if live is None else live)
            status = "running" if mine or _running_elsewhere(record, run_dir) else "interrupted"
        info.status = status
        info.best_val_loss = record.get("best_val_loss")
        if (run_dir / RESUME).is_file():
            state = read_resume_header(run_dir / RESUME)["state"]
            info.steps, info.best_val_loss = int(state["step"]), state.get("best_val")
            minutes = (record.get("train_config") or {}).get("minutes")
            if isinstance(minutes, (int, float)):
                info.minutes_left = round(max(0.0, minutes - float(state["elapsed"]) / 60), 2)
            info.has_checkpoint = (run_dir / CORPUS).is_file()
        if not info.has_checkpoint and status in RESUMABLE:
            info.problem = "it stopped before its first checkpoint: there is nothing to continue"
    except _READ_ERRORS as e:
        info.status, info.problem = "damaged", "its files are incomplete or damaged"
        log.info("run %s is damaged: %s", run_dir, e)
    if isinstance(info.best_val_loss, float) and not math.isfinite(info.best_val_loss):
        info.best_val_loss = None
    return info


def list_runs(root: str | Path) -> list[RunInfo]:
    """The runs under `root` (a folder of run directories), newest first; [] if there is none."""
    root = Path(root)
    try:
        dirs = [d for d in root.iterdir() if d.is_dir() and any((d / f).exists() for f in RUN_FILES)]
    except OSError:
        return []
    live = live_run_dirs()
    runs = [run_info(d, live) for d in dirs]
    return sorted(runs, key=lambda r: (r.started, r.id), reverse=True)


def load_run_model(run_dir: str | Path) -> ModelBundle:
    """The run's best model so far (on the CPU)."""
    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise PoetryLabError(f"The run '{Path(run_dir).name}' has no saved model yet: it stopped before its first evaluation.")
    return load_model(path, device="cpu")


def prepare_resumed(run_dir: str | Path, limits: dict | None = None) -> PreparedRun:
    """The run rebuilt from its directory (same text, split, vocabulary and configs), its Trainer restored
    to the last checkpoint. `limits` may change minutes, epochs or max_steps (counted from the run's start)."""
    run_dir = Path(run_dir)
    info = run_info(run_dir)
    limits = {k: v for k, v in (limits or {}).items() if k in LIMIT_KEYS}
    if info.status == "running":
        raise PoetryLabError(f"The run '{info.id}' is still training.")
    if info.status == "done" and not limits:
        raise PoetryLabError(f"The run '{info.id}' has finished: load its model, or give it more time or steps.")
    if not info.has_checkpoint:
        raise PoetryLabError(f"The run '{info.id}' cannot be continued: {info.problem or 'it has no checkpoint'}.")
    try:
        record = read_record(run_dir)
        header, state = load_resume(run_dir / RESUME)
        text = (run_dir / CORPUS).read_text(encoding="utf-8")
        cut = int(record["split_at"])
        vocab = Vocab.from_list(header["vocab"])
        config = ModelConfig(**header["config"])
        tc = TrainConfig(**{**header["train_config"], **limits})
        model = CharLSTM(config, device="meta").to_empty(device=pick_device())  # weights come from the checkpoint
        train_text, val_text = text[:cut], text[cut:]
        trainer = Trainer(model, vocab.encode(train_text), vocab.encode(val_text), tc)
        trainer.restore(state)
        tuning = WriterTuning.from_dict(record.get("writer_tuning"))
    except PoetryLabError:
        raise
    except (*_READ_ERRORS, RuntimeError) as e:
        raise PoetryLabError(f"The run '{info.id}' cannot be continued: its files are damaged ({type(e).__name__}).") from e
    bundle = ModelBundle(model=model, vocab=vocab, facts=dict(header.get("facts") or {}), writer=_run_writer(run_dir))
    corpus = Corpus(text, name=info.corpus or "run corpus")
    return PreparedRun(bundle=bundle, trainer=trainer, corpus=corpus, train_text=train_text, val_text=val_text,
                       writer_tuning=tuning)


def _run_writer(run_dir: Path) -> WriterBundle | None:
    """The run's writer (its base's copy, or the one fine-tuned already: runs.writer tells them apart by
    run.json); a damaged one is left out, and the resumed run goes on without."""
    path = run_dir / WRITER_FILE
    try:
        return load_writer(path) if path.is_file() else None
    except PoetryLabError as e:
        log.warning("the writer of run %s cannot be read (%s); the run goes on without", run_dir, e)
        return None


def resume_run(run_dir: str | Path, checkpoint_every_s: float | None = None, limits: dict | None = None) -> TrainingJob:
    """A TrainingJob (not started yet) that continues the run in its own directory."""
    return TrainingJob(prepare_resumed(run_dir, limits), run_dir, checkpoint_every_s=checkpoint_every_s)


def lost_steps(run_dir: str | Path, resumed_from: int) -> int:
    """How many evaluated steps after the checkpoint the interruption lost (from metrics.csv, before trimming)."""
    try:
        rows = (Path(run_dir) / METRICS).read_text(encoding="utf-8").splitlines()[1:]
        steps = [int(r.split(",", 1)[0]) for r in rows if r.split(",", 1)[0].isdigit()]
    except OSError:
        return 0
    return max([s - resumed_from for s in steps if s > resumed_from], default=0)


def find_runs(home: str | Path) -> list[RunInfo]:
    """Every run under a Poetry Lab home: run directories in it, and the app's sessions' and visitors' runs."""
    home = Path(home)
    roots = [home, *sorted(home.glob("sessions/*/runs")), *sorted(home.glob("visitors/*/runs"))]
    found = [r for root in roots for r in list_runs(root)]
    return sorted(found, key=lambda r: (r.started, r.id), reverse=True)
