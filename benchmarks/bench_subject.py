"""Is a poem about what it was asked to be about? A blind subject-identification test (issue #22).

    python -m benchmarks.bench_subject build --named 24 --themes sonnets,milton,gutenberg --n-themes 8 \\
        --out /work/subject/run1
    # give a reader run1/items.md and nothing else; each writes a CSV `item,subject` (a letter A-D)
    python -m benchmarks.bench_subject score --run /work/subject/run1 --answers reader1.csv reader2.csv

Build. Each writer (`--writer NAME=MODEL[@key=value,...]`, as bench_readability reads it; the shipped base
by default) writes one poem per subject, in --form at --temperature, shown whole and exactly as written:
- named subjects: the first --named of benchmarks/data/subjects.txt (fixed before any poem was written),
  poem k on subject k with seed k;
- themes: each corpus of --themes (a bundled name or a file; "gutenberg" is make_gutenberg_poems's 600
  excerpts) sorted into --n-themes themes by the app's default method, as `compose --theme K --corpus`
  sorts it (plan_themes, then the method's pipeline); the poem on theme t has the theme's subject
  (compose.subject.theme_subject: its top words, as the app shows and steers by) and seed 100 + t.
Each item shows the poem and four subjects, A-D: its own and three others drawn at random from the same
list (named subjects from the named ones, a theme's from its own corpus's themes, since a poet picks
among their own themes). The true letter is drawn evenly, the items of every writer and kind are
shuffled together, and nothing in items.md says which is which (INSTRUCTIONS are its whole text besides
the items). key.json keeps, per item, the writer, kind, corpus, subject, choices, answer and poem, and the
share of the poem's lines holding a word related to its subject; themes.json every corpus's themes.

Score. Per writer x kind (named, theme) and reader: accuracy, the share of items where the reader picked
the poem's own subject (chance 0.25); items not answered count as missed. The mean row averages the
readers. Rows that cannot be read are counted and listed, not fatal. Writes score.json and score.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_readability import (
    REPO,
    add_score_command,
    load_writers,
    parse_writer,
    reader_names,
    require_files,
    run_command,
)
from benchmarks.choices import Answers, mean_over_readers, problem_lines, read_choices, tally

SUBJECTS = REPO / "benchmarks" / "data" / "subjects.txt"
DEFAULT_WRITER = "base=pretrained/base_forward.safetensors"
LETTERS = ("A", "B", "C", "D")
CHANCE = 1 / len(LETTERS)
THEME_SEEDS = 100  # a theme's poem has seed THEME_SEEDS + theme, apart from the named subjects' 1..N
INSTRUCTIONS = """# What is the poem about?

Each item below is a poem and four subjects, A to D. The poem was written on exactly one of them. Some
subjects are phrases; some are lists of words that describe a group of poems. For each item, pick the
subject the poem was written on. Trust your reading; there is exactly one right subject in every item.

Answer with a CSV file with the header `item,subject` and one row per item, e.g. `1,C`.
"""


def named_subjects(path: Path = SUBJECTS) -> list[str]:
    """The named subjects, in order (comment lines and blank lines left out)."""
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def named_subject(seed: int) -> str:
    """The named subject of the poem with this seed (1-based, cycling): what bench_readability's about=@named writes on."""
    subjects = named_subjects()
    return subjects[(seed - 1) % len(subjects)]


def corpus_themes(corpus: str, n_themes: int, out: Path) -> list[str]:
    """Each theme of `corpus`, by the app's default method, as the subject compose --theme gives it."""
    from benchmarks.bench_intrusion import corpus_poems, fit_themes
    from poetry_lab.compose.subject import theme_subject
    from poetry_lab.themes.methods import DEFAULT_METHOD

    fitted = fit_themes(corpus_poems(corpus, out), DEFAULT_METHOD, n_themes, 0)
    return [theme_subject(words) for words in fitted["top_words"]]


