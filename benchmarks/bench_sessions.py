"""Memory of sessions that come and never say goodbye: bare API calls, each its own session.

    python -m benchmarks.bench_sessions                       # 500 bare /load_corpus calls, 1 MB each
    python -m benchmarks.bench_sessions --calls 40 --mb 1.9   # the issue's first measurement
    python -m benchmarks.bench_sessions --idle 20             # sessions idle 20 s are closed; wait, measure again

A bare `POST /gradio_api/call/load_corpus` (no session_hash, no heartbeat) gets a session of its own from
Gradio that nothing ever closes; each loads `--mb` of pasted verse. The app runs as `python app.py` on
loopback (POETRY_LAB_HOME in a temporary folder); its resident memory is read from /proc before the calls,
after them, and after waiting out the sessions' idle lifetime (`--idle` seconds, POETRY_LAB_SESSION_IDLE_S;
the app's default is much longer). Prints a Markdown table; --out writes JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.app_process import call, launched_app
from benchmarks.suite.common import proc_rss_mb

VERSE = ("The rose is red upon the garden wall,\nThe bee is busy in the quiet hall;\nAnd when the evening "
         "shadows gently fall\nThe garden sleeps, and sleeping, dreams of all.\n\n")


def text_of(mb: float, salt: int) -> str:
    """About `mb` MiB of verse, different for each call (so no cache can share it)."""
    stanza = VERSE.replace("rose", f"rose {salt}")
    return stanza * max(1, int(mb * 1024 * 1024 / len(stanza)))


def measure(calls: int, mb: float, idle_s: float, workers: int = 2) -> dict:
    with tempfile.TemporaryDirectory() as home, \
            launched_app(Path(home), env={"POETRY_LAB_SESSION_IDLE_S": str(idle_s)}) as (url, proc):
        time.sleep(2)
        start = proc_rss_mb(proc.pid)["rss"]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            events = list(pool.map(lambda i: call(url, "load_corpus", [None, text_of(mb, i), None], timeout=120)[0], range(calls)))
        seconds = time.perf_counter() - t0
        after = proc_rss_mb(proc.pid)
        time.sleep(idle_s + 5)
        # One more call: the registry closes idle sessions as it is used (and on its own clock).
        call(url, "training_status", [])
        later = proc_rss_mb(proc.pid)["rss"]
        return {"calls": calls, "mb_each": mb, "errors": sum(e != "complete" for e in events), "seconds": round(seconds, 1),
                "rss_start_mb": round(start), "rss_after_mb": round(after["rss"]), "peak_mb": round(after["hwm"]),
                "rss_after_idle_mb": round(later), "grown_mb": round(after["rss"] - start),
                "grown_after_idle_mb": round(later - start), "idle_s": idle_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--mb", type=float, default=1.0, help="MiB of pasted text per call")
    parser.add_argument("--idle", type=float, default=30.0, help="the sessions' idle lifetime for this run, seconds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = measure(args.calls, args.mb, args.idle)
    print("| calls | MiB each | errors | s | RSS start | after | grown | after idle | grown after idle |")
    print("|---|---|---|---|---|---|---|---|---|")
    r = result
    print(f"| {r['calls']} | {r['mb_each']} | {r['errors']} | {r['seconds']} | {r['rss_start_mb']} | {r['rss_after_mb']} "
          f"| +{r['grown_mb']} | {r['rss_after_idle_mb']} | +{r['grown_after_idle_mb']} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
