"""Theme benchmark: the four theme methods end to end on the Sonnets, timed step by step, cold.

    python -m benchmarks.bench_themes                      # ~35 s on an idle 2-core CPU
    python -m benchmarks.bench_themes --check-determinism  # then fits everything again and compares labels
    python -m benchmarks.bench_themes --threads 2 --k 8

Cold means from a fresh process: loading the pretrained forward model, training the backward model
on the reversed poems (nothing shipped), embedding the poems, fitting the four methods, placing three
generated poems and building every figure. The total is the number that must stay under 60 s. The
load average is printed because other work on a 2-core machine changes every timing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch

from poetry_lab.core.sampling import SampleConfig, sample
from poetry_lab.data.corpus import load_corpus
from poetry_lab.figures.themes import comparison_figure, theme_map, top_words_figure
from poetry_lab.themes.embeddings import LMEmbeddings, default_models
from poetry_lab.themes.methods import METHODS, compare_methods, poem_body


class Clock:
    def __init__(self):
        self.steps: dict[str, float] = {}
        self.start = time.perf_counter()

    def step(self, name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        self.steps[name] = time.perf_counter() - t0
        print(f"  {name:<34} {self.steps[name]:6.1f} s", flush=True)
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="sonnets")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadier on a shared 2-core CPU)")
    ap.add_argument("--backward-steps", type=int, default=400)
    ap.add_argument("--backward-seconds", type=float, default=45.0)
    ap.add_argument("--check-determinism", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the timings and the table here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads {args.threads}")
    opts = dict(backward_steps=args.backward_steps, backward_seconds=args.backward_seconds)

    clock = Clock()
    poems = clock.step("read and split the corpus", lambda: load_corpus([args.corpus]).poems)
    forward, backward = clock.step("load the models (and the backward twin, if one ships)", default_models)
    bodies = [poem_body(p) for p in poems]
    what = "fit the embedder (backward model shipped)" if backward else "train the backward model"
    emb = clock.step(what, lambda: LMEmbeddings(forward, backward, random_state=args.seed, **opts).fit(bodies))
    clock.step("embed the poems (both directions)", lambda: emb.transform(bodies))
    table, fitted = clock.step(f"fit the {len(METHODS)} methods (k={args.k})",
                               lambda: compare_methods(poems, args.k, forward, backward, args.seed, **opts))
    generated = [s.text for s in sample(forward.model, forward.vocab, "", SampleConfig(temperatures=(0.5, 0.8, 1.0), max_chars=500, seed=1))]
    placed = clock.step("place 3 generated poems (x4 methods)", lambda: {m: p.place(generated) for m, p in fitted.items()})

    def figures():
        figs = [comparison_figure(table)]
        for p in fitted.values():
            figs += [theme_map(p.map_points(generated, ["T=0.5", "T=0.8", "T=1.0"])), top_words_figure(p.top_words_, p.sizes_.tolist())]
        return [f.to_dict() for f in figs]

    clock.step("build the 9 figures", figures)
    total = time.perf_counter() - clock.start
    backward_facts = emb.backward_.facts
    print(f"  {'TOTAL (cold)':<34} {total:6.1f} s   (limit 60 s)")
    print(f"backward model: {backward_facts.get('name', 'trained here')}, {backward_facts.get('steps')} steps, "
          f"validation {backward_facts.get('best_val_loss', float('nan')):.3f} nats/char; load average after: {os.getloadavg()[0]:.2f}")

    pd.set_option("display.width", 200)
    cols = ["method", "silhouette", "coherence_npmi", "coherence_npmi_chance", "coherence_umass", "sizes", "largest_share", "seconds"]
    print("\n" + table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for m, p in fitted.items():
        print(f"\n{m}: " + " | ".join(f"{row.theme + 1}: {', '.join(row.top_words.split(', ')[:6])}" for row in p.summary().itertuples()))
        print("   generated -> themes " + ", ".join(str(pl.theme + 1) for pl in placed[m]) +
              f"; nearest to the first: {placed[m][0].nearest[0][1]!r}")

    if args.check_determinism:
        again, refit = compare_methods(poems, args.k, forward, backward, args.seed, **opts)
        same = {m: bool((fitted[m].labels_ == refit[m].labels_).all()) for m in fitted}
        print(f"\nsame labels on a second fit: {same}")
    if args.json:
        args.json.write_text(json.dumps({"steps_s": clock.steps, "total_s": total, "threads": args.threads,
                                         "table": json.loads(table.to_json(orient="records"))}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
