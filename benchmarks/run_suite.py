"""Poetry Lab's benchmark suite: one command, one report.

    python -m benchmarks.run_suite --quick                 # a few minutes: every section, small budgets
    python -m benchmarks.run_suite --full                  # under an hour: the numbers to quote
    python -m benchmarks.run_suite --quick --only presets,memory --out /tmp/suite

Sections, in this order (each is a module benchmarks/suite/<key>.py with TITLE and run(ctx) -> Section,
see benchmarks/suite/common.py): tutorial, presets, throughput, generation, memory, growth. A module
that does not exist yet is skipped with a message; a section that raises is reported as failed, with
its error, and the others still run; the exit status is 1 when any section failed.

Writes into --out (default benchmarks/results/suite):
    report.md         the machine, a summary of every target (met / missed / not evaluated), then each
                      section's tables and findings with links to its figures
    results.json      machine, mode, threads, every section's raw data, targets, seconds and errors
    figures/<section>_<name>.html   plotly figures; they load figures/plotly.min.js, written once beside
                      them, so they open offline

Torch uses --threads threads (default 2) in every section. Timings on a shared VM drift: the report
gives the load average before and after each section.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from benchmarks.suite.common import Context, Section, machine, md_table

ROOT = Path(__file__).resolve().parents[1]

SECTIONS = ("tutorial", "presets", "throughput", "generation", "memory", "growth")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "suite"


@dataclass
class Outcome:
    """What became of one section: its Section, an error, or a reason it was skipped."""

    key: str
    title: str
    section: Section | None = None
    error: str | None = None
    skipped: str | None = None
    seconds: float = 0.0
    load: tuple[float, float] = (math.nan, math.nan)  # 1-minute load average before and after

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "failed" if self.error else "ok"


def load_section(key: str):
    """The section's module, or None when benchmarks/suite/<key>.py does not exist (yet)."""
    name = f"benchmarks.suite.{key}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise


def _say(message: str) -> None:
    print(message, flush=True)


def run_sections(ctx: Context, keys, loader=load_section, say=_say) -> list[Outcome]:
    """Run each section in turn; errors are caught and recorded, never raised."""
    import torch

    outcomes = []
    for key in keys:
        torch.set_num_threads(ctx.threads)  # a section may have changed it
        out = Outcome(key, key)
        start, load0 = time.perf_counter(), os.getloadavg()[0]
        try:
            module = loader(key)
            if module is None:
                out.skipped = f"benchmarks/suite/{key}.py does not exist yet"
            else:
                out.title = getattr(module, "TITLE", key)
                say(f"[{key}] {out.title} ...")
                out.section = module.run(ctx)
                ctx.results[key] = out.section.data
        except Exception:  # noqa: BLE001 - a failed section is reported, the others still run
            out.error = traceback.format_exc()
        out.seconds = time.perf_counter() - start
        out.load = (load0, os.getloadavg()[0])
        if out.section is not None:
            out.section.seconds = out.seconds
        say(f"[{key}] {out.status}" + (f" ({out.skipped})" if out.skipped else f" in {out.seconds:.0f} s")
            + (f"\n{out.error}" if out.error else ""))
        outcomes.append(out)
    return outcomes


