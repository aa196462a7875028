"""How costs grow: the time of one training epoch against corpus size, and the theme methods' time
against the number of poems, each with the exponent of a straight-line fit on log-log axes.

Epochs are real: Trainer with epochs=k and no validation, time per epoch = fit time / epochs
(small corpora run several epochs so the clock reads more than set-up). The text is the start of the
Gutenberg Poetry Corpus cut to each size, with one vocabulary for all sizes (the head's cost is the
same). Themes: poetry_lab.themes.methods.compare_methods (the four methods, 5 themes) on the first n poems
of the Sonnets and Milton's poems, with the shipped forward and backward models loaded beforehand.
"""

from __future__ import annotations

import math
import time

import numpy as np
import plotly.graph_objects as go
import torch

from benchmarks.suite.common import Context, Section, corpus_text, md_table

TITLE = "How time grows with the corpus: epochs and themes"
TEXT_CORPUS = "gutenberg_poetry"
POEM_CORPORA = ["sonnets", "milton"]


def fit_exponent(xs, ys) -> tuple[float, float]:
    """(exponent b, coefficient a) of y = a·x^b by least squares on log-log axes."""
    b, log_a = np.polyfit(np.log(np.asarray(xs, dtype=float)), np.log(np.asarray(ys, dtype=float)), 1)
    return float(b), float(math.exp(log_a))


def describe_growth(exponent: float, tolerance: float = 0.1) -> str:
    """Plain words for an exponent: linear within ±tolerance of 1."""
    if abs(exponent - 1.0) <= tolerance:
        return f"linear (exponent {exponent:.2f})"
    return f"{'sub' if exponent < 1 else 'super'}-linear (exponent {exponent:.2f})"


def epochs_for(size: int, min_chars: int) -> int:
    """Epochs that make one measurement read at least min_chars characters."""
    return max(1, math.ceil(min_chars / size))


def epoch_times(ctx: Context, sizes: list[int]) -> list[dict]:
    from poetry_lab.core.model import ModelConfig, build_model
    from poetry_lab.core.train import TrainConfig, Trainer
    from poetry_lab.core.vocab import Vocab
    from poetry_lab.runs.presets import DEFAULT_PRESET, PRESETS, model_settings

    text = corpus_text(ctx, TEXT_CORPUS, max_chars=max(sizes))
    vocab, preset = Vocab.from_text(text), PRESETS[DEFAULT_PRESET]
    ids = vocab.encode(text)

    def fit(n: int, **limits):
        model_kw = model_settings(preset, n)
        model = build_model(ModelConfig(vocab_size=len(vocab), **model_kw), seed=0, device=torch.device("cpu"))
        cfg = TrainConfig(**{**preset.train, "minutes": None, "patience": None, **limits})
        trainer = Trainer(model, ids[:n], None, cfg)
        return trainer, trainer.fit()

    fit(sizes[0], max_steps=5)  # warm-up: oneDNN primitives are built on first use
    rows = []
    for n in sizes:
        epochs = epochs_for(n, ctx.pick(100_000, 500_000))
        trainer, result = fit(n, epochs=epochs)
        rows.append({"chars": n, "epochs": epochs, "steps": result.steps, "seconds": result.elapsed,
                     "seconds_per_epoch": result.elapsed / result.epochs, "chars_per_s": result.steps * trainer.streams
                     * trainer.seq_len / result.elapsed, "streams": trainer.streams, "seq_len": trainer.seq_len})
        print(f"  {n:>10,} chars: {rows[-1]['seconds_per_epoch']:.2f} s per epoch ({epochs} epochs)", flush=True)
    return rows


def theme_times(ctx: Context, counts: list[int]) -> list[dict]:
    from poetry_lab.data.corpus import load_corpus
    from poetry_lab.store import Store
    from poetry_lab.themes.embeddings import default_models
    from poetry_lab.themes.methods import compare_methods

    poems = load_corpus(POEM_CORPORA).poems
    rows = []
    with Store().active() as store:
        forward, backward = default_models(store)
        compare_methods(poems[-20:], 3, forward, backward, 0)  # warm-up on other poems (vectors are cached per poems)
        for n in counts:
            if n > len(poems):
                raise ValueError(f"only {len(poems)} poems in {', '.join(POEM_CORPORA)}, not {n}")
            start = time.perf_counter()
            table, _ = compare_methods(poems[:n], 5, forward, backward, 0)
            rows.append({"poems": n, "chars": sum(map(len, poems[:n])), "seconds": time.perf_counter() - start,
                         "methods": dict(zip(table["method"], table["seconds"].astype(float)))})
            print(f"  {n:>5} poems: {rows[-1]['seconds']:.1f} s", flush=True)
    return rows


