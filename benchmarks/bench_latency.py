"""What a user waits for: the app's first page and whole command-line processes, each run 5 times.

    python -m benchmarks.bench_latency [--repeats 5] [--json FILE]

Measures, as separate processes (imports included, nothing warm but the OS file cache):
- `python app.py`: seconds from the start of the process to the first HTTP answer of `/`;
- `python -m poetry_lab generate MODEL` writing 5 temperatures x 400 characters;
- `python -m poetry_lab evaluate MODEL` on a 100 KB text (the Sonnets);
- `python -m poetry_lab --help`;
- `python -m poetry_lab compose MODEL --form sonnet`: one sonnet, the whole process;
- the Write a poem tab's button as the page sends it (`/ui_compose`, four sonnets at the default
  temperatures, a new client each time) against one launched app.
Prints median and range for each, with the goals of the first-contact and poems-in-form issues.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.app_process import QUIET_ENV, free_port, launched_app

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "pretrained" / "base_forward.safetensors"
SONNETS = ROOT.parent / "shared" / "corpora" / "sonnets.txt"
GOALS = {"app first answer": 6.0, "generate 5 x 400": 2.5, "evaluate 100 KB": 3.0, "--help": 0.5,
         "compose sonnet": 5.0, "app: 4 sonnet columns": 12.0}


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def app_first_answer(env: dict) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**env, "POETRY_LAB_HOME": home})
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("app.py exited")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                        if r.status == 200:
                            return time.perf_counter() - t0
                except OSError:
                    time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def app_sonnet_columns(url: str, seed: int) -> float:
    """Seconds for the Write a poem button with the page's defaults: four sonnets, one per temperature."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    try:
        t0 = time.perf_counter()
        out = client.predict("sonnet", 0, "", "0.2, 0.5, 0.8, 1.0", seed, False, "", api_name="/ui_compose")
        seconds = time.perf_counter() - t0
    finally:
        client.close()
    if "Wrote 4 poems" not in str(out):
        raise RuntimeError(f"the app did not write four poems: {str(out)[-300:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", type=Path, default=MODEL, help="the model generate and evaluate use (default: the shipped base)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw times here")
    args = parser.parse_args(argv)
    env = {**os.environ, **QUIET_ENV}
    py = [sys.executable, "-m", "poetry_lab"]
    runs = {
        "app first answer": lambda: app_first_answer(env),
        "generate 5 x 400": lambda: timed([*py, "generate", str(args.model), "--prompt", "When in the night",
                                           "--temperatures", "0.2,0.5,0.8,1.0,1.2", "--chars", "400"], env),
        "evaluate 100 KB": lambda: timed([*py, "evaluate", str(args.model), str(SONNETS)], env),
        "--help": lambda: timed([*py, "--help"], env),
        "compose sonnet": lambda: timed([*py, "compose", str(args.model), "--form", "sonnet", "--seed", str(len(times["--help"]))], env),
        "app: 4 sonnet columns": lambda: app_sonnet_columns(url, len(times["--help"])),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as home, launched_app(Path(home)) as (url, _):
        for _ in range(args.repeats):  # interleaved, so a slow minute on the VM touches every measure alike
            for name, fn in runs.items():
                times[name].append(fn())
    print(f"{'measure':<20} {'median':>8} {'range':>17} {'goal':>6}")
    for name, values in times.items():
        med = statistics.median(values)
        flag = "met" if med <= GOALS[name] else "MISSED"
        print(f"{name:<20} {med:7.2f}s {min(values):7.2f}-{max(values):6.2f}s {GOALS[name]:5.1f}s {flag}")
    if args.json:
        args.json.write_text(json.dumps(times, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
