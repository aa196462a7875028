"""The benchmark suite's shared contract: every section module exposes

    TITLE: str
    def run(ctx: Context) -> Section

and `benchmarks/run_suite.py` calls them in order and writes one Markdown report, one JSON file
of raw figures and one plotly HTML file per figure. Sections must compare both sides of a
comparison in the same run (interleaved where the VM's drift matters) and report ratios and medians.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LN2 = math.log(2.0)


@dataclass
class Context:
    mode: str  # "quick" (a few minutes in all) or "full" (under an hour in all)
    out_dir: Path  # where the report goes; sections may write extra files under out_dir / <section>
    threads: int = 2  # torch threads for training/generation measurements
    shared: Path = field(default_factory=lambda: Path(os.environ.get("POETRY_LAB_SHARED", ROOT.parent / "shared")))

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def pick(self, quick, full):
        """The quick or the full value of a setting."""
        return quick if self.quick else full


@dataclass
class Target:
    """A target from the issue and whether this run met it."""

    name: str  # e.g. "reaches the tutorial's final validation loss at least 30x sooner"
    measured: float | None
    goal: float
    unit: str = ""
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        if self.measured is None or (isinstance(self.measured, float) and math.isnan(self.measured)):
            return False
        return self.measured >= self.goal if self.higher_is_better else self.measured <= self.goal

    def to_dict(self) -> dict:
        return {"name": self.name, "measured": self.measured, "goal": self.goal, "unit": self.unit,
                "higher_is_better": self.higher_is_better, "met": self.met}


@dataclass
class Section:
    key: str  # short file-safe name: "tutorial", "presets", ...
    title: str
    markdown: str  # the section's body: tables and findings (no top heading; the runner adds it)
    data: dict  # JSON-serialisable raw figures
    figures: dict = field(default_factory=dict)  # name -> plotly.graph_objects.Figure
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0  # wall time the section took (filled in by the runner)


def md_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table; floats get 4 significant digits unless already formatted as strings."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "memory_gib": mem, "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def corpus_text(ctx: Context, name: str, lowercase: bool = False) -> str:
    """A shared corpus decoded as the app decodes uploads (Nietzsche/Alice/... by catalog name)."""
    from poetry_lab.catalog import resolve_corpus
    from poetry_lab.corpus import decode_bytes

    text = decode_bytes(resolve_corpus(name).read_bytes())
    return text.lower() if lowercase else text
