"""benchmarks/bench_sessions.py in small, in-process: bare API calls (no session_hash, no heartbeat) each
make a session; the registry keeps at most `max_sessions` of them, frees Gradio's own per-session copy of
their inputs with them, and forgets them all once idle, on its own clock (no further call needed)."""

from __future__ import annotations

import time

import pytest

from benchmarks.app_process import call, free_port
from benchmarks.bench_sessions import text_of


@pytest.fixture
def served(monkeypatch, tmp_path, tiny_model_path):
    monkeypatch.setenv("POETRY_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    from poetry_lab.app.ui import create_demo, server_middleware
    from poetry_lab.app.ui.sessions import SessionRegistry

    sessions = SessionRegistry(idle_s=2.0, max_sessions=4)
    demo = create_demo(sessions)
    demo.queue(max_size=8)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True,
                **server_middleware(demo, sessions))
    try:
        yield f"http://127.0.0.1:{port}", sessions, demo
    finally:
        demo.close()


def test_bare_sessions_are_bounded_and_freed_when_idle(served):
    url, sessions, demo = served
    for i in range(12):
        assert call(url, "load_corpus", [None, text_of(0.2, i), None])[0] == "complete"
    assert len(sessions) <= 4, "more sessions kept than max_sessions"
    gradio_kept = len(demo.state_holder.session_data)  # each holds that session's inputs: 200 KB of text here
    assert gradio_kept <= 4, f"Gradio still keeps the state of {gradio_kept} sessions"
    deadline = time.monotonic() + 10
    while (len(sessions) or len(demo.state_holder.session_data)) and time.monotonic() < deadline:
        time.sleep(0.25)  # no call: the middleware's own sweep must free them
    assert len(sessions) == 0 and len(demo.state_holder.session_data) == 0