@dataclass(frozen=True)
class Task:
    kind: str  # "named" or "theme"
    corpus: str  # the theme's corpus ("" for a named subject)
    index: int  # the subject's place in its list
    subjects: tuple[str, ...]  # the list it is drawn from (its own and the distractors)
    seed: int


def tasks(named: int, themes: dict[str, list[str]]) -> list[Task]:
    """What to write: the first `named` named subjects and every theme of every corpus."""
    subjects = named_subjects()
    if named > len(subjects):
        raise SystemExit(f"error: {SUBJECTS} has {len(subjects)} subjects, not {named}")
    out = [Task("named", "", k, tuple(subjects[:max(named, len(LETTERS))]), k + 1) for k in range(named)]
    for corpus, listed in themes.items():
        if len(listed) < len(LETTERS):
            raise SystemExit(f"error: {corpus} gave {len(listed)} themes; an item needs {len(LETTERS)}")
        out += [Task("theme", corpus, t, tuple(listed), THEME_SEEDS + t) for t in range(len(listed))]
    return out


def choices(task: Task, answer: str, rng: random.Random) -> list[str]:
    """The four subjects shown, the task's own at letter `answer`, three others of its list around it."""
    others = rng.sample([s for k, s in enumerate(task.subjects) if k != task.index], len(LETTERS) - 1)
    others.insert(LETTERS.index(answer), task.subjects[task.index])
    return others


def items_text(entries: list[dict]) -> str:
    out = [INSTRUCTIONS]
    for e in entries:
        out += [f"## Item {e['item']}", "", "```", e["poem"], "```", ""]
        out += [f"{letter}. {subject}" for letter, subject in zip(LETTERS, e["choices"])] + [""]
    return "\n".join(out)


