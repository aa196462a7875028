"""Poems in form against plain sampling: 20 poems per form with the shipped base and with the base
fine-tuned one minute on the Sonnets, each beside plain sampling at the same temperature and seeds.

    python -m benchmarks.bench_compose                  # ~15 minutes on 2 vCPUs
    python -m benchmarks.bench_compose --poems 3 --finetune-s 10 --forms sonnet,haiku   # a smoke run

Per form and decoder: the share of rhyme pairs (lines of one rhyme group) that truly rhyme by the
CMU dictionary (the same phones from the last stressed vowel on, a word with itself not counted),
the share of lines in the form's syllable range (count read as the app reads it: against the
line's metre where the form has one), the real-word share (known words: the CMU dictionary, the
shipped word table and the fine-tuning corpus), repeated lines, copied 4-word phrases (share) and
whole lines copied from the training text, the model's own bits per character of the poem's lines
(the same unconstrained measure for both decoders) and seconds per poem. Then: real-word share at
temperature 1.0, distinct word pairs at 0.1, one sonnet as a whole `compose` process, and four
temperature columns. Writes benchmarks/results/compose.json and compose.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import torch
from pronouncing import rhyming_part

from poetry_lab.analysis.metrics import (
    CorpusIndex,
    copied_ngram_share,
    distinct_n,
    repeated_lines,
)
from poetry_lab.analysis.pronounce import in_dictionary, pronunciations
from poetry_lab.compose import FORMS, ComposeConfig, Composer, plan
from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.train import TrainConfig, Trainer
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import decode_bytes
from poetry_lab.data.text import words
from poetry_lab.runs.prepare import copy_bundle, extend_vocab
from poetry_lab.runs.presets import FINETUNE_TRAIN, get_preset
from poetry_lab.runs.writer import WriterTuning, finetune_writer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def true_rhyme(a: str, b: str) -> bool:
    """The same phones from the last stressed vowel on, in some pronunciation of each; a word with itself is no rhyme."""
    if not a or not b or a.lower() == b.lower():
        return False
    pa = {rhyming_part(p) for p in pronunciations(a)}
    return bool(pa & {rhyming_part(p) for p in pronunciations(b)})


def finetune(base, text: str, seconds: float):
    """The base's character model trained `seconds` on `text` (and its writer, if it has one, `seconds` more)."""
    tuned = extend_vocab(copy_bundle(base), sorted(set(text) - set(base.vocab.chars)))
    tuned.model.config.dropout = 0.0
    kw = {**get_preset("balanced").train, **FINETUNE_TRAIN, "minutes": seconds / 60, "patience": None, "seed": 0}
    result = Trainer(tuned.model, tuned.vocab.encode(text), None, TrainConfig(**kw)).fit()
    tuned.model.eval()
    if base.writer is not None:  # as a run teaches its writer after the characters (poetry_lab.runs.writer)
        tuned.writer, _ = finetune_writer(base.writer, text, "", WriterTuning(seconds=seconds))
    return tuned, result.steps


@torch.inference_mode()
def bits_per_char(bundle, text: str) -> float:
    """The model's own surprise at `text` (after a blank line, as a poem starts), bits per character."""
    ids = torch.as_tensor(bundle.vocab.encode("\n\n" + text + "\n"), dtype=torch.long).unsqueeze(0)
    logits, _, _ = bundle.model(ids[:, :-1])
    nll = torch.nn.functional.cross_entropy(logits[0, 1:], ids[0, 2:], reduction="mean")
    return float(nll) / math.log(2)


