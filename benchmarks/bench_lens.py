"""Lens benchmarks: how well poetics reads the Sonnets, and how long a temperature sweep takes.

    python -m benchmarks.bench_lens                  # ~30 s on a 2-core CPU
    python -m benchmarks.bench_lens --skip-sweep     # only the Sonnets report

Sonnets report: how many sonnets get exactly the Shakespearean scheme ABABCDCDEFEFGG (sonnets 99
and 126, with 15 and 12 lines, are left out of that count), the share of lines with exactly 10
syllables, the metres found, and the schemes that differ. Sweep: 5 temperatures x 5 poems x 400
characters with the default pretrained model, against the Sonnets as training text.
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

import torch

from poetry_lab.analysis.lens import sweep
from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.analysis.poetics import analyse_text
from poetry_lab.core.checkpoint import load_model
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import decode_bytes

REPO = Path(__file__).resolve().parents[1]
SHAKESPEAREAN = "ABABCDCDEFEFGG"
IRREGULAR = {99, 126}  # 15 and 12 lines in the 1609 text


def sonnets_report(text: str, show_failures: bool = True) -> dict:
    start = time.perf_counter()
    poems = analyse_text(text)
    seconds = time.perf_counter() - start
    counted = [(k, p) for k, p in enumerate(poems, 1) if k not in IRREGULAR]
    exact = [k for k, p in counted if p.rhyme_scheme == SHAKESPEAREAN]
    lines = [line for p in poems for line in p.lines]
    syllables = collections.Counter(line.syllables for line in lines)
    metres = collections.Counter(p.metre for p in poems)
    print(f"Sonnets: {len(poems)} poems, {len(lines)} lines, analysed in {seconds:.1f} s")
    print(f"  exact {SHAKESPEAREAN}: {len(exact)} / {len(counted)} ({len(exact) / len(counted):.1%}; sonnets 99 and 126 not counted)")
    print(f"  lines with exactly 10 syllables: {syllables[10]} / {len(lines)} ({syllables[10] / len(lines):.1%}); "
          f"11: {syllables[11]}, 9: {syllables[9]}, other: {len(lines) - syllables[9] - syllables[10] - syllables[11]}")
    print(f"  metres: {dict(metres.most_common())}; mean regularity {sum(p.metre_score for p in poems) / len(poems):.3f}")
    if show_failures:
        for k, p in counted:
            if p.rhyme_scheme != SHAKESPEAREAN:
                print(f"    {k:>3} {p.rhyme_scheme}  {' '.join(line.end_word for line in p.lines)}")
    return {"exact": len(exact), "counted": len(counted), "ten_share": syllables[10] / len(lines)}


def sweep_timing(model_path: Path, index: CorpusIndex) -> float:
    bundle = load_model(model_path, device="cpu")
    start = time.perf_counter()
    df = sweep(bundle.model, bundle.vocab, temperatures=(0.3, 0.6, 0.9, 1.2, 1.5), samples_per_temperature=5,
               chars=400, seed=0, index=index)
    seconds = time.perf_counter() - start
    print(f"Sweep: {len(df)} poems (5 temperatures x 5) of 400 chars in {seconds:.1f} s (target: under 30 s)")
    print(df.drop(columns=["sample", "text"]).groupby("temperature").mean().round(3).to_string())
    return seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "pretrained" / "default.safetensors")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument("--quiet", action="store_true", help="do not list the sonnets whose scheme differs")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    text = decode_bytes(resolve_corpus("sonnets").read_bytes())
    sonnets_report(text, show_failures=not args.quiet)
    if not args.skip_sweep:
        sweep_timing(args.model, CorpusIndex(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
