"""A run's poem writer: after the character training, a copy of the base model's word-level writer
(core.wordmodel) learns the run's own poems, and is saved beside the run's model (WRITER_FILE).

Blind readers rated the shipped writer's quatrains 2.67/5 and 2.88 after one minute on the poet's file
at FINETUNE_LR (README, benchmarks/bench_readability.py). Words the writer's vocabulary lacks are read
as <unk> (its vocabulary stays the base's: the decoder's lexicon and rhymes are keyed on it).

The CLI (cli.cmd_train) and the app's job (runs.jobs.TrainingJob) both call `teach_writer`, after the
character model is saved: whatever goes wrong here, that model is kept.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch

from poetry_lab.core.checkpoint import WriterBundle
from poetry_lab.core.wordmodel import FINETUNE_LR, fit_words, held_out_nats
from poetry_lab.errors import PoetryLabError

if TYPE_CHECKING:  # runs.prepare keeps a WriterTuning in each PreparedRun
    from poetry_lab.core.train import TrainResult
    from poetry_lab.runs.prepare import PreparedRun
    from poetry_lab.runs.record import RunRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterTuning:
    """How a run fine-tunes its writer."""

    seconds: float = 60.0  # 0: keep the base's writer as it is
    lr: float = FINETUNE_LR
    # At most this many passes over the training text. The Sonnets (21k tokens) get ~4 in a minute on one
    # core; a 9 KB poem (2k tokens) would get ~45, and was best on held-out sonnets after ~20 (4.39 nats
    # per token -> 4.35), back to 4.38 after 30 and worse than the base (4.49) after 45.
    max_passes: float = 16.0
    min_steps: int = 5  # a fine-tune stopped before this many steps keeps the base's writer
    eval_tokens: int = 4096  # the held-out nats are read on at most this many validation tokens (~4 s on one core)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and 0 <= self.seconds <= 3600):
            raise PoetryLabError(f"The poem writer's training time must be 0 to 3,600 seconds, not {self.seconds!r}.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> WriterTuning:
        known = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class WriterOutcome:
    """What teach_writer did: the writer the run's model writes with now, and a sentence for the poet."""

    writer: WriterBundle | None
    message: str = ""
    facts: dict = field(default_factory=dict)  # as recorded in run.json's "writer" (empty when nothing happened)


def unknown_share(ids: torch.Tensor) -> float:
    """The share of <unk> (id 0) among the tokens `ids`."""
    return float((ids == 0).float().mean()) if len(ids) else 0.0


def progress_message(done_s: float, total_s: float) -> str:
    return f"Teaching the poem writer your words: {done_s:.0f} of {total_s:.0f} s"