def run(ctx: Context) -> Section:
    sizes = ctx.pick([10_000, 100_000, 300_000], [10_000, 100_000, 1_000_000, 10_000_000])
    counts = ctx.pick([40, 80], [50, 100, 200, 400])
    epochs, themes = epoch_times(ctx, sizes), theme_times(ctx, counts)
    epoch_exp = fit_exponent([r["chars"] for r in epochs], [r["seconds_per_epoch"] for r in epochs])[0]
    large = [r for r in epochs if r["chars"] >= 100_000]
    large_exp = fit_exponent([r["chars"] for r in large], [r["seconds_per_epoch"] for r in large])[0] if len(large) >= 3 else None
    methods = list(themes[0]["methods"])
    theme_exp = {m: fit_exponent(counts, [r["methods"][m] for r in themes])[0] for m in methods}
    theme_exp["all four"] = fit_exponent(counts, [r["seconds"] for r in themes])[0]
    md = "\n\n".join([
        "### Training: time per epoch against corpus size",
        md_table(["characters", "epochs timed", "steps", "s per epoch", "chars/s"],
                 [[f"{r['chars']:,}", r["epochs"], r["steps"], round(r["seconds_per_epoch"], 3), round(r["chars_per_s"])]
                  for r in epochs]),
        (f"Time per epoch grows **{describe_growth(epoch_exp)}** with the corpus from {sizes[0]:,} to {sizes[-1]:,} "
         f"characters (default preset, {ctx.threads} torch threads, no validation; the start of {TEXT_CORPUS} cut to "
         "each size)" + (f"; from 100,000 characters up: {describe_growth(large_exp)}" if large_exp is not None else "")
         + ". Each fit has a fixed cost (building the model, the first steps' set-up) that weighs most on the "
         "smallest corpus."),
        "### Themes: time against the number of poems",
        md_table(["poems", "characters", *methods, "all four (s)"],
                 [[r["poems"], f"{r['chars']:,}", *[round(r["methods"][m], 2) for m in methods], round(r["seconds"], 1)]
                  for r in themes]),
        "Exponents: " + "; ".join(f"{m}: {describe_growth(b)}" for m, b in theme_exp.items()) + ".",
        (f"`compare_methods(poems[:n], 5)` on the poems of {' + '.join(POEM_CORPORA)}, models loaded beforehand; "
         "`autoencoder` reuses the vectors `elmo` computed (cached per process), so its time is the autoencoder and "
         "K-means alone.")])
    if ctx.quick:
        md += "\n\nQuick mode: fewer, smaller sizes; the exponents are rough."
    data = {"threads": ctx.threads, "epochs": epochs, "epoch_exponent": epoch_exp, "epoch_exponent_from_100k": large_exp,
            "themes": themes,
            "theme_exponents": theme_exp}
    return Section("growth", TITLE, md, data, {"epoch_time": _epoch_figure(epochs, epoch_exp),
                                               "theme_time": _theme_figure(themes, methods)})


def _epoch_figure(rows: list[dict], exponent: float) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[r["chars"] for r in rows], y=[r["seconds_per_epoch"] for r in rows], mode="lines+markers",
                               name=f"measured (exponent {exponent:.2f})"))
    fig.update_layout(title="Time per training epoch against corpus size", xaxis_type="log", yaxis_type="log",
                      xaxis_title="characters", yaxis_title="seconds per epoch", template="plotly_white")
    return fig


def _theme_figure(rows: list[dict], methods: list[str]) -> go.Figure:
    x = [r["poems"] for r in rows]
    fig = go.Figure([go.Scatter(x=x, y=[r["methods"][m] for r in rows], mode="lines+markers", name=m) for m in methods])
    fig.add_trace(go.Scatter(x=x, y=[r["seconds"] for r in rows], mode="lines+markers", name="all four"))
    fig.update_layout(title="Theme methods: time against the number of poems", xaxis_type="log", yaxis_type="log",
                      xaxis_title="poems", yaxis_title="seconds", template="plotly_white")
    return fig