def jsonable(obj):
    """Data made JSON-safe: numpy values become Python numbers, NaN and infinity become null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalars and arrays
        return jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def _fmt(v) -> str:
    return "not evaluated" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def summary_markdown(outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        for t in o.section.targets if o.section else []:
            verdict = "not evaluated" if t.measured is None else "**met**" if t.met else "**missed**"
            goal = ("≥ " if t.higher_is_better else "≤ ") + _fmt(t.goal) + (f" {t.unit}" if t.unit else "")
            rows.append([o.key, t.name, _fmt(t.measured), goal, verdict])
    targets = md_table(["section", "target", "measured", "goal", "verdict"], rows) if rows else "No targets were evaluated."
    runs = md_table(["section", "status", "seconds", "load before → after"],
                    [[f"[{o.key}](#{o.key})", o.status + (f": {o.skipped}" if o.skipped else ""), f"{o.seconds:.0f}",
                      f"{o.load[0]:.2f} → {o.load[1]:.2f}"] for o in outcomes])
    return f"{targets}\n\n{runs}"


def write_figures(outcomes: list[Outcome], fig_dir: Path) -> dict[str, list[str]]:
    """Each figure as figures/<section>_<name>.html with plotly.js beside it (works offline)."""
    written: dict[str, list[str]] = {}
    for o in outcomes:
        for name, fig in (o.section.figures.items() if o.section else []):
            fig_dir.mkdir(parents=True, exist_ok=True)
            path = fig_dir / f"{o.key}_{name}.html"
            fig.write_html(path, include_plotlyjs="directory", full_html=True)
            written.setdefault(o.key, []).append(path.name)
    return written


def write_outputs(ctx: Context, outcomes: list[Outcome], info: dict, command: str) -> Path:
    """report.md, results.json and figures/ under ctx.out_dir; returns the report's path."""
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(outcomes, ctx.out_dir / "figures")
    machine_line = (f"{info.get('cpu')}, {info.get('logical_cpus')} logical CPUs, {info.get('memory_gib')} GiB; "
                    f"Python {info.get('python')}, torch {info.get('torch')} with {ctx.threads} threads; "
                    f"{info.get('platform')}; {info.get('date')}")
    parts = [f"# Poetry Lab benchmark suite ({ctx.mode} mode)", f"Machine: {machine_line}.", f"Command: `{command}`",
             "## Summary", summary_markdown(outcomes)]
    for i, o in enumerate(outcomes, 1):
        parts.append(f'<a id="{o.key}"></a>\n\n## {i}. {o.title} (`{o.key}`)')
        if o.skipped:
            parts.append(f"Skipped: {o.skipped}.")
        elif o.error:
            parts.append(f"**Failed** after {o.seconds:.0f} s:\n\n```\n{o.error.rstrip()}\n```")
        else:
            parts.append(f"*{o.seconds:.0f} s, load average {o.load[0]:.2f} → {o.load[1]:.2f}.*\n\n{o.section.markdown}")
            if figures.get(o.key):
                parts.append("Figures: " + ", ".join(f"[{n}](figures/{n})" for n in figures[o.key]))
    report = ctx.out_dir / "report.md"
    report.write_text("\n\n".join(parts) + "\n")
    results = {"machine": info, "mode": ctx.mode, "threads": ctx.threads, "command": command, "sections": {
        o.key: {"title": o.title, "status": o.status, "seconds": o.seconds, "load": list(o.load), "error": o.error,
                "skipped": o.skipped, "data": o.section.data if o.section else None,
                "targets": [t.to_dict() for t in o.section.targets] if o.section else [],
                "figures": figures.get(o.key, [])} for o in outcomes}}
    (ctx.out_dir / "results.json").write_text(json.dumps(jsonable(results), indent=1))
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a few minutes in all (the default)")
    mode.add_argument("--full", action="store_true", help="under an hour in all")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--only", default="", help=f"comma-separated sections to run, of: {','.join(SECTIONS)}")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = ap.parse_args(argv)
    args.keys = [k.strip() for k in args.only.split(",") if k.strip()] or list(SECTIONS)
    unknown = [k for k in args.keys if k not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    args.keys = [k for k in SECTIONS if k in args.keys]  # always in the suite's order
    return args


def main(argv: list[str] | None = None, loader=load_section) -> int:
    import torch

    args = parse_args(argv)
    ctx = Context(mode="full" if args.full else "quick", out_dir=args.out.resolve(), threads=args.threads)
    torch.set_num_threads(ctx.threads)
    command = "python -m benchmarks.run_suite " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine()
    print(f"{ctx.mode} mode, {ctx.threads} torch threads, sections: {', '.join(args.keys)}; writing to {ctx.out_dir}")
    outcomes = run_sections(ctx, args.keys, loader)
    report = write_outputs(ctx, outcomes, info, command.strip())
    failed = [o.key for o in outcomes if o.error]
    print(f"report: {report}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