def finetune_writer(base: WriterBundle, train_text: str, val_text: str, tuning: WriterTuning, corpus: str = "",
                    should_stop: Callable[[], bool] | None = None,
                    on_progress: Callable[[float, int], None] | None = None) -> tuple[WriterBundle, dict]:
    """A copy of `base` trained on `train_text` for tuning.seconds (and at most tuning.max_passes over it),
    and its facts: the held-out nats per token on `val_text` before and after, steps, seconds, <unk> share.

    `base` is left alone. `should_stop()` returning True (or Ctrl-C) ends the training after the current
    step; `on_progress(seconds, steps)` is called at the start and after each step. Facts' "kept" is False
    when the copy is no better on `val_text`, or stopped before tuning.min_steps: the bundle returned is
    `base` then. PoetryLabError when the text is too short to train on.
    """
    if on_progress is not None:
        on_progress(0.0, 0)  # reading the held-out text first takes a few seconds
    ids = torch.as_tensor(base.encode(train_text))
    val = torch.as_tensor(base.encode(val_text))[: tuning.eval_tokens + 1]
    measured = len(val) >= 2
    before = held_out_nats(base.model, val) if measured else None
    model = copy.deepcopy(base.model)
    t0 = time.perf_counter()
    stopped, steps = False, 0

    def on_step(step: int, loss: float) -> bool:
        nonlocal stopped, steps
        steps = step
        if on_progress is not None:
            on_progress(time.perf_counter() - t0, step)
        stopped = should_stop is not None and should_stop()
        return not stopped

    try:
        steps = fit_words(model, ids, tuning.seconds, lr=tuning.lr, on_step=on_step, passes=tuning.max_passes)
    except KeyboardInterrupt:  # Ctrl-C in a terminal: like the Stop button (as Trainer.fit), the steps done are kept
        model.eval()
        stopped = True
    seconds = time.perf_counter() - t0
    after = held_out_nats(model, val) if measured and steps >= tuning.min_steps else None
    kept = steps >= tuning.min_steps and (after is None or after < before)
    facts = {"corpus": corpus, "seconds": round(seconds, 1), "steps": steps, "lr": tuning.lr,
             "train_tokens": len(ids), "unk_share": round(unknown_share(ids), 4), "val_tokens": len(val),
             "val_nats_before": _rounded(before), "val_nats_after": _rounded(after), "stopped": stopped, "kept": kept}
    if not kept:
        return base, facts
    return WriterBundle(model.eval(), base.vocab, {"base": base.facts, **facts}), facts


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def outcome_message(facts: dict) -> str:
    """What the writer's fine-tune did, in a poet's words (the page, the API and the CLI say this)."""
    if facts.get("error"):
        return f"Your model is saved, but the poem writer could not learn your words ({facts['error']}); it writes as before."
    if facts.get("skipped"):
        return f"The poem writer was not taught your words: {facts['skipped']}."
    took = f"{facts['seconds']:.0f} s ({facts['steps']:,} steps)"
    if facts.get("kept"):
        change = "" if facts.get("val_nats_after") is None else \
            f": {facts['val_nats_before']:.2f} -> {facts['val_nats_after']:.2f} nats per word on poems it had not seen"
        how = "stopped as you asked after" if facts.get("stopped") else "learnt your words for"
        return f"The poem writer {how} {took}{change}."
    if facts.get("stopped"):
        return f"The poem writer was stopped as you asked after {took}, too soon to learn your words; it writes as before."
    return f"The poem writer did not get better at poems it had not seen in {took}; it writes as before."


def teach_writer(run: PreparedRun, recorder: RunRecorder, result: TrainResult,
                 should_stop: Callable[[], bool] | None = None,
                 on_progress: Callable[[float, int], None] | None = None) -> WriterOutcome:
    """The run's writer once its character model is saved: run.bundle.writer fine-tuned on the run's text
    (run.writer_tuning), saved beside the model and its facts recorded in run.json; never raises.

    Nothing happens when the run has no writer (trained from scratch), or when a resumed run's writer
    was fine-tuned already. The base's writer is kept when the poet stopped the training, the tuning
    asks for 0 seconds, or the fine-tune fails, stops too soon or does not help.
    """
    base = run.bundle.writer
    if base is None:
        return WriterOutcome(None)
    done = recorder.record.get("writer") or {}
    if done.get("kept"):
        return WriterOutcome(base, outcome_message(done), done)
    skipped = ("you stopped the training" if result.stop_reason == "cancelled"
               else "its training time is 0 seconds" if run.writer_tuning.seconds <= 0 else None)
    if skipped:
        return _recorded(recorder, base, {"skipped": skipped, "kept": False})
    try:
        writer, facts = finetune_writer(base, run.train_text, run.val_text, run.writer_tuning, run.corpus.name,
                                        should_stop, on_progress)
        if facts["kept"]:
            recorder.save_writer(writer)
    except PoetryLabError as e:
        return _recorded(recorder, base, {"error": str(e), "kept": False})
    except Exception as e:  # a bug or a full disk: the character model is saved, the run goes on without
        log.exception("the writer's fine-tune in %s failed", recorder.out_dir)
        return _recorded(recorder, base, {"error": f"{type(e).__name__}: {e}", "kept": False})
    return _recorded(recorder, writer, facts)


def _recorded(recorder: RunRecorder, writer: WriterBundle, facts: dict) -> WriterOutcome:
    try:
        recorder.record_writer(facts)
    except OSError:  # the disk may be what failed; the outcome still says what happened
        log.exception("cannot record the writer of %s", recorder.out_dir)
    return WriterOutcome(writer, outcome_message(facts), facts)
