"""The Lab's runs: the training runs a visitor kept on disk, listed, loaded and resumed.

A Lab's runs live under its `home`. The app keys a browser visitor's home on a random id that the
browser keeps (so the runs outlive page loads and server restarts); API clients keep their session's.
Run ids from users are only ever looked up in the listing, never joined into a path.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs import listing as runs
from poetry_lab.runs.record import CORPUS

if TYPE_CHECKING:
    from poetry_lab.core.checkpoint import ModelBundle
    from poetry_lab.runs.jobs import TrainingJob

VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{22,64}")  # unguessable: 32 random bytes, url-safe


def new_visitor_id() -> str:
    return secrets.token_urlsafe(32)


class RunsMixin:
    """Lab methods for runs; uses the Lab's `root`, `home`, `job`, `_bundle` and `_reference`."""

    root: Path
    home: Path
    job: TrainingJob | None
    _bundle: ModelBundle | None
    _reference: CorpusIndex | None

    def use_visitor(self, visitor_id: str | None) -> str:
        """Keep this session's runs under the visitor's own folder; a missing or malformed id gets a new one.

        Returns the id to keep in the browser. A session that is training keeps its folder until it ends.
        """
        if not (isinstance(visitor_id, str) and VISITOR_ID.fullmatch(visitor_id)):
            visitor_id = new_visitor_id()
        if self.job is None or not self.job.running:
            self.home = self.root / "visitors" / visitor_id
        return visitor_id

    def list_runs(self) -> list[runs.RunInfo]:
        """This session's runs, newest first (damaged ones included, marked as such)."""
        return runs.list_runs(self.home / "runs")

    def _run(self, run_id: str | None) -> runs.RunInfo:
        """A run of this session by its id; anything that is not one of them (a path, another's id) is refused."""
        found = next((r for r in self.list_runs() if r.id == run_id), None) if isinstance(run_id, str) else None
        if found is None:
            raise PoetryLabError("Choose one of your runs from the list first." if not run_id
                                 else f"There is no run called '{run_id}' among your runs.")
        return found

    def _own_job_running(self) -> None:
        if self.job is not None and self.job.running:
            raise PoetryLabError("A training is running. Stop it first, or wait until it finishes.")

    def load_run(self, run_id: str) -> str:
        """Make the run's best model the loaded model."""
        info = self._run(run_id)
        self._own_job_running()
        bundle = runs.load_run_model(info.path)
        self.job = None  # a finished job's model would otherwise keep answering instead
        self._bundle = bundle
        try:
            self._reference = CorpusIndex((info.path / CORPUS).read_text(encoding="utf-8"))
        except OSError:
            self._reference = None
        loss = "" if info.best_val_loss is None else f" (validation loss {info.best_val_loss:.3f} nats/char)"
        return f"Loaded the best model of run {info.id}{loss}."

    def resume_run(self, run_id: str) -> str:
        """Continue an interrupted or stopped run as this session's training job."""
        info = self._run(run_id)
        self._own_job_running()
        if not info.resumable:
            why = {"running": "it is still training", "done": "it has finished: load its model instead",
                   "damaged": "its files are damaged"}.get(info.status, info.problem or "it has no checkpoint")
            raise PoetryLabError(f"The run {info.id} cannot be resumed: {why}.")
        job = runs.resume_run(info.path)
        job.start()
        self.job, self._reference = job, CorpusIndex(job.run.corpus.text)
        left = "" if info.minutes_left is None else f", {info.minutes_left:g} min of its budget left"
        return f"Training resumed: run {info.id} goes on from step {info.steps}{left}."
