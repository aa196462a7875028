"""Do a poet's themes hang together? A blind word-intrusion test of the theme methods (Chang et al., 2009).

    python -m benchmarks.bench_intrusion build --methods tfidf,lda,elmo,autoencoder,minilm \\
        --corpora sonnets,milton,gutenberg --n-themes 24 --out /work/intrusion/run1
    # give a reader run1/items.md and nothing else; each writes a CSV `item,intruder`
    python -m benchmarks.bench_intrusion score --run /work/intrusion/run1 --answers reader1.csv reader2.csv

Build. Each corpus of --corpora (a bundled name or a file; "gutenberg" is benchmarks/make_gutenberg_poems.py's
600 excerpts of 8 lines, built into --out) goes through plan_themes, as the app and the CLI send it, and
each method of --methods is fitted on its poems with --n-themes themes (24 by default, so each corpus gives at
least 24 items per method). Each theme with five top words or more gives one item: its top five words and
an intruder, the top word of another theme (drawn at random) that is not among this theme's top ten words
nor already in the item. The six words are shuffled, the items of every corpus and method are shuffled
together and numbered 1..N, so one pass reads them all and nothing in items.md says which corpus, method
or word is which (INSTRUCTIONS below are its whole text besides the items). key.json (per item: corpus,
method, theme, intruder, its theme, the six words) and themes.json (every fitted theme's top words,
sizes, plan notes) stay with whoever scores. Same arguments and code, same files (--seed).

Score. Per corpus x method and reader: precision, the share of the items where the reader picked the
intruder (chance 1/6); items not answered count as missed and are listed. The mean row averages the
readers' precisions. The answers CSV may have a header, a code fence, blank lines, spaces and any case;
rows that cannot be read (no number, no such item, a word that is not one of the item's six, an item
twice) are counted and listed, not fatal. Writes score.json and score.md in the run folder.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.bench_readability import add_score_command, reader_names, require_files, run_command
from benchmarks.choices import Answers, mean_over_readers, problem_lines, read_choices, tally

SHOWN = 5  # a theme's own words in an item
NOT_OWN = 10  # the intruder is none of the theme's top words down to this rank
CHANCE = 1 / (SHOWN + 1)
INSTRUCTIONS = """# Word intrusion

Each item below lists six words. Five of them were chosen together because they describe one group of
poems; one word does not belong with the other five. For each item, pick the one word that does not
belong. Trust your first reading; there is exactly one such word in every item.

Answer with a CSV file with the header `item,intruder` and one row per item, e.g. `1,river`.
"""


@dataclass(frozen=True)
class Item:
    corpus: str
    method: str
    theme: int  # 0-based theme of the fitted pipeline
    words: tuple[str, ...]  # the six words, shuffled
    intruder: str
    intruder_theme: int


def theme_items(corpus: str, method: str, top_words: list[list[str]], rng: random.Random) -> list[Item]:
    """One item per theme with SHOWN words or more: its top SHOWN words and the top word of another
    theme (drawn with rng) that is not among its NOT_OWN top words."""
    items = []
    for t, words in enumerate(top_words):
        if len(words) < SHOWN:
            continue
        others = [o for o in range(len(top_words)) if o != t]
        rng.shuffle(others)
        picked = next(((o, w) for o in others for w in top_words[o] if w not in words[:NOT_OWN]), None)
        if picked is None:
            continue
        shown = [*words[:SHOWN], picked[1]]
        rng.shuffle(shown)
        items.append(Item(corpus, method, t, tuple(shown), picked[1], picked[0]))
    return items


def items_text(items: list[Item]) -> str:
    """What a reader sees: the instructions and `Item N: w1, ..., w6`, numbered in the given order."""
    lines = [f"Item {n}: {', '.join(item.words)}" for n, item in enumerate(items, 1)]
    return INSTRUCTIONS + "\n" + "\n".join(lines) + "\n"


def corpus_poems(name: str, out: Path) -> list[str]:
    """The corpus's poems as read (load_corpus); "gutenberg" is built into `out` first."""
    from benchmarks.make_gutenberg_poems import corpus_file
    from poetry_lab.data.corpus import load_corpus

    return load_corpus([corpus_file(name, out)]).poems


def fit_themes(poems: list[str], method: str, n_themes: int, seed: int) -> dict:
    """plan_themes then one method's fit: its top words, sizes, plan notes and seconds."""
    from poetry_lab.themes.methods import make_theme_pipeline, plan_themes

    plan = plan_themes(poems, method, n_themes)
    start = time.perf_counter()
    pipe = make_theme_pipeline(method, plan.n_themes, seed).fit(plan.poems)
    return {"top_words": [[w for w, _ in ws] for ws in pipe.top_words_], "sizes": pipe.sizes_.tolist(),
            "poems": len(plan.poems), "notes": plan.notes, "seconds": round(time.perf_counter() - start, 2)}


