"""A session's training: the job running in the background, and the runs it keeps on disk.

Runs live under the slot's `home`. The app keys a browser visitor's home on a random id that the
browser keeps (so the runs outlive page loads and server restarts); API clients keep their session's.
Run ids from users are only ever looked up in the listing, never joined into a path.
"""

from __future__ import annotations

import re
import secrets
import uuid
import weakref
from pathlib import Path

from poetry_lab.analysis.metrics import CorpusIndex, copy_index
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs import listing
from poetry_lab.runs.jobs import JobSnapshot, TrainingJob, live_job_under
from poetry_lab.runs.prepare import PreparedRun
from poetry_lab.runs.record import CORPUS

VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{22,64}")  # unguessable: 32 random bytes, url-safe


def new_visitor_id() -> str:
    return secrets.token_urlsafe(32)


class TrainingSlot:
    def __init__(self, root: Path, session: str):
        self.root = root  # runs: root/sessions/<session>/runs, or root/visitors/<id>/runs (use_visitor)
        self.home = root / "sessions" / re.sub(r"[^A-Za-z0-9_-]", "_", session)
        self.job: TrainingJob | None = None
        self.reference: CorpusIndex | None = None  # the copy index of the job's training text
        # The finished job whose model the session took up, by weak reference: holding the job itself would
        # keep its model and optimiser alive after the next one starts (tests/test_reliability.py).
        self._adopted: weakref.ref[TrainingJob] | None = None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def refuse_if_running(self, what: str = "") -> None:
        if self.running:
            raise PoetryLabError(what or "A training is running. Stop it first, or wait until it finishes.")

    def start(self, run: PreparedRun) -> TrainingJob:
        self.refuse_if_running("A training is already running. Stop it first, or wait until it finishes.")
        job = TrainingJob(run, self.home / "runs" / uuid.uuid4().hex[:8])
        job.start()
        self.job, self.reference = job, copy_index(run.corpus.text)
        return job

    def status(self) -> JobSnapshot:
        return self.job.snapshot() if self.job is not None else JobSnapshot(state="idle", message="No training yet.")

    def stop(self) -> str:
        if not self.running:
            return "No training is running."
        self.job.stop()
        return "Stopping: the best model so far is kept."

    def live_model(self) -> ModelBundle | None:
        """The running job's best model so far (None before its first evaluation, or when none runs)."""
        return self.job.best_bundle() if self.running else None

    def unadopted_model(self) -> ModelBundle | None:
        """A finished job's best model that the session has not taken up yet (a pure read; see take_finished)."""
        job = self.job
        if job is not None and not job.running and not self._was_adopted(job):
            return job.best_bundle()
        return None

    def take_finished(self) -> ModelBundle | None:
        """A finished job's best model, once: the session adopts it, and a model loaded later replaces it."""
        job = self.job
        if job is None or job.running or self._was_adopted(job):
            return None
        self._adopted = weakref.ref(job)
        return job.best_bundle()

    def _was_adopted(self, job: TrainingJob) -> bool:
        return self._adopted is not None and self._adopted() is job

    def close(self) -> None:
        """Stop the job; its run directory (config, metrics, model) is kept. (A visitor who leaves does
        not stop it: SessionRegistry forgets the session and the job runs on, see use_visitor.)"""
        if self.job is not None:
            self.job.stop()
            self.job.join(timeout=10)

    # --- runs kept on disk ---------------------------------------------------------------------
    def use_visitor(self, visitor_id: str | None) -> str:
        """Keep the runs under the visitor's own folder; a missing or malformed id gets a new one.

        Returns the id to keep in the browser. A session that is training keeps its folder until it ends.
        A training this visitor started in an earlier session (a tab closed, a phone that slept) and that
        is still running becomes this session's job again, live plot and all.
        """
        if not (isinstance(visitor_id, str) and VISITOR_ID.fullmatch(visitor_id)):
            visitor_id = new_visitor_id()
        if not self.running:
            self.home = self.root / "visitors" / visitor_id
            job = live_job_under(self.home / "runs")
            if job is not None:
                self.job, self.reference = job, copy_index(job.run.corpus.text)
        return visitor_id

    def list_runs(self) -> list[listing.RunInfo]:
        """This session's runs, newest first (damaged ones included, marked as such)."""
        return listing.list_runs(self.home / "runs")

    def find(self, run_id: str | None) -> listing.RunInfo:
        """A run of this session by its id; anything that is not one of them (a path, another's id) is refused."""
        found = next((r for r in self.list_runs() if r.id == run_id), None) if isinstance(run_id, str) else None
        if found is None:
            raise PoetryLabError("Choose one of your runs from the list first." if not run_id
                                 else f"There is no run called '{run_id}' among your runs.")
        return found

    def load_run(self, run_id: str | None) -> tuple[listing.RunInfo, ModelBundle, CorpusIndex | None]:
        """The run's best model and the copy index of its training text."""
        info = self.find(run_id)
        self.refuse_if_running()
        bundle = listing.load_run_model(info.path)
        self.job = None  # a finished job's model would otherwise keep answering instead
        try:
            reference = copy_index((info.path / CORPUS).read_text(encoding="utf-8"))
        except OSError:
            reference = None
        return info, bundle, reference

    def resume_run(self, run_id: str | None) -> tuple[listing.RunInfo, TrainingJob]:
        """Continue an interrupted or stopped run as this session's training job."""
        info = self.find(run_id)
        self.refuse_if_running()
        if not info.resumable:
            why = {"running": "it is still training", "done": "it has finished: load its model instead",
                   "damaged": "its files are damaged"}.get(info.status, info.problem or "it has no checkpoint")
            raise PoetryLabError(f"The run {info.id} cannot be resumed: {why}.")
        job = listing.resume_run(info.path)
        job.start()
        self.job, self.reference = job, copy_index(job.run.corpus.text)
        return info, job