def build(writer_specs: list[str], named: int, theme_corpora: list[str], n_themes: int, out: Path, form: str = "sonnet",
          temperature: float = 0.8, seed: int = 0) -> list[dict]:
    """Write items.md, key.json and themes.json into `out`; the key's items."""
    from poetry_lab.compose import ComposeConfig
    from poetry_lab.store import Store

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with Store().active():
        themes = {c: corpus_themes(c, n_themes, out) for c in theme_corpora}
    todo = tasks(named, themes)
    entries = []
    for writer in load_writers([parse_writer(s) for s in writer_specs], base_copies=False):
        answers = [LETTERS[k % len(LETTERS)] for k in range(len(todo))]
        rng.shuffle(answers)
        t0 = time.perf_counter()
        for task, answer in zip(todo, answers):
            subject = task.subjects[task.index]
            poem = writer.composer.compose(ComposeConfig(**{"form": form, "temperature": temperature, **writer.spec.options,
                                                            "seed": task.seed, "about": subject}))
            held = sum(bool(line.related) for line in poem.lines) / len(poem.lines)
            entries.append({"writer": writer.spec.name, "kind": task.kind, "corpus": task.corpus, "subject": subject,
                            "answer": answer, "choices": choices(task, answer, rng), "seed": task.seed, "poem": poem.text,
                            "lines_with_related": round(held, 3), "seconds": round(poem.seconds, 2)})
        print(f"  {writer.spec.name}: {len(todo)} poems in {time.perf_counter() - t0:.0f} s", flush=True)
    rng.shuffle(entries)
    for n, e in enumerate(entries, 1):
        e["item"] = n
    (out / "items.md").write_text(items_text(entries), encoding="utf-8")
    key = {"form": form, "temperature": temperature, "seed": seed, "writers": writer_specs, "n_themes": n_themes, "items": entries}
    (out / "key.json").write_text(json.dumps(key, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "themes.json").write_text(json.dumps(themes, indent=1, ensure_ascii=False), encoding="utf-8")
    return entries


# ---- scoring -------------------------------------------------------------------------------------

def read_answers(text: str, items: set[int]) -> Answers:
    """One reader's CSV `item,subject` (a letter; a header, code fences, spaces and any case are tolerated)."""
    return read_choices(text, "subject", r"(?:item\s*)?(\d+)\s*[,;:|\t]\s*[\"'`(]?([A-Da-d])[\"'`).]?(?:\s.*)?,?", items, str.upper,
                        what=" with a letter A-D")


def accuracy_table(key: list[dict], answers: Answers) -> dict[str, dict]:
    """Per "writer/kind" (and "writer/theme:corpus"): items, answered, correct, accuracy."""
    def cells(e: dict) -> list[str]:
        return [f"{e['writer']}/{e['kind']}"] + ([f"{e['writer']}/{e['kind']}:{e['corpus']}"] if e["corpus"] else [])

    return tally(key, answers, cells, "answer", "accuracy")


def score(run: Path, answer_paths: list[Path]) -> dict:
    """Read the key and every reader's answers; write score.json and score.md in `run`."""
    require_files(run, answer_paths)
    key = json.loads((run / "key.json").read_text(encoding="utf-8"))["items"]
    numbers = {e["item"] for e in key}
    readers = {}
    for name, path in zip(reader_names(answer_paths), answer_paths):
        answers = read_answers(path.read_text(encoding="utf-8", errors="replace"), numbers)
        readers[name] = {"file": str(path), "cells": accuracy_table(key, answers), "problems": answers.problems,
                         "missing_items": sorted(numbers - set(answers.picks))}
    mean = mean_over_readers(readers)
    held: dict[str, list[float]] = {}
    for e in key:
        held.setdefault(f"{e['writer']}/{e['kind']}", []).append(e["lines_with_related"])
    report = {"run": str(run), "chance": CHANCE, "readers": readers, "mean": mean,
              "lines_with_related": {c: round(statistics.mean(v), 3) for c, v in held.items()}}
    (run / "score.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (run / "score.md").write_text(score_table(report) + "\n", encoding="utf-8")
    return report


def score_table(report: dict) -> str:
    names = list(report["readers"])
    out = [f"accuracy: share of items where the reader picked the poem's own subject (chance {report['chance']:.2f})", "",
           "| writer | subjects | items | mean | " + " | ".join(names) + " |", "|---|---|---|---|" + "---|" * len(names)]
    for cell, mean in report["mean"].items():
        writer, kind = cell.split("/", 1)
        per = [report["readers"][n]["cells"][cell] for n in names]
        out.append(f"| {writer} | {kind} | {per[0]['items']} | {mean:.3f} | "
                   + " | ".join(f"{p['accuracy']:.3f} ({p['answered']} answered)" for p in per) + " |")
    out += ["", "lines holding a word related to the subject: "
            + ", ".join(f"{c} {v:.2f}" for c, v in report["lines_with_related"].items())]
    return "\n".join(out + problem_lines(report["readers"]))


# ---- command line --------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write items.md (for readers), key.json and themes.json")
    b.add_argument("--writer", action="append", default=None, help=f"NAME=MODEL[@key=value,...] (default {DEFAULT_WRITER})")
    b.add_argument("--named", type=int, default=24, help="named subjects (the first N of benchmarks/data/subjects.txt)")
    b.add_argument("--themes", default="sonnets,milton,gutenberg", help="comma-separated corpora whose themes are subjects ('' for none)")
    b.add_argument("--n-themes", type=int, default=8, help="themes per corpus (one poem each)")
    b.add_argument("--form", default="sonnet")
    b.add_argument("--temperature", type=float, default=0.8)
    b.add_argument("--seed", type=int, default=0, help="the distractors, the letters and the order")
    b.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (1 is steadier on a shared 2-core CPU)")
    b.add_argument("--out", type=Path, required=True)
    add_score_command(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    def build_items() -> str:
        corpora = [c for c in args.themes.split(",") if c.strip()]
        key = build(args.writer or [DEFAULT_WRITER], args.named, corpora, args.n_themes, args.out, args.form,
                    args.temperature, args.seed)
        return f"wrote {len(key)} items: {args.out / 'items.md'} for readers; key.json and themes.json beside it"

    run_command(args, build_items, score, score_table)


if __name__ == "__main__":
    main()
