"""Stop, then Start again, ten times in a row: no thread, job slot, model or memory is left behind."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
import time

import pytest
from conftest import POEM_TEXT

from poetry_lab.app.session import Session
from poetry_lab.core.model import CharLSTM
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs import jobs
from poetry_lab.runs.jobs import TrainingJob

# A wide model on short chunks: cheap steps, but 4.8 MB of weights (and ~30 MB with gradients, optimiser
# state, best weights and snapshots), so a job or a model copy kept per cycle shows plainly in the RSS.
SETTINGS = {"hidden": 512, "batch_size": 8, "seq_len": 32}
CYCLES = 10


def rss_mb() -> float:
    """Resident memory after handing freed heap pages back to the system (so freed memory counts as freed)."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
        if trim is not None:
            trim(0)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def alive(cls: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)  # type(): no lazy-module proxies touched


def training_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "poetry-lab-training"]


@pytest.fixture
def lab(tmp_path, monkeypatch, tiny_model_path):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    made = Session(session="reliability", home=tmp_path / "home")
    made.load_corpus(text=POEM_TEXT * 4)
    yield made
    made.close()


def start_wait_stop(lab: Session) -> None:
    lab.start_training("quick", minutes=1, start_from="scratch", advanced=SETTINGS)
    deadline = time.monotonic() + 30
    while lab.job.snapshot().step < 1 and lab.job.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lab.job.snapshot().step >= 1, lab.job.snapshot().message
    assert "Stopping" in lab.stop_training()
    assert lab.job.join(timeout=30), "the job did not end after stop"
    assert lab.training_status().state == "stopped"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_ten_stop_start_cycles_leave_nothing_behind(lab):
    threads_before = set(threading.enumerate())  # other tests' threads may end meanwhile: count only new ones
    start_wait_stop(lab)  # warm-up: the first job loads kernels and fills allocator pools for good
    start_wait_stop(lab)  # ... and the second start takes up the first job's model: one model is kept from here on
    models, rss_before = alive(CharLSTM), rss_mb()
    weights_mb = lab.job.run.bundle.model.num_params() * 4 / 2**20

    for _ in range(CYCLES):
        start_wait_stop(lab)

    leftover = [t.name for t in threading.enumerate() if t not in threads_before]
    assert not training_threads() and not leftover, leftover
    assert alive(TrainingJob) == 1, "an old job (with its model and optimiser) is still referenced"
    assert alive(CharLSTM) <= models, "a model copy is left over from an earlier cycle"
    grown = rss_mb() - rss_before
    # Noise measured here: at most ~12 MB; one leaked copy of the weights per cycle would add ~48 MB.
    assert grown < 8 * weights_mb, f"RSS grew by {grown:.1f} MB over {CYCLES} cycles (weights: {weights_mb:.1f} MB)"

    slots = jobs._job_slots()  # the server-wide job slot is free again: a new job may start
    assert slots.acquire(blocking=False)
    slots.release()
    start_wait_stop(lab)


def test_a_job_that_cannot_write_its_run_frees_its_slot(lab, tmp_path):
    """A run folder that cannot be made (here: under a file) must not keep the server's only job slot."""
    (tmp_path / "not_a_folder").write_text("")
    blocked = Session(session="blocked", home=tmp_path / "not_a_folder" / "home")
    blocked.load_corpus(text=POEM_TEXT * 4)
    for _ in range(3):
        with pytest.raises(PoetryLabError, match="Cannot write the training run to disk"):
            blocked.start_training("quick", minutes=1, start_from="scratch", advanced=SETTINGS)
    assert not training_threads()
    start_wait_stop(lab)


def test_files_handed_out_for_download_do_not_pile_up(tmp_path):
    """Each download or comparison writes a file for Gradio to copy; an hour later it is gone."""
    from poetry_lab.app.ui.shared import SCRATCH_MAX_AGE_S, scratch_path

    first = scratch_path("poems.md")
    first.write_text("a poem")
    old = first.parent.parent / f"old_{os.getpid()}"
    old.mkdir()
    (old / "poetry_lab_model.safetensors").write_bytes(b"x" * 1000)
    past = time.time() - SCRATCH_MAX_AGE_S - 60
    os.utime(old, (past, past))
    second = scratch_path("poems.md")
    assert not old.exists() and first.is_file() and second.parent.is_dir() and second.parent != first.parent
