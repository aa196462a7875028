"""Launching the real app (`python app.py --port N`) in a subprocess, shared by the app tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SHIPPED_MODEL = REPO_ROOT / "pretrained" / "default.safetensors"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"app.py did not answer within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def running_app(home: Path, default_model: Path | None = None, timeout: float = 90) -> Iterator[str]:
    """Start app.py on a free port with POETRY_LAB_HOME=home; yield its URL; always stop it.

    default_model: the model the app opens with when pretrained/default.safetensors is not there yet.
    """
    port = free_port()
    env = {**os.environ, "POETRY_LAB_HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("SPACE_ID", None)
    if not SHIPPED_MODEL.is_file() and default_model is not None:
        env["POETRY_LAB_DEFAULT_MODEL"] = str(default_model)
    log = home / "app.log"
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if "Traceback" in log.read_text(errors="replace"):
            print(f"--- app.log ({log}) had a traceback:\n{log.read_text(errors='replace')[-4000:]}")


def wait_for(predicate, timeout: float, every: float = 0.5):
    """Call predicate() until it returns something truthy; return it, or the last value after timeout."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = predicate()
    return value
