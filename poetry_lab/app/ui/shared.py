"""What the tabs share: how an emptied field reads, the scratch files downloads go through, the bundled
corpora on offer, and the current model's one-line summary."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from poetry_lab import settings
from poetry_lab.app.session import Session
from poetry_lab.data.catalog import available_corpora
from poetry_lab.errors import PoetryLabError

MAX_BUNDLED_CHARS = 10_000_000  # bigger corpora (gutenberg_poetry, 121 M chars) would stall a small server
SCRATCH_MAX_AGE_S = 3600  # files handed to Gradio for download are kept this long (it copies them at once)
DEFAULT_CHARS, DEFAULT_LINES, SWEEP_SAMPLES = 400, 8, 5  # what an emptied (or 0) length or count field means


def cpu_queue() -> dict:
    """Event settings for everything that keeps a core busy for seconds (poems in form, comparisons,
    sweeps, themes; the page's and the API's alike): one queue for all of them, `cpu_workers` at a time.

    Per-event limits let a dozen such events run at once on a 2-core Space beside a training, each
    slower than the last; one group serves them in order of arrival, and the queue's size
    (`Settings.queue_size`, demo.queue(max_size=...)) turns the rest away at once with Gradio's
    "busy, try again" message instead of a minute's wait (benchmarks/load_test.py)."""
    return {"concurrency_id": "cpu", "concurrency_limit": settings.current().cpu_workers}


def bundled_corpora() -> list[tuple[str, str]]:
    """(label, name) of the bundled corpora found on this machine that are small enough to train on here."""
    return [(f"{e.title} ({e.chars:,} characters)", e.name) for e, path in available_corpora()
            if path is not None and e.chars <= MAX_BUNDLED_CHARS]


def bundled_name(name: str | None) -> str | None:
    """Only names from the dropdown: the library would also accept any file path, which a client must not pass."""
    if not name:
        return None
    names = [n for _, n in bundled_corpora()]
    if name not in names:
        raise PoetryLabError(f"There is no bundled corpus called '{name}' here. Choose one of: {', '.join(names) or 'none'}.")
    return name


def scratch_path(name: str) -> Path:
    """A new path called `name`, in a folder of its own under the temp dir (Gradio serves copies of files there).

    Gradio copies a returned file into its cache (emptied hourly: delete_cache), so the original is
    only needed for a moment; folders older than SCRATCH_MAX_AGE_S are removed here, or every
    download and every comparison would leave a file on the server's disk for good.
    """
    root = Path(tempfile.gettempdir()) / "poetry_lab_scratch"
    root.mkdir(exist_ok=True)
    cutoff = time.time() - SCRATCH_MAX_AGE_S
    for old in root.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # removed meanwhile by another process
            pass
    return Path(tempfile.mkdtemp(dir=root)) / name


def optional(value, kind=float):
    """Empty widgets and zeros mean 'not set' (Gradio 6 shows an emptied gr.Number as 0 and sends 0).

    Every optional number field says so in its help text; where 0 would be a real choice (dropout),
    the widget is a dropdown with an explicit "preset's choice" instead.
    """
    return None if value in (None, "") or kind(value) == 0 else kind(value)



def current_model(session: Session) -> str:
    return f"**Current model:** {session.model_summary()}"
