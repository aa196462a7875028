"""Where the word decoder's time goes: the app's four sonnet columns and one sonnet, in this process, at each number
of candidates, split into the writer's model steps, the allowed-word masks and the rest of the decoder.

    python -m benchmarks.bench_decoder [--candidates 64,128] [--repeats 2] [--threads 2]

Each setting is run `repeats` times, the settings taking turns (timings on a shared VM drift by the minute: compare
the numbers of one run). The model steps are WordCell.step; the masks WordLineDecoder._allowed; "decoder, rest" is
the rest of WordLineDecoder.write (the draws, draw_rows, and each row's bookkeeping); "outside" is the composer's
ranking and metre. Prints the medians; writes benchmarks/results/decoder.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from poetry_lab.compose import ComposeConfig, Composer
from poetry_lab.compose.word_decoder import WordLineDecoder
from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.wordmodel import WordCell

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "pretrained" / "base_forward.safetensors"
PARTS = (("model steps", WordCell, "step"), ("masks", WordLineDecoder, "_allowed"), ("decoder", WordLineDecoder, "write"))


@contextmanager
def timed_parts(totals: dict[str, float]):
    """Adds each part's seconds to `totals` while the block runs (the methods wrapped, then put back)."""
    saved = []
    for name, owner, attr in PARTS:
        f = getattr(owner, attr)
        saved.append((owner, attr, f))

        def wrapped(*a, _f=f, _name=name, **k):
            t0 = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, wrapped)
    try:
        yield
    finally:
        for owner, attr, f in saved:
            setattr(owner, attr, f)


def measure(composer: Composer, candidates: int, columns: bool) -> dict[str, float]:
    totals: dict[str, float] = {}
    cfg = ComposeConfig(form="sonnet", seed=3, candidates=candidates)
    t0 = time.perf_counter()
    with timed_parts(totals):
        composer.columns(cfg) if columns else composer.compose(cfg)
    total = time.perf_counter() - t0
    return {"total": total, "model steps": totals["model steps"], "masks": totals["masks"],
            "decoder, rest": totals["decoder"] - totals["model steps"] - totals["masks"], "outside": total - totals["decoder"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", default="64,128")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    composer = Composer(load_model(MODEL))
    composer.compose(ComposeConfig(form="quatrain", seed=0, candidates=8))  # tables and neighbours built, as in a warm app
    settings = [(n, columns) for n in (int(x) for x in args.candidates.split(",")) for columns in (True, False)]
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for n, columns in settings:
            runs.setdefault(f"{n} candidates, {'four columns' if columns else 'one sonnet'}", []).append(measure(composer, n, columns))
    out = {name: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]} for name, rs in runs.items()}
    print(f"{'setting':32} " + " ".join(f"{k:>14}" for k in next(iter(out.values()))))
    for name, row in out.items():
        print(f"{name:32} " + " ".join(f"{v:>13.2f}s" for v in row.values()))
    dest = ROOT / "benchmarks" / "results" / "decoder.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
