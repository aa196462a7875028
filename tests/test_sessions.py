"""The sessions of visitors who come and go: idle ones are forgotten, their number is bounded, a page's
heartbeat holds its own, and a training outlives the session (the tab) that started it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from types import SimpleNamespace

import pytest

from poetry_lab.app.session import Session
from poetry_lab.app.ui import train_tab
from poetry_lab.app.ui.sessions import SessionRegistry, SessionWatch
from poetry_lab.runs.jobs import live_job_under
from poetry_lab.store import Store

POEM = ("The rose is red upon the garden wall,\nThe bee is busy in the quiet hall;\n"
        "And when the evening shadows gently fall\nThe garden sleeps, and sleeping, dreams of all.\n\n") * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def req(key: str | None) -> SimpleNamespace:
    return SimpleNamespace(session_hash=key)


@pytest.fixture
def registry(tmp_path):
    clock = Clock()
    made = SessionRegistry(factory=lambda key: Session(session=key, home=tmp_path), idle_s=60, max_sessions=3, clock=clock)
    made.clock = clock
    yield made
    made.close_all()


def test_idle_sessions_are_forgotten_and_freed(registry):
    a = registry.session(req("a"))
    a.load_corpus(text=POEM)
    freed = weakref.ref(a)
    registry.clock.now += 30
    assert registry.session(req("b")) is not None and registry.sweep() == 0 and len(registry) == 2
    registry.clock.now += 31  # a: 61 s unused; b: 31 s
    assert registry.sweep() == 1 and len(registry) == 1
    del a
    gc.collect()
    assert freed() is None, "something still holds the forgotten session (and its corpus)"
    assert registry.session(req("a")).corpus is None  # a visitor who comes back after that starts afresh


def test_every_session_shares_the_registrys_store_even_while_it_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("POETRY_LAB_HOME", str(tmp_path))
    made = SessionRegistry()
    try:
        assert len(made.store) == 0  # an empty Store is falsy: `store or Store()` would make one per session
        assert made.session(req("a")).store is made.session(req("b")).store is made.store
        empty = Store()
        assert Session("c", home=tmp_path, store=empty).store is empty
        assert SessionRegistry(store=empty).store is empty
    finally:
        made.close_all()


def test_using_a_session_keeps_it(registry):
    for _ in range(5):
        registry.clock.now += 50
        registry.session(req("a"))
    assert registry.sweep() == 0 and len(registry) == 1


def test_at_most_max_sessions_without_a_page_the_least_recently_used_goes(registry):
    for key in "abc":
        registry.session(req(key))
        registry.clock.now += 1
    registry.session(req("a"))  # a is used again: b is now the least recent
    registry.session(req("d"))
    assert len(registry) == 3
    first = registry.session(req("a"))
    assert registry.session(req("a")) is first
    registry.session(req("e"))  # over the cap again: c goes (b went already)
    assert {k for k in "abcde" if registry._sessions.get(k)} == {"a", "d", "e"}


def test_a_heartbeat_holds_its_session_past_the_idle_time_and_the_cap(registry):
    page = registry.session(req("page"))
    registry.hold("page")
    for key in "wxyz":
        registry.session(req(key))
    registry.clock.now += 3600
    registry.sweep()
    assert registry.session(req("page")) is page  # held: neither idle time nor the cap forgot it
    registry.release("page")  # the tab closed without an unload (or before it): idle from now on
    registry.clock.now += 61
    registry.sweep()
    assert registry.session(req("page")) is not page


def test_the_middleware_holds_a_session_while_its_heartbeat_streams(registry):
    seen = []

    async def gradio(scope, receive, send):
        seen.append(dict(registry._held))

    watch = SessionWatch(gradio, registry)

    async def run():
        await watch({"type": "http", "method": "GET", "path": "/gradio_api/heartbeat/abc123"}, None, None)
        await watch({"type": "http", "method": "POST", "path": "/gradio_api/call/compose"}, None, None)
        watch._sweeper.cancel()

    asyncio.run(run())
    assert seen == [{"abc123": 1}, {}]


def test_a_closed_tab_does_not_stop_its_training_and_the_visitor_finds_it_again(registry, tmp_path, monkeypatch, tiny_model_path):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    tab = registry.session(req("tab1"))
    visitor = tab.use_visitor(None)
    tab.load_corpus(text=POEM)
    tab.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 16, "batch_size": 4, "seq_len": 16})
    job = tab.job
    try:
        registry.close(req("tab1"))  # the page's unload: the heartbeat ended
        assert len(registry) == 0 and job.running, "closing the tab stopped the training"
        assert live_job_under(tab.training.home / "runs") is job
        again = registry.session(req("tab2"))  # the same browser, a new page load
        out = train_tab.identify_visitor(again, visitor=visitor)
        assert out["visitor"] == visitor and again.job is job and out["timer"].active is True
        assert "still running" in out["status"] and out["table"]["status"][0] == "running"
        other = registry.session(req("tab3"))
        assert train_tab.identify_visitor(other, visitor=None)["visitor"] != visitor and other.job is None
    finally:
        job.stop()
        assert job.join(timeout=30)
    assert again.list_runs()[0].status == "stopped" and again.list_runs()[0].best_val_loss is not None