def poem_measures(poem, form: str, known, index: CorpusIndex | None, corpus_lines: set[str] | None, bundle) -> dict:
    plans = plan(form, len(poem.lines) if FORMS[form].any_length else None)
    lines = poem.lines
    groups: dict[str, list[int]] = {}
    for k, p in enumerate(plans[: len(lines)]):
        if p.group:
            groups.setdefault(p.group, []).append(k)
    pairs = [(i, j) for g in groups.values() for i, j in combinations(g, 2)]
    rhymed = sum(true_rhyme(lines[i].end_word, lines[j].end_word) for i, j in pairs)
    in_range = sum(p.lo <= line.syllables <= p.hi for line, p in zip(lines, plans))
    ws = words(poem.text.replace("’", "'"))
    real = sum(w in known or in_dictionary(w) for w in ws)
    text = poem.text
    # a line of three words or more (a heading such as "XII" is not a copied line of verse)
    copied_lines = sum(len(words(line.text)) >= 3 and line.text.strip().lower().rstrip(",.;:!?") in corpus_lines
                       for line in lines) if corpus_lines else None
    share = copied_ngram_share(text, index) if index else None
    return {"pairs": len(pairs), "rhymed": rhymed, "lines": len(lines), "planned": len(plans), "in_range": in_range,
            "words": len(ws), "real": real, "repeated_lines": repeated_lines(text), "copied_4gram": share,
            "copied_lines": copied_lines, "bits": bits_per_char(bundle, "\n".join(line.text for line in lines)),
            "seconds": poem.seconds, "distinct_2": distinct_n(text, 2)}


def summarise(rows: list[dict]) -> dict:
    def ratio(a, b):
        total = sum(r[b] for r in rows)
        return round(sum(r[a] for r in rows) / total, 4) if total else None
    shares = [r["copied_4gram"] for r in rows if r["copied_4gram"] is not None]
    copied = [r["copied_lines"] for r in rows if r["copied_lines"] is not None]
    return {"true_rhyme": ratio("rhymed", "pairs"), "in_range": ratio("in_range", "planned"), "real_words": ratio("real", "words"),
            "repeated_lines": sum(r["repeated_lines"] for r in rows), "copied_4gram": round(statistics.mean(shares), 4) if shares else None,
            "copied_lines": sum(copied) if copied else None, "bits_per_char": round(statistics.mean(r["bits"] for r in rows), 4),
            "seconds": round(statistics.mean(r["seconds"] for r in rows), 3), "distinct_2": round(statistics.mean(r["distinct_2"] for r in rows), 4),
            "poems": len(rows)}


def run_forms(composer: Composer, bundle, forms, n: int, temperature: float, known, index, corpus_lines) -> dict:
    out = {}
    for form in forms:
        res = {}
        for raw in (False, True):
            rows = []
            for seed in range(n):
                poem = composer.compose(ComposeConfig(form=form, temperature=temperature, seed=seed, raw=raw))
                rows.append(poem_measures(poem, form, known, index, corpus_lines, bundle))
                if seed == 0:
                    res[f"example_{'plain' if raw else 'compose'}"] = poem.text
            res["plain" if raw else "compose"] = summarise(rows)
        out[form] = res
        print(f"  {form}: compose {res['compose']}\n  {'':{len(form)}}  plain   {res['plain']}\n{res['example_compose']}", flush=True)
    return out


def sweep_goals(composer: Composer, bundle, n: int, known) -> dict:
    out = {}
    for t in (0.1, 1.0):
        for raw in (False, True):
            rows = [poem_measures(composer.compose(ComposeConfig(form="sonnet", temperature=t, seed=s, raw=raw)), "sonnet",
                                  known, None, None, bundle) for s in range(n)]
            out[f"{'plain' if raw else 'compose'}@{t:g}"] = summarise(rows)
    return out


