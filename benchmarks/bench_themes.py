"""Theme benchmark: the five theme methods end to end on the Sonnets, timed step by step, cold; then
an honest comparison of the methods on several corpora and seeds.

    python -m benchmarks.bench_themes                      # cold timing on the Sonnets only (~30 s)
    python -m benchmarks.bench_themes --compare            # + Sonnets, Milton, Gutenberg excerpts, seeds 0-2 (~4 min)
    python -m benchmarks.bench_themes --check-determinism  # then fits everything again and compares labels
    python -m benchmarks.bench_themes --threads 2 --k 8

Cold means from a fresh process: loading the pretrained forward model and its shipped backward twin,
importing and loading the sentence encoder, embedding the poems, fitting the five methods, placing
three generated poems and building every figure. The goal is 25 s for the Sonnets. The load average
is printed because other work on a 2-core machine changes every timing.

--compare fits every method on each corpus of --corpora (bundled names or files; "gutenberg" is
built first into --out by make_gutenberg_poems.py: 600 excerpts of 8 lines) for each seed of
--seeds, and reports per method the means over seeds of: NPMI coherence of the themes' top words,
its chance level (random themes of the same sizes), their difference ("gain"), topic diversity
(distinct share of all top words), silhouette in two spaces common to every method (TF-IDF words
and MiniLM sentence vectors, both cosine; each flatters its own method) and seconds (seed 0, so the
embedding is included). The tables go to stdout and to --out/themes_compare.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch
from make_gutenberg_poems import corpus_file  # noqa: E402  (beside this file)

from poetry_lab.core.sampling import SampleConfig, sample
from poetry_lab.data.corpus import load_corpus
from poetry_lab.figures.themes import comparison_figure, theme_map, top_words_figure
from poetry_lab.store import Store
from poetry_lab.themes.embeddings import LMEmbeddings, default_models
from poetry_lab.themes.encoder import SentenceEmbeddings, encode_poems, load_encoder
from poetry_lab.themes.methods import (
    METHODS,
    common_silhouette,
    compare_methods,
    plan_themes,
)
from poetry_lab.themes.words import poem_body


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
    ap.add_argument("--compare", action="store_true", help="then compare the methods on --corpora over --seeds")
    ap.add_argument("--corpora", default="sonnets,milton,gutenberg")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=Path("/tmp/poetry_lab_bench"), help="where the corpus and tables go")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads {args.threads}")
    with Store().active() as store:  # what the app's sessions share: the models, the encoder, the vectors
        return run(args, store)


def run(args, store: Store) -> int:
    opts = dict(backward_steps=args.backward_steps, backward_seconds=args.backward_seconds)
    clock = Clock()
    poems = clock.step("read and split the corpus", lambda: load_corpus([args.corpus]).poems)
    forward, backward = clock.step("load the models (and the backward twin, if one ships)", lambda: default_models(store))
    bodies = [poem_body(p) for p in poems]
    what = "fit the embedder (backward model shipped)" if backward else "train the backward model"
    emb = clock.step(what, lambda: LMEmbeddings(forward, backward, random_state=args.seed, **opts).fit(bodies))
    clock.step("embed the poems (both directions)", lambda: emb.transform(bodies))
    clock.step("import and load the sentence encoder", lambda: load_encoder(store))
    clock.step("encode the poems (MiniLM)", lambda: SentenceEmbeddings().fit(bodies).transform(bodies))
    table, fitted = clock.step(f"fit the {len(METHODS)} methods (k={args.k})",
                               lambda: compare_methods(poems, args.k, forward, backward, args.seed, **opts))
    generated = [s.text for s in sample(forward.model, forward.vocab, "", SampleConfig(temperatures=(0.5, 0.8, 1.0), max_chars=500, seed=1))]
    placed = clock.step(f"place 3 generated poems (x{len(METHODS)} methods)", lambda: {m: p.place(generated) for m, p in fitted.items()})

    def figures():
        figs = [comparison_figure(table)]
        for p in fitted.values():
            figs += [theme_map(p.map_points(generated, ["T=0.5", "T=0.8", "T=1.0"])), top_words_figure(p.top_words_, p.sizes_.tolist())]
        return [f.to_dict() for f in figs]

    clock.step(f"build the {1 + 2 * len(METHODS)} figures", figures)
    total = time.perf_counter() - clock.start
    backward_facts = emb.backward_.facts
    print(f"  {'TOTAL (cold)':<34} {total:6.1f} s   (goal 25 s)")
    print(f"backward model: {backward_facts.get('name', 'trained here')}, {backward_facts.get('steps')} steps, "
          f"validation {backward_facts.get('best_val_loss', float('nan')):.3f} nats/char; load average after: {os.getloadavg()[0]:.2f}")

    pd.set_option("display.width", 200)
    cols = ["method", "silhouette", "silhouette_words", "coherence_npmi", "coherence_npmi_chance", "diversity", "sizes", "seconds"]
    print("\n" + table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for m, p in fitted.items():
        print(f"\n{m}: " + " | ".join(f"{row.theme + 1} [{row.label}]: {', '.join(row.top_words.split(', ')[:6])}"
                                      for row in p.summary().itertuples()))
        print("   generated -> themes " + ", ".join(str(pl.theme + 1) for pl in placed[m]) +
              f"; nearest to the first: {placed[m][0].nearest[0][1]!r}")

    if args.check_determinism:
        again, refit = compare_methods(poems, args.k, forward, backward, args.seed, **opts)
        same = {m: bool((fitted[m].labels_ == refit[m].labels_).all()) for m in fitted}
        print(f"\nsame labels on a second fit: {same}")
    if args.json:
        args.json.write_text(json.dumps({"steps_s": clock.steps, "total_s": total, "threads": args.threads,
                                         "table": json.loads(table.to_json(orient="records"))}, indent=1))
    if args.compare:
        compare_corpora(args, forward, backward, store, opts)
    return 0


def corpus_poems(name: str, out: Path) -> list[str]:
    return plan_themes(load_corpus([corpus_file(name, out)]).poems, "all", None).poems


def markdown(df: pd.DataFrame) -> str:
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    rows = [df.columns.tolist(), ["---"] * df.shape[1], *[[cell(v) for v in row] for row in df.itertuples(index=False)]]
    return "\n".join("| " + " | ".join(map(str, r)) + " |" for r in rows)


def compare_corpora(args, forward, backward, store: Store, opts) -> None:
    """Every method on every corpus and seed; means over seeds (see the module doc)."""
    seeds = [int(s) for s in args.seeds.split(",")]
    report, tables = {}, []
    for name in args.corpora.split(","):
        poems = corpus_poems(name, args.out)
        sense = encode_poems([poem_body(p) for p in poems], load_encoder(store), store)  # the common sentence space (cached for minilm too)
        rows = []
        for seed in seeds:
            table, fitted = compare_methods(poems, args.k, forward, backward, seed, **opts)
            table["silhouette_minilm"] = [common_silhouette(sense, fitted[m].labels_) for m in table["method"]]
            table["seed"] = seed
            rows.append(table)
        runs = pd.concat(rows)
        runs["gain"] = runs["coherence_npmi"] - runs["coherence_npmi_chance"]
        cols = ["coherence_npmi", "coherence_npmi_chance", "gain", "diversity", "silhouette_words", "silhouette_minilm"]
        mean = runs.groupby("method", sort=False)[cols].mean()
        mean["gain_min"] = runs.groupby("method", sort=False)["gain"].min()
        mean["gain_max"] = runs.groupby("method", sort=False)["gain"].max()
        mean["seconds"] = runs[runs["seed"] == seeds[0]].set_index("method")["seconds"]
        beat = int((mean["gain"] > 0).sum())
        title = f"{name}: {len(poems)} poems, k={args.k}, seeds {args.seeds}; methods above chance: {beat} of {len(mean)}"
        print(f"\n{title}\n" + mean.to_string(float_format=lambda v: f"{v:.3f}"), flush=True)
        tables.append(f"### {title}\n\n" + markdown(mean.reset_index()))
        report[name] = {"poems": len(poems), "methods_above_chance": beat, "per_seed": json.loads(runs.to_json(orient="records")),
                        "mean": json.loads(mean.reset_index().to_json(orient="records"))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "themes_compare.md").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    (args.out / "themes_compare.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nwrote {args.out / 'themes_compare.md'} and themes_compare.json")


if __name__ == "__main__":
    raise SystemExit(main())
