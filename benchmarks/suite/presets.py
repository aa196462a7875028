"""Quality per minute of each preset: tinyshakespeare validation loss after budgets of 1, 2 and 5 minutes.

Each budget is a separate run (the cosine schedule stretches over the budget), in a child process so
that its peak resident memory (VmHWM) is its own; the memory section reuses it. nanoGPT's split: the
first 90% of the characters train, the last 10% validate. Presets whose model and training settings are the
same apart from their default budget and evaluation interval are trained once and reported for each.
"""

from __future__ import annotations

import plotly.graph_objects as go

from benchmarks.suite.common import (
    LN2,
    Context,
    Section,
    Target,
    corpus_text,
    md_table,
    run_child,
)

TITLE = "Quality per minute of each preset (tinyshakespeare)"
CORPUS = "tinyshakespeare"
TARGET_NAME = "tinyshakespeare 5 min validation loss, best preset (nats/char)"
TARGET_GOAL = 1.55
# References from /work/shared/PERF-NOTES.md (measured on this kind of machine; not run here, not vendored).
NANOGPT_REFERENCES = [
    {"label": "nanoGPT CPU recipe (4 layers × 128 GPT): 2,000 iterations (74 s here)", "minutes": 74 / 60, "val": 1.898},
    {"label": "nanoGPT CPU recipe stretched to 5 minutes here", "minutes": 5.0, "val": 1.596},
]
_NOT_COMPARED = ("minutes", "eval_every_s")  # what may differ between presets that share one run


def preset_groups(presets: dict | None = None) -> list[tuple[list[str], object]]:
    """[(names, preset)]: presets with equal model and training settings (apart from their budget and
    evaluation interval) grouped, in PRESETS order; the first preset's settings stand for the group."""
    from poetry_lab.runs.presets import PRESETS

    groups: list[tuple[list[str], object]] = []
    for name, preset in (presets if presets is not None else PRESETS).items():
        key = (preset.model, {k: v for k, v in preset.train.items() if k not in _NOT_COMPARED})
        for names, first in groups:
            if (first.model, {k: v for k, v in first.train.items() if k not in _NOT_COMPARED}) == key:
                names.append(name)
                break
        else:
            groups.append(([name], preset))
    return groups


def budget_label(minutes: float) -> str:
    return f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:g} min"


def run(ctx: Context) -> Section:
    from poetry_lab.runs.presets import model_settings

    text = corpus_text(ctx, CORPUS)
    budgets = ctx.pick([10 / 60, 20 / 60], [1.0, 2.0, 5.0])
    groups = preset_groups()
    runs = []
    for minutes in budgets:  # presets interleaved within each budget, so drift hits them alike
        for names, preset in groups:
            model = model_settings(preset, len(text))
            train = {**preset.train, "minutes": minutes, "patience": None}
            r = run_child("benchmarks.suite.common:train_budget", {"corpus": CORPUS, "model": model, "train": train},
                          threads=ctx.threads, timeout=minutes * 60 * 3 + 300)
            runs.append({"presets": names, "minutes": minutes, "model": model, "train": train, **r})
            print(f"  {'/'.join(names)} {budget_label(minutes)}: val {r['best_val']:.4f}, {r['steps']} steps, "
                  f"{r['chars_per_s']:.0f} chars/s, peak {r['peak_rss_mb']:.0f} MiB", flush=True)
    best_5 = min((r["best_val"] for r in runs if r["minutes"] == 5.0), default=None)
    target = Target(TARGET_NAME, None if ctx.quick else best_5, TARGET_GOAL, higher_is_better=False)
    data = {"corpus": CORPUS, "chars": len(text), "budgets_min": budgets, "threads": ctx.threads,
            "groups": [names for names, _ in groups], "runs": runs, "nanogpt_references": NANOGPT_REFERENCES}
    return Section("presets", TITLE, _markdown(ctx, runs, groups, len(text)), data, {"val_loss": _figure(runs)}, [target])


def _markdown(ctx: Context, runs: list[dict], groups, chars: int) -> str:
    rows = [["/".join(r["presets"]), f"H{r['model']['hidden']}×{r['model'].get('layers', 1)}, dropout {r['model']['dropout']:g}",
             f"B{r['train']['batch_size']}×T{r['train']['seq_len']}, lr {r['train']['lr']:g}", budget_label(r["minutes"]),
             round(r["best_val"], 4), round(r["best_val"] / LN2, 3), r["steps"], round(r["chars_per_s"]), round(r["peak_rss_mb"])]
            for r in sorted(runs, key=lambda r: (r["presets"], r["minutes"]))]
    table = md_table(["preset(s)", "model", "batch, lr", "budget", "val loss (nats/char)", "bits/char", "steps",
                      "chars/s (evals included)", "peak RSS (MiB)"], rows)
    shared = [names for names, _ in groups if len(names) > 1]
    notes = [(f"Corpus: {CORPUS} ({chars:,} characters), nanoGPT's split (first 90% train, last 10% validation, exact "
              f"character cut); {ctx.threads} torch threads; each budget a separate run in its own process (the cosine "
              "schedule spans the budget); `patience=None`; the validation loss is the best evaluation of the run "
              "(the weights a user gets), over the whole validation split.")]
    for names in shared:
        notes.append(f"Presets {' and '.join(names)} have the same model and training settings apart from their default "
                     f"budget and evaluation interval, so one run (with {names[0]}'s evaluation interval) serves them all: "
                     "this saves a third of the section's time.")
    if ctx.quick:
        notes.append("Quick mode: budgets of 10 and 20 s only, a smoke test; the 5-minute target is **not evaluated** "
                     "(run `--full`).")
    refs = "; ".join(f"{r['label']}: **{r['val']}**" for r in NANOGPT_REFERENCES)
    notes.append(f"References (from PERF-NOTES, not run here): {refs}.")
    return table + "\n\n" + "\n\n".join(notes)


def _figure(runs: list[dict]) -> go.Figure:
    fig = go.Figure()
    for names in dict.fromkeys(tuple(r["presets"]) for r in runs):
        mine = sorted((r for r in runs if tuple(r["presets"]) == names), key=lambda r: r["minutes"])
        fig.add_trace(go.Scatter(x=[r["minutes"] for r in mine], y=[r["best_val"] for r in mine], mode="lines+markers",
                                 name=" = ".join(names)))
    for ref in NANOGPT_REFERENCES:
        fig.add_trace(go.Scatter(x=[ref["minutes"]], y=[ref["val"]], mode="markers", name=ref["label"],
                                 marker={"symbol": "x", "size": 11}))
    fig.add_hline(y=TARGET_GOAL, line_dash="dot", annotation_text=f"target {TARGET_GOAL}")
    fig.update_layout(title="Validation loss after a training budget (tinyshakespeare)", xaxis_title="budget (minutes)",
                      yaxis_title="validation loss (nats/char)", template="plotly_white")
    return fig
