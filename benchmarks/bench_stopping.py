"""When a default training stops: the app's defaults on a 9 KB poem file, and on whole corpora.

    python -m benchmarks.bench_stopping                         # two 9 KB files, then the Sonnets and Milton
    python -m benchmarks.bench_stopping --texts milton9k,sonnets9k --threads 1 --label after
    python -m benchmarks.bench_stopping --compare benchmarks/results/stopping-before.json benchmarks/results/stopping-after.json

Each text trains exactly as the Train tab does with its defaults: a Session loads the file, then
`start_training(DEFAULT_PRESET, minutes=None, start_from="auto")` (which fine-tunes the shipped base
below FINETUNE_BELOW characters), and the benchmark waits for the job to end. The 9 KB files are
cut at a blank line from texts the base never read (the poetry corpus was cleaned of every line of
sonnets.txt and milton_poems.txt): Milton from the Nativity ode on, and the first Sonnets.

Reported per text: the evaluation (1-based) that held the best validation loss, how many evaluations
came after it before the training ended, wall seconds, the best loss (nats/char), the stop reason and
the page's last message. It only uses Session calls that older versions have too, so "before" numbers
come from running this file inside an export of an older commit. To compare fairly on a shared
machine, run before and after at the same time with --threads 1 each:

    git archive 6ff2139 | tar -x -C /tmp/before && cp benchmarks/bench_stopping.py /tmp/before/benchmarks/
    (cd /tmp/before && POETRY_LAB_CORPORA=$PWD/../shared/corpora python -m benchmarks.bench_stopping --threads 1 \
        --label before --out $OLDPWD/benchmarks/results) &
    python -m benchmarks.bench_stopping --threads 1 --label after

Writes benchmarks/results/stopping-<label>.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import poetry_lab
from poetry_lab.app.session import Session
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.runs.presets import DEFAULT_PRESET

SMALL_CHARS = 9_000


def excerpt(text: str, start_marker: str | None, chars: int = SMALL_CHARS) -> str:
    """About `chars` characters from `start_marker` on, cut at the last blank line before the limit."""
    start = text.index(start_marker) if start_marker else 0
    piece = text[start : start + chars]
    cut = piece.rfind("\n\n")
    return piece[: cut + 1] if cut > chars // 2 else piece


def texts(folder: Path) -> dict[str, Path]:
    """The benchmark's texts as files, by name."""
    milton = resolve_corpus("milton").read_text(encoding="utf-8")
    sonnets = resolve_corpus("sonnets").read_text(encoding="utf-8")
    out = {}
    for name, text in (("milton9k", excerpt(milton, "ON THE MORNING OF CHRISTS NATIVITY")), ("sonnets9k", excerpt(sonnets, None)),
                       ("sonnets", sonnets), ("milton", milton)):
        path = folder / f"{name}.txt"
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


def train_once(path: Path, home: Path) -> dict:
    session = Session(home=home)
    session.load_corpus(files=[str(path)])
    t0 = time.perf_counter()
    started = session.start_training(DEFAULT_PRESET, None, "auto")
    job = session.job
    job.join()
    wall = time.perf_counter() - t0
    trainer = job.run.trainer
    evals = [h for h in trainer.history if h.get("kind") == "eval"]
    vals = [h["val_loss"] for h in evals]
    best_i = min(range(len(vals)), key=vals.__getitem__) if vals else None
    snap = job.snapshot()
    return {
        "chars": len(session.corpus.text),
        "val_chars": len(job.run.val_text),
        "budget_min": trainer.config.minutes,
        "eval_every_s": trainer.config.eval_every_s,
        "patience": trainer.config.patience,
        "evaluations": len(vals),
        "best_eval": None if best_i is None else best_i + 1,
        "evals_after_best": None if best_i is None else len(vals) - 1 - best_i,
        "best_step": trainer.best_step,
        "best_at_s": None if best_i is None else round(evals[best_i]["elapsed"], 1),
        "steps": trainer.step,
        "wall_s": round(wall, 1),
        "best_val": None if trainer.best_val is None else round(trainer.best_val, 4),
        "stop_reason": trainer.stop_reason,
        "curve": [(h["step"], round(h["elapsed"], 1), round(h["val_loss"], 4)) for h in evals],
        "started": started,
        "message": snap.message,
    }


COLUMNS = ("chars", "budget_min", "eval_every_s", "patience", "evaluations", "best_eval", "evals_after_best", "best_step",
           "best_at_s", "wall_s", "best_val", "stop_reason")


def table(reports: dict[str, dict]) -> str:
    """Markdown: one row per text and label."""
    lines = ["| text | run | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * len(COLUMNS)]
    names = list(dict.fromkeys(n for r in reports.values() for n in r["texts"]))
    for name in names:
        for label, report in reports.items():
            row = report["texts"].get(name)
            if row:
                lines.append(f"| {name} | {label} | " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", default="milton9k,sonnets9k,sonnets,milton")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, as the app runs)")
    ap.add_argument("--label", default="after", help="names the results file: stopping-<label>.json")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--compare", nargs="+", type=Path, metavar="JSON", help="print the table of earlier results side by side")
    args = ap.parse_args()
    if args.compare:
        print(table({p.stem.removeprefix("stopping-"): json.loads(p.read_text()) for p in args.compare}))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {"label": args.label, "package": str(Path(poetry_lab.__file__).parent), "threads": torch.get_num_threads(),
              "preset": DEFAULT_PRESET, "texts": {}}
    with tempfile.TemporaryDirectory() as tmp:
        files = texts(Path(tmp))
        for name in args.texts.split(","):
            print(f"{name}: training with the app's defaults ...", flush=True)
            row = train_once(files[name], Path(tmp) / "home" / name)
            report["texts"][name] = row
            print(f"  {row['evaluations']} evaluations, best at #{row['best_eval']} (step {row['best_step']}, "
                  f"{row['best_at_s']} s): {row['best_val']} nats/char; {row['evals_after_best']} after it; "
                  f"{row['wall_s']} s, {row['stop_reason']}\n  {row['message']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"stopping-{args.label}.json"
    path.write_text(json.dumps(report, indent=1))
    print(table({args.label: report}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
