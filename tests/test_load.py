"""A short load test (benchmarks/load_test.py in small): 6 sessions write poems (some in form) for 15 s while a 7th trains.

Nothing may fail, and the slowest answers must stay well below what a frozen or serialised-behind-
training server would give. The bound is loose on purpose: the CPU is shared with the training job,
the 6 clients and whatever else runs on the machine.
"""

from __future__ import annotations

import pytest
from apphelpers import running_app

pytest.importorskip("gradio_client")
from benchmarks.load_test import markdown, run_load

SESSIONS, SECONDS = 6, 15


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("load_home")) as url:  # the shipped model, as visitors get it
        yield url


def test_many_sessions_write_poems_while_one_trains(app_url):
    result = run_load(app_url, sessions=SESSIONS, seconds=SECONDS, chars=200, temperatures="0.2,0.7,1.2", compose_share=0.3)
    print("\n" + markdown(result))
    assert result.errors == 0, result.error_examples
    assert result.busy_max_s is None or result.busy_max_s < 5, "a full queue must say so at once, not after a wait"
    assert result.requests >= 2 * SESSIONS, "the sessions were served too rarely"
    assert result.p95_s is not None and result.p95_s < 20, f"p95 latency {result.p95_s} s: generation is not interactive"
    assert result.train_state_after in ("running", "done") and result.train_steps_meanwhile > 0, result
    assert set(result.by_kind) == {"compare", "compose"}, result.by_kind  # poems in form were asked for and written
