"""The benchmark suite's shared contract: every section module exposes

    TITLE: str
    def run(ctx: Context) -> Section

and `benchmarks/run_suite.py` calls them in order and writes one Markdown report, one JSON file
of raw figures and one plotly HTML file per figure. Sections must compare both sides of a
comparison in the same run (interleaved where the VM's drift matters) and report ratios and medians.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LN2 = math.log(2.0)


@dataclass
class Context:
    mode: str  # "quick" (a few minutes in all) or "full" (under an hour in all)
    out_dir: Path  # where the report goes; sections may write extra files under out_dir / <section>
    threads: int = 2  # torch threads for training/generation measurements
    shared: Path = field(default_factory=lambda: Path(os.environ.get("POETRY_LAB_SHARED", ROOT.parent / "shared")))
    results: dict = field(default_factory=dict)  # key -> data of the sections already run in this suite run

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


def proc_rss_mb(pid: int | str = "self") -> dict:
    """{"rss": current, "hwm": peak} resident memory of one process, in MiB, from /proc/<pid>/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out["rss" if line.startswith("VmRSS") else "hwm"] = int(line.split()[1]) / 1024
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    VmHWM from /proc/self/status where there is one: Linux's ru_maxrss survives exec, so in a child
    process it reports at least the parent's resident memory at the time of the fork.
    """
    try:
        hwm = proc_rss_mb().get("hwm")
        if hwm is not None:
            return hwm
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


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


def corpus_text(ctx: Context | None, name: str, lowercase: bool = False, max_chars: int | None = None) -> str:
    """A shared corpus decoded as the app decodes uploads (Nietzsche/Alice/... by catalog name).

    A gzipped corpus (gutenberg_poetry) is read as UTF-8, only up to max_chars when given.
    """
    import gzip

    from poetry_lab.data.catalog import resolve_corpus
    from poetry_lab.data.corpus import decode_bytes

    path = resolve_corpus(name)
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            text = f.read(-1 if max_chars is None else max_chars)
    else:
        text = decode_bytes(path.read_bytes())[:max_chars]
    return text.lower() if lowercase else text


def nanogpt_split(text: str) -> tuple[str, str]:
    """nanoGPT's split: the first 90% of the characters train, the last 10% validate (exact cut)."""
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


def train_budget(corpus: str, model: dict, train: dict, seed: int = 0) -> dict:
    """Train a fresh model on a corpus (nanoGPT's split) with TrainConfig(**train); JSON-ready facts.

    Meant to run in a child process (run_child) so that its peak memory is its own.
    """
    import torch

    from poetry_lab.core.model import ModelConfig, build_model
    from poetry_lab.core.train import TrainConfig, Trainer
    from poetry_lab.core.vocab import Vocab

    text = corpus_text(None, corpus)
    train_text, val_text = nanogpt_split(text)
    vocab = Vocab.from_text(text)
    net = build_model(ModelConfig(vocab_size=len(vocab), **model), seed=seed, device=torch.device("cpu"))
    cfg = TrainConfig(**{**train, "seed": seed})
    trainer = Trainer(net, vocab.encode(train_text), vocab.encode(val_text), cfg)
    curve: list[list[float]] = []
    trainer.add_callback("on_eval", lambda t, p: curve.append([round(p.elapsed, 2), round(p.val_loss, 5)]))
    result = trainer.fit()
    return {"best_val": result.best_val, "final_val": curve[-1][1] if curve else None, "steps": result.steps,
            "elapsed_s": result.elapsed, "chars_per_s": result.steps * trainer.streams * trainer.seq_len / result.elapsed,
            "stop_reason": result.stop_reason, "params": net.num_params(), "streams": trainer.streams,
            "seq_len": trainer.seq_len, "vocab_size": len(vocab), "curve": curve}


CHILD_MARK = "@@suite-child-result@@ "
_CHILD_CODE = """
import importlib, json, sys
import torch
from benchmarks.suite.common import peak_rss_mb
torch.set_num_threads(int(sys.argv[3]))
module, function = sys.argv[1].split(":")
result = dict(getattr(importlib.import_module(module), function)(**json.loads(sys.argv[2])))
result["peak_rss_mb"] = peak_rss_mb()
print(sys.argv[4] + json.dumps(result), flush=True)
"""


def run_child(function: str, kwargs: dict, threads: int = 2, timeout: float | None = None, env: dict | None = None) -> dict:
    """Call "package.module:function"(**kwargs) in a fresh Python process with `threads` torch threads.

    Returns the function's dict (JSON-serialisable) plus "peak_rss_mb": the child's own peak resident
    memory (VmHWM, see peak_rss_mb), imports included. A failing child raises RuntimeError with its stderr's tail.
    env: extra environment variables for the child (OpenMP settings, say).
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-c", _CHILD_CODE, function, json.dumps(kwargs), str(threads), CHILD_MARK],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{function} failed in a child process (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(CHILD_MARK):])
