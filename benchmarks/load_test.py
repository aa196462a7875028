"""Load test: many visitors write poems while one trains, against the launched app on loopback.

    python -m benchmarks.load_test                          # 20 sessions for 60 s; starts app.py itself
    python -m benchmarks.load_test --sessions 6 --seconds 15
    python -m benchmarks.load_test --url http://127.0.0.1:7860 --no-train
    python -m benchmarks.load_test --think 3                # visitors who read each poem for 3 s

One gradio_client session loads a corpus (the bundled Sonnets, or a built-in stand-in) and starts a
training ("auto": fine-tunes the loaded model); N other sessions call /compare in a loop (a short
poem at 3 temperatures, a fresh seed each time) or, a share --compose of the time, /compose (a poem
in a form: sonnet, quatrain, limerick or haiku) until the time is up. Reported: requests, errors
(must be 0), latency per kind of request (p50/p95/max, seconds, queueing included) and how many
training steps were done meanwhile. A request the app turns away because its queue is full (Gradio's
"busy, try again") is no error: it is counted as `busy`, with how long the answer took (the app's promise
is a plain message within a second). Writes JSON (--out) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.app_process import launched_app

REPO = Path(__file__).resolve().parents[1]

REQUEST_TIMEOUT_S = 60.0  # a poem that takes longer counts as an error
FORMS = ["sonnet", "quatrain", "limerick", "haiku"]
PROMPTS = ["Shall I compare thee", "The rose", "When in the night", "O sea, ", "My love is", "", "Upon the hill"]
STAND_IN = ("The rose is red upon the wall,\nThe bee is busy in the hall;\nAnd when the evening shadows fall\n"
            "The garden sleeps, and that is all.\n\n") * 400  # when the Sonnets are not on this machine


@dataclass
class LoadResult:
    sessions: int
    seconds: float
    chars: int
    temperatures: str
    training: bool
    think_s: float = 0.0  # pause between a session's requests (0: back to back, the worst case)
    requests: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    busy: int = 0  # requests turned away at once by the full queue ("busy, try again")
    busy_max_s: float | None = None  # the slowest of those answers
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    requests_per_s: float = 0.0
    train_steps_meanwhile: int | None = None
    train_state_after: str | None = None
    train_message: str | None = None
    compose_share: float = 0.0  # share of requests that ask for a poem in form (/compose) instead of /compare
    by_kind: dict = field(default_factory=dict)  # "compare" / "compose" -> {"requests", "p50_s", "p95_s", "max_s"}
    server_cpu_s_per_request: float | None = None  # the app's CPU time (all its threads, training included)
    client_cpu_s_per_request: float | None = None  # this process's: gradio_client is not free either


def cpu_seconds(pid: int | str = "self") -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _call(client, *args, api_name: str, timeout: float = 60):
    """client.predict with a time limit: a server that stops answering fails the run instead of hanging it."""
    return client.submit(*args, api_name=api_name).result(timeout=timeout)


def _start_training(client, minutes: float) -> int:
    """Load a corpus and start training in `client`'s session; -> the step it had reached when measuring began."""
    from gradio_client.exceptions import AppError

    try:
        _call(client, None, None, "sonnets", api_name="/load_corpus")
    except AppError:
        _call(client, None, STAND_IN, None, api_name="/load_corpus")
    _call(client, "quick", minutes, "auto", api_name="/start_training")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = _call(client, api_name="/training_status")
        if status["state"] != "running" or status["step"] > 0:
            return status["step"]
        time.sleep(0.5)
    raise RuntimeError("training did not take its first step within 2 minutes")


def _writer(client, deadline: float, chars: int, temperatures: str, think: float, seed: int, out: dict, errors: list,
            compose_share: float = 0.0) -> None:
    from gradio_client.utils import QueueError

    rng = random.Random(seed)
    time.sleep(rng.uniform(0, think))  # visitors who pause do not all arrive at once
    while time.monotonic() < deadline:
        started = time.perf_counter()
        kind = "compose" if rng.random() < compose_share else "compare"
        try:
            if kind == "compose":
                poem = _call(client, rng.choice(FORMS), None, "", rng.choice([0.5, 0.8, 1.0]), rng.randrange(2**31), False,
                             api_name="/compose", timeout=REQUEST_TIMEOUT_S)
                if not poem.get("lines"):
                    raise RuntimeError(f"an empty poem: {poem}")
            else:
                poems = _call(client, rng.choice(PROMPTS), temperatures, chars, rng.randrange(2**31), None, None,
                              api_name="/compare", timeout=REQUEST_TIMEOUT_S)
                if len(poems) != len(temperatures.split(",")):
                    raise RuntimeError(f"{len(poems)} poems for {temperatures}")
            out.setdefault(kind, []).append(time.perf_counter() - started)
        except QueueError:  # the queue was full: the visitor was told at once that the app is busy
            out.setdefault("busy", []).append(time.perf_counter() - started)
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported, none stops the test
            errors.append(f"{kind}: {type(e).__name__}: {str(e)[:200]}")
        time.sleep(think)


def _percentiles(latencies: list[float]) -> dict:
    p50, p95 = np.percentile(latencies, [50, 95])
    return {"requests": len(latencies), "p50_s": round(float(p50), 3), "p95_s": round(float(p95), 3), "max_s": round(max(latencies), 3)}