def timings(model_path: Path, composer: Composer, repeats: int) -> dict:
    whole = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "poetry_lab", "compose", str(model_path), "--form", "sonnet", "--seed", str(seed)],
                       cwd=REPO, check=True, capture_output=True)
        whole.append(time.perf_counter() - t0)
    fresh = Composer(composer.bundle)
    t0 = time.perf_counter()
    for t in (0.2, 0.5, 0.8, 1.0):
        fresh.compose(ComposeConfig(form="sonnet", temperature=t, seed=7))
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in (0.2, 0.5, 0.8, 1.0):
        fresh.compose(ComposeConfig(form="sonnet", temperature=t, seed=8))
    warm = time.perf_counter() - t0
    return {"sonnet_process_s": [round(x, 2) for x in whole], "four_columns_first_s": round(cold, 2), "four_columns_warm_s": round(warm, 2)}


def table(report: dict) -> str:
    out = ["| model | form | decoder | true rhyme pairs | lines in syllable range | real words | repeated lines | copied 4-grams | copied lines | bits/char | s/poem |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model in ("base", "sonnets_1min"):
        for form, res in report[model]["forms"].items():
            for dec in ("compose", "plain"):
                r = res[dec]
                out.append(f"| {model} | {form} | {dec} | {_f(r['true_rhyme'])} | {_f(r['in_range'])} | {_f(r['real_words'])} | "
                           f"{r['repeated_lines']} | {_f(r['copied_4gram'])} | {_f(r['copied_lines'])} | {r['bits_per_char']:.3f} | {r['seconds']:.2f} |")
    out += ["", "| model | decoder @ temperature | real words | distinct word pairs | bits/char |", "|---|---|---|---|---|"]
    for model in ("base", "sonnets_1min"):
        for key, r in report[model]["goals"].items():
            out.append(f"| {model} | {key} | {_f(r['real_words'])} | {_f(r['distinct_2'])} | {r['bits_per_char']:.3f} |")
    return "\n".join(out)


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=str(REPO / "pretrained" / "base_forward.safetensors"))
    ap.add_argument("--poems", type=int, default=20)
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--finetune-s", type=float, default=60)
    ap.add_argument("--timing-repeats", type=int, default=3)
    ap.add_argument("--base-copies", action="store_true", help="check the base's lines against every line of its 120 MB corpus")
    args = ap.parse_args()
    forms = args.forms.split(",")
    base = load_model(args.base, device="cpu")
    sonnets = decode_bytes(resolve_corpus("sonnets").read_bytes())
    report = {"temperature": args.temperature, "poems": args.poems, "torch_threads": torch.get_num_threads()}
    base_lines = None
    if args.base_copies:
        with gzip.open(resolve_corpus("gutenberg_poetry"), "rt", encoding="utf-8") as f:
            base_lines = {ln.strip().lower().rstrip(",.;:!?") for ln in f}
    composer = Composer(base)
    known = set(composer.lexicon.info)
    print(f"base ({Path(args.base).name}), temperature {args.temperature}", flush=True)
    report["base"] = {"forms": run_forms(composer, base, forms, args.poems, args.temperature, known, None, base_lines),
                      "goals": sweep_goals(composer, base, args.poems, known)}
    report["timing"] = timings(Path(args.base), composer, args.timing_repeats)
    print(f"timing: {report['timing']}", flush=True)
    print(f"fine-tuning on the Sonnets for {args.finetune_s:g} s", flush=True)
    tuned, steps = finetune(base, sonnets, args.finetune_s)
    index = CorpusIndex(sonnets)
    composer = Composer(tuned, corpus=index)
    known = set(composer.lexicon.info)
    lines = {ln.strip().lower().rstrip(",.;:!?") for ln in sonnets.splitlines() if ln.strip()}
    report["sonnets_1min"] = {"steps": steps, "forms": run_forms(composer, tuned, forms, args.poems, args.temperature, known, index, lines),
                              "goals": sweep_goals(composer, tuned, args.poems, known)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compose.json").write_text(json.dumps(report, indent=1))
    md = table(report)
    (RESULTS / "compose.md").write_text(md + "\n")
    print(md)
    print(f"wrote {RESULTS / 'compose.json'} and compose.md")


if __name__ == "__main__":
    main()
