"""Peak resident memory: training each preset on tinyshakespeare, and the idle app.

Training peaks are each child process's own peak resident memory (VmHWM: Python, torch and the data
included; not ru_maxrss, which a child inherits from its parent). When the presets section ran
earlier in the same suite run, its runs (up to 5 minutes, with evaluations and best-weight copies)
are reused; otherwise each preset trains for a short budget here. The app is
launched like the tests launch it (app.py on a free port, POETRY_LAB_HOME in a temporary folder);
its resident memory, and its children's, is read from /proc once it serves.
"""

from __future__ import annotations

import tempfile
import time
import urllib.request
from pathlib import Path

import plotly.graph_objects as go

from benchmarks.app_process import launched_app
from benchmarks.suite.common import Context, Section, md_table, proc_rss_mb, run_child

TITLE = "Peak memory while training each preset, and of the idle app"


def import_baseline() -> dict:
    """What a child costs before any training: Python, torch and poetry_lab imported."""
    import poetry_lab.core.train  # noqa: F401

    return {}


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, grandchildren...), from /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def measure_app(timeout: float = 180.0, settle_s: float = 3.0) -> dict:
    """Start app.py, wait until it serves, load its page once, settle, read its memory; always stop it."""
    with tempfile.TemporaryDirectory(prefix="suite-app-") as home:
        start = time.perf_counter()
        with launched_app(Path(home), timeout=timeout) as (url, proc):
            ready_s = time.perf_counter() - start
            with urllib.request.urlopen(url + "/", timeout=30) as page:  # what a visitor's first page load costs
                page.read()
            time.sleep(settle_s)
            main = proc_rss_mb(proc.pid)
            kids = {pid: proc_rss_mb(pid) for pid in descendants(proc.pid) if Path(f"/proc/{pid}").exists()}
    return {"ready_s": ready_s, "rss_mb": main.get("rss"), "peak_rss_mb": main.get("hwm"), "children": len(kids),
            "children_rss_mb": sum(k.get("rss", 0.0) for k in kids.values())}


def training_peaks(ctx: Context) -> list[dict]:
    """Per preset group: its peak RSS, from the presets section's runs when they exist, else a short run here."""
    from benchmarks.suite.common import corpus_text
    from benchmarks.suite.presets import CORPUS, budget_label, preset_groups
    from poetry_lab.runs.presets import model_settings

    previous = (ctx.results.get("presets") or {}).get("runs") or []
    chars, rows = None, []
    for names, preset in preset_groups():
        mine = [r for r in previous if r["presets"] == names]
        if mine:
            top = max(mine, key=lambda r: r["peak_rss_mb"])
            low = min(r["peak_rss_mb"] for r in mine)
            how = (f"the presets section's runs ({', '.join(budget_label(r['minutes']) for r in mine)}): the largest; "
                   f"the smallest was {low:.0f} MiB")
        else:
            chars = chars or len(corpus_text(ctx, CORPUS))
            minutes = ctx.pick(20, 60) / 60
            train = {**preset.train, "minutes": minutes, "patience": None}
            top = run_child("benchmarks.suite.common:train_budget",
                            {"corpus": CORPUS, "model": model_settings(preset, chars), "train": train},
                            threads=ctx.threads, timeout=minutes * 180 + 300)
            top = {**top, "model": model_settings(preset, chars), "train": train}
            how = f"a {budget_label(minutes)} training here"
        rows.append({"presets": names, "peak_rss_mb": top["peak_rss_mb"], "params": top["params"], "model": top["model"],
                     "batch": f"B{top['train']['batch_size']}×T{top['train']['seq_len']}", "source": how})
    return rows


def run(ctx: Context) -> Section:
    baseline = run_child("benchmarks.suite.memory:import_baseline", {}, threads=ctx.threads, timeout=300)["peak_rss_mb"]
    train = training_peaks(ctx)
    app = measure_app()
    rows = [["/".join(t["presets"]), f"H{t['model']['hidden']}, {t['batch']}", f"{t['params']:,}", round(t["peak_rss_mb"]),
             round(t["peak_rss_mb"] - baseline), t["source"]] for t in train]
    md = "\n\n".join([
        md_table(["training", "model, batch", "parameters", "peak RSS (MiB)", "above the import baseline", "measured in"], rows),
        (f"Import baseline (a child that imports torch and poetry_lab.core.train, nothing else): {baseline:.0f} MiB. "
         f"Corpus tinyshakespeare; {ctx.threads} torch threads; peak = the training process's own VmHWM."),
        md_table(["idle app", "MiB"], [["resident after the first page load", round(app["rss_mb"])],
                                       ["its peak so far (VmHWM)", round(app["peak_rss_mb"])],
                                       [f"its {app['children']} child process(es), resident", round(app["children_rss_mb"])],
                                       ["seconds until it served", round(app["ready_s"], 1)]]),
        ("The app: `python app.py` on a free port with POETRY_LAB_HOME in a temporary folder, no analytics, the Hub "
         "offline; read from /proc 3 s after its page was loaded once.")])
    data = {"threads": ctx.threads, "import_baseline_mb": baseline, "training": train, "app": app}
    return Section("memory", TITLE, md, data, {"peak_rss": _figure(train, app, baseline)})


def _figure(train: list[dict], app: dict, baseline: float) -> go.Figure:
    names = ["training " + "/".join(t["presets"]) for t in train] + ["idle app", "import baseline"]
    values = [t["peak_rss_mb"] for t in train] + [app["rss_mb"] + app["children_rss_mb"], baseline]
    fig = go.Figure(go.Bar(x=names, y=values, text=[f"{v:.0f}" for v in values], textposition="outside"))
    fig.update_layout(title="Peak resident memory (MiB)", yaxis_title="MiB", template="plotly_white")
    return fig
