"""What the blind choice benchmarks share (bench_intrusion: a theme's intruder; bench_subject: a poem's
subject): reading one reader's CSV of `item,choice` rows, tallying the picks per cell of the key, the
readers' mean, and the lines that list each reader's bad rows.

A reader's CSV may have a header, a code fence, blank lines, spaces and any case; rows that cannot be
read (no number, no such item, a choice the item does not have, an item twice) are counted and listed,
not fatal: the first answer to an item is kept.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass
class Answers:
    picks: dict[int, str]  # item -> the choice picked (normalised)
    problems: list[str]  # rows that could not be read, items not in the key, repeats


def read_choices(text: str, column: str, row_pattern: str, items: set[int] | dict, normal: Callable[[str], str],
                 check: Callable[[int, str], str | None] = lambda item, choice: None, flags: int = 0, what: str = "") -> Answers:
    """One reader's CSV `item,<column>`: row_pattern matches a row, group 1 the item and group 2 the choice,
    which `normal` normalises; check(item, choice) names a problem with a choice (None: fine); `what` says
    what a row should hold, after `item,<column>`, in the problem a row that does not match gets."""
    out = Answers({}, [])
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().strip("|").strip()
        if not line or line.startswith("```") or re.fullmatch(rf"item\s*,\s*{column}\s*,?", line, re.IGNORECASE):
            continue
        row = re.fullmatch(row_pattern, line, flags)
        if row is None:
            out.problems.append(f"line {number}: not `item,{column}`{what}: {raw!r}")
            continue
        item, choice = int(row.group(1)), normal(row.group(2).strip())
        problem = None if item not in items else check(item, choice)
        if item not in items:
            out.problems.append(f"line {number}: there is no item {item}")
        elif problem:
            out.problems.append(f"line {number}: {problem}")
        elif item in out.picks:
            out.problems.append(f"line {number}: item {item} again (the first answer is kept)")
        else:
            out.picks[item] = choice
    return out


def tally(key: list[dict], answers: Answers, cells_of: Callable[[dict], Iterable[str]], right: str, share: str) -> dict[str, dict]:
    """Per cell (cells_of(entry) names an entry's cells): items, answered, correct (the pick equals entry[right])
    and `share`, correct / items."""
    cells: dict[str, dict] = {}
    for e in key:
        pick = answers.picks.get(e["item"])
        for name in cells_of(e):
            cell = cells.setdefault(name, {"items": 0, "answered": 0, "correct": 0})
            cell["items"] += 1
            cell["answered"] += pick is not None
            cell["correct"] += pick == e[right]
    for cell in cells.values():
        cell[share] = round(cell["correct"] / cell["items"], 3)
    return cells


def mean_over_readers(readers: dict[str, dict]) -> dict[str, float]:
    """Each cell's share right (correct / items) averaged over the readers, each counting once."""
    cells = sorted({c for r in readers.values() for c in r["cells"]})
    return {c: round(statistics.mean(r["cells"][c]["correct"] / r["cells"][c]["items"] for r in readers.values()), 3) for c in cells}


def problem_lines(readers: dict[str, dict]) -> list[str]:
    """For each reader with bad rows or items not answered: a line that counts them, then each problem."""
    out: list[str] = []
    for name, r in readers.items():
        if r["problems"] or r["missing_items"]:
            out += ["", f"{name}: {len(r['problems'])} bad rows; items not answered: {r['missing_items'] or 'none'}",
                    *[f"- {p}" for p in r["problems"]]]
    return out