def run_load(url: str, sessions: int = 20, seconds: float = 60, chars: int = 200, temperatures: str = "0.2,0.7,1.2",
             train: bool = True, think: float = 0.0, server_pid: int | None = None, compose_share: float = 0.0) -> LoadResult:
    """Run the load against `url`; `server_pid` (the app's process, if local) adds its CPU time per request."""
    from gradio_client import Client

    result = LoadResult(sessions=sessions, seconds=seconds, chars=chars, temperatures=temperatures, training=train,
                        think_s=think, compose_share=compose_share)
    trainer = Client(url, verbose=False) if train else None
    writers = [Client(url, verbose=False) for _ in range(sessions)]
    try:
        steps_before = _start_training(trainer, minutes=seconds / 60 + 2) if trainer else None
        by_kind: dict[str, list[float]] = {}
        errors: list[str] = []
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=_writer, args=(c, deadline, chars, temperatures, think, i, by_kind, errors, compose_share),
                                    name=f"load-writer-{i}") for i, c in enumerate(writers)]
        started, cpu = time.monotonic(), (cpu_seconds(server_pid) if server_pid else None, cpu_seconds())
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        busy = by_kind.pop("busy", [])
        latencies = [s for kind in by_kind.values() for s in kind]
        n = max(len(latencies) + len(errors) + len(busy), 1)
        if cpu[0] is not None:
            result.server_cpu_s_per_request = round((cpu_seconds(server_pid) - cpu[0]) / n, 4)
        if cpu[1] is not None:
            result.client_cpu_s_per_request = round((cpu_seconds() - cpu[1]) / n, 4)
        if trainer is not None:
            status = _call(trainer, api_name="/training_status")
            result.train_steps_meanwhile = status["step"] - steps_before
            result.train_state_after, result.train_message = status["state"], status["message"]
            _call(trainer, api_name="/stop_training")
        result.requests, result.errors = len(latencies) + len(errors) + len(busy), len(errors)
        result.busy, result.busy_max_s = len(busy), (round(max(busy), 3) if busy else None)
        result.error_examples = sorted(set(errors))[:5]
        result.requests_per_s = round(result.requests / elapsed, 2)
        if latencies:
            every = _percentiles(latencies)
            result.p50_s, result.p95_s, result.max_s = every["p50_s"], every["p95_s"], every["max_s"]
            result.by_kind = {kind: _percentiles(found) for kind, found in sorted(by_kind.items())}
    finally:
        for c in writers + ([trainer] if trainer else []):
            with contextlib.suppress(Exception):
                c.close()
    return result


def markdown(r: LoadResult) -> str:
    def s(x):
        return "-" if x is None else f"{x:.2f}"
    steps = "-" if r.train_steps_meanwhile is None else f"{r.train_steps_meanwhile} ({r.train_state_after})"
    rows = [("all", {"requests": r.requests, "p50_s": r.p50_s, "p95_s": r.p95_s, "max_s": r.max_s})]
    rows += [(kind, k) for kind, k in r.by_kind.items()] if len(r.by_kind) > 1 else []
    out = ["| sessions | pause s | seconds | requests | errors | busy (slowest answer s) | requests/s | training steps meanwhile |",
           "|---:|---:|---:|---:|---:|---:|---:|---|",
           f"| {r.sessions} | {r.think_s:g} | {r.seconds:g} | {r.requests} | {r.errors} | {r.busy} ({s(r.busy_max_s)}) "
           f"| {r.requests_per_s:.2f} | {steps} |",
           "", "| requests | count | p50 s | p95 s | max s |", "|---|---:|---:|---:|---:|"]
    out += [f"| {kind} | {k['requests']} | {s(k['p50_s'])} | {s(k['p95_s'])} | {s(k['max_s'])} |" for kind, k in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20, help="sessions writing poems at once (default 20)")
    ap.add_argument("--seconds", type=float, default=60, help="how long they write (default 60)")
    ap.add_argument("--chars", type=int, default=200, help="characters per poem (default 200)")
    ap.add_argument("--temperatures", default="0.2,0.7,1.2")
    ap.add_argument("--think", type=float, default=0.0, help="seconds each session pauses between poems (default 0)")
    ap.add_argument("--compose", type=float, default=0.3, help="share of requests that ask /compose for a poem in form (default 0.3)")
    ap.add_argument("--url", help="an app that is already running (default: start app.py on a free port)")
    ap.add_argument("--no-train", action="store_true", help="no training session (generation alone)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "load_test.json")
    args = ap.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url, pid = args.url, None
        if url is None:
            url, proc = stack.enter_context(launched_app(Path(stack.enter_context(tempfile.TemporaryDirectory()))))
            pid = proc.pid
        result = run_load(url, args.sessions, args.seconds, args.chars, args.temperatures, train=not args.no_train,
                          think=args.think, server_pid=pid, compose_share=args.compose)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**asdict(result), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                    "cpus": os.cpu_count()}, indent=1))
    print(markdown(result))
    print(f"\nCPU seconds per request: app {result.server_cpu_s_per_request}, load client {result.client_cpu_s_per_request}")
    for example in result.error_examples:
        print(f"error: {example}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
