"""Shared by the app tests: launching the real app (`python app.py --port N`) in a subprocess, opening it in
headless Chromium, and calling page handlers as the page does."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.app_process import launched_app

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SHIPPED_MODEL = REPO_ROOT / "pretrained" / "default.safetensors"
# Debian's Chromium (`apt-get install -y chromium`), never `playwright install`: that would download a browser.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots; not committed (.gitignore)


@contextlib.contextmanager
def running_app(home: Path, default_model: Path | None = None, timeout: float = 90, env: dict | None = None) -> Iterator[str]:
    """Start app.py on a free port with POETRY_LAB_HOME=home; yield its URL; always stop it.

    default_model: the model the app opens with when pretrained/default.safetensors is not there yet.
    env: more environment for the app (say, POETRY_LAB_DEFAULT_MODEL or GRADIO_TEMP_DIR).
    """
    env = {"OMP_NUM_THREADS": "1", **(env or {})}
    if not SHIPPED_MODEL.is_file() and default_model is not None:
        env["POETRY_LAB_DEFAULT_MODEL"] = str(default_model)
    log = Path(home) / "app.log"
    try:
        with launched_app(home, env=env, timeout=timeout) as (url, _):
            yield url
    finally:
        if log.is_file() and "Traceback" in log.read_text(errors="replace"):
            print(f"--- app.log ({log}) had a traceback:\n{log.read_text(errors='replace')[-4000:]}")


def loud_skip(reason: str) -> None:
    """Skip on a developer's machine that lacks the browser; in CI (CI=true) a missing browser is a failure."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    print(f"\n{'!' * 78}\n!! BROWSER TEST SKIPPED: {reason}\n{'!' * 78}", file=sys.stderr)
    pytest.skip(reason)


def sync_playwright_or_skip():
    """Playwright's sync_playwright, once the package, Chromium and the Sonnets are known to be here (else loud_skip)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        loud_skip("the playwright package is missing (pip install -r requirements-dev.txt)")
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        loud_skip("Chromium is missing (apt-get install -y chromium)")
    if not (SHARED_CORPORA / "sonnets.txt").is_file():
        loud_skip(f"{SHARED_CORPORA / 'sonnets.txt'} is missing")
    return sync_playwright


@contextlib.contextmanager
def chromium_page(sync_playwright, url: str, profile: Path, **context_options) -> Iterator:
    """The app at `url` in headless Chromium with a fresh profile, once its first tab is on screen; always closed.

    context_options: more for the browser context (say, color_scheme="dark").
    """
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, **context_options)
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            page.wait_for_selector("#compose-run")  # the first tab; the others render when opened
            yield page
        finally:
            context.close()


def wait_for(predicate, timeout: float, every: float = 0.5):
    """Call predicate() until it returns something truthy; return it, or the last value after timeout."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = predicate()
    return value


def upload(url: str, name: str, data: bytes) -> str:
    """Upload one file under `name` (sent as is in the multipart header) -> the server's path for it."""
    response = httpx.post(f"{url}/gradio_api/upload", files=[("files", (name, data, "text/plain"))], timeout=30)
    assert response.status_code == 200, response.text
    return response.json()[0]


def as_file(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


# --- page handlers called as the page calls them ---------------------------------------------
OUTPUTS = {  # each page handler's outputs, in the order the tests read them
    "model_summary": ("summary",), "download_model": ("file", "status"), "load_model": ("status", "summary"),
    "load_corpus": ("stats", "warnings", "preview", "status"), "start_training": ("status", "timer"),
    "stop_training": ("status",), "poll_training": ("plot", "status", "samples", "timer", "summary"),
    "identify_visitor": ("visitor", "table", "chooser", "status", "timer"), "refresh_runs": ("table", "chooser", "status"),
    "load_run": ("status", "summary"), "resume_run": ("status", "timer"),
    "poll_training_and_runs": ("plot", "status", "samples", "timer", "summary", "table", "chooser"),
    "compare": ("plain", "confidence", "copies", "bars", "download", "status"), "sweep": ("plot", "download", "status"),
    "themes": ("map", "themes", "placed", "table", "compared", "words", "status", "pick"),
    "write_on_theme": ("poems", "download", "column", "about", "tabs", "edit", "keep", "line", "candidates", "status"),
    "write_poems": ("poems", "download", "column", "edit", "keep", "line", "candidates", "status"),
    "choose_poem": ("edit", "keep", "line", "candidates", "status"),
    "rewrite_poem": ("poems", "edit", "keep", "line", "candidates", "status"),
    "rewrite_line": ("poems", "edit", "keep", "line", "candidates", "status"),
    "show_candidates": ("candidates", "status"),
}


def ui(handler, session, **inputs):
    """A page handler called through SessionRegistry.action, as the page calls it (named inputs, the
    error boundary). Its outputs come back in OUTPUTS order, gr.skip() for those it leaves as they
    are; a handler with one output answers it bare."""
    import gradio as gr

    from poetry_lab.app.ui.sessions import SessionRegistry

    names = OUTPUTS[handler.__name__]
    wired = SessionRegistry(factory=lambda key: session).action(
        handler, inputs={k: k for k in inputs}, outputs={n: n for n in names}, status="status" if "status" in names else names[0])
    answer = wired["fn"](*inputs.values(), None)
    out = tuple(answer.get(n, gr.skip()) for n in names)
    return out if len(out) > 1 else out[0]
