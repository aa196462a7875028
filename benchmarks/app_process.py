"""Launching the real app (`python app.py --port N`) in a subprocess: one way, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
             "PYTHONUNBUFFERED": "1"}


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
def launched_app(home: Path, env: dict | None = None, timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python app.py` on a free loopback port with POETRY_LAB_HOME=home (its log in home/app.log);
    yields (URL, process) once it serves, and always stops it."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = {**os.environ, **QUIET_ENV, "POETRY_LAB_HOME": str(home), **(env or {})}
    full_env.pop("SPACE_ID", None)
    log = home / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log, timeout)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def call(url: str, api: str, data: list, session: str | None = None, timeout: float = 60) -> tuple[str, object]:
    """One queued call over plain HTTP (Gradio's /call API) -> (event, data): 'complete' or 'error'.
    Without `session`, a bare call: Gradio makes it a session of its own, held by no heartbeat."""
    body = {"data": data, **({"session_hash": session} if session else {})}
    event_id = httpx.post(f"{url}/gradio_api/call/{api}", json=body, timeout=timeout).json()["event_id"]
    event, payload = "", None
    with httpx.stream("GET", f"{url}/gradio_api/call/{api}/{event_id}", timeout=timeout) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(line.split(":", 1)[1])
                break
    return event, payload