def build(corpora: list[str], methods: list[str], n_themes: int, out: Path, seed: int = 0) -> list[dict]:
    """Fit, write items.md, key.json and themes.json into `out`; the key's items."""
    from poetry_lab.store import Store

    out.mkdir(parents=True, exist_ok=True)
    rng, items, themes = random.Random(seed), [], {}
    with Store().active():
        for corpus in corpora:
            poems = corpus_poems(corpus, out)
            for method in methods:
                fitted = fit_themes(poems, method, n_themes, seed)
                themes[f"{corpus}/{method}"] = fitted
                items += theme_items(corpus, method, fitted["top_words"], rng)
                print(f"{corpus:>10} {method:<12} {fitted['poems']} poems, {len(fitted['sizes'])} themes, "
                      f"{fitted['seconds']:.1f} s", flush=True)
    rng.shuffle(items)
    key = [{"item": n, **asdict(item), "words": list(item.words)} for n, item in enumerate(items, 1)]
    (out / "items.md").write_text(items_text(items), encoding="utf-8")
    (out / "key.json").write_text(json.dumps({"seed": seed, "n_themes": n_themes, "items": key}, indent=1), encoding="utf-8")
    (out / "themes.json").write_text(json.dumps(themes, indent=1), encoding="utf-8")
    return key


# ---- scoring -------------------------------------------------------------------------------------

def read_answers(text: str, items: dict[int, list[str]]) -> Answers:
    """One reader's CSV `item,intruder` (items: number -> its six words); see the module doc for what is tolerated."""
    return read_choices(text, "intruder", r"(?:item\s*)?(\d+)\s*[,;:|\t]\s*[\"'`]?([^\"'`,]*?)[\"'`]?\s*,?", items, str.lower,
                        lambda item, word: None if word in items[item] else f"{word!r} is not one of item {item}'s words",
                        re.IGNORECASE)


def precision_table(key: list[dict], answers: Answers) -> dict[str, dict]:
    """Per "corpus/method": items, answered, correct and precision (correct / items)."""
    return tally(key, answers, lambda e: [f"{e['corpus']}/{e['method']}"], "intruder", "precision")


def score(run: Path, answer_paths: list[Path]) -> dict:
    """Read the key and every reader's answers; write score.json and score.md in `run`."""
    require_files(run, answer_paths)
    key = json.loads((run / "key.json").read_text(encoding="utf-8"))["items"]
    words = {e["item"]: e["words"] for e in key}
    readers = {}
    for name, path in zip(reader_names(answer_paths), answer_paths):
        answers = read_answers(path.read_text(encoding="utf-8", errors="replace"), words)
        readers[name] = {"file": str(path), "cells": precision_table(key, answers), "problems": answers.problems,
                         "bad_rows": len(answers.problems), "missing_items": sorted(set(words) - set(answers.picks))}
    report = {"run": str(run), "chance": round(CHANCE, 3), "readers": readers, "mean": mean_over_readers(readers)}
    (run / "score.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (run / "score.md").write_text(score_table(report) + "\n", encoding="utf-8")
    return report


def score_table(report: dict) -> str:
    """corpus | method | mean precision | one column per reader; then each reader's problems."""
    names = list(report["readers"])
    out = [f"precision: share of items where the reader picked the intruder (chance {report['chance']:.3f})", "",
           "| corpus | method | items | mean | " + " | ".join(names) + " |", "|---|---|---|---|" + "---|" * len(names)]
    for cell, mean in report["mean"].items():
        corpus, method = cell.split("/", 1)
        per = [report["readers"][n]["cells"][cell] for n in names]
        out.append(f"| {corpus} | {method} | {per[0]['items']} | {mean:.3f} | "
                   + " | ".join(f"{p['precision']:.3f} ({p['answered']} answered)" for p in per) + " |")
    return "\n".join(out + problem_lines(report["readers"]))


# ---- command line --------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write items.md (for readers), key.json and themes.json")
    b.add_argument("--corpora", default="sonnets,milton,gutenberg", help="comma-separated names or files")
    b.add_argument("--methods", default="tfidf,lda,elmo,autoencoder,minilm", help="comma-separated theme methods")
    b.add_argument("--n-themes", type=int, default=24, help="themes per fit (items per corpus and method, at most)")
    b.add_argument("--seed", type=int, default=0, help="the fits' random_state, the intruders and the order")
    b.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (1 is steadier on a shared 2-core CPU)")
    b.add_argument("--out", type=Path, required=True)
    add_score_command(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    def build_items() -> str:
        key = build(args.corpora.split(","), args.methods.split(","), args.n_themes, args.out, args.seed)
        return f"wrote {len(key)} items: {args.out / 'items.md'} for readers; key.json and themes.json beside it"

    run_command(args, build_items, score, score_table)


if __name__ == "__main__":
    main()
