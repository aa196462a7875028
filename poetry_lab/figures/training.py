"""Plotly figures, one pure function each: plain data in, `go.Figure` out. No widgets, no gradio.

Losses arrive in nats per character (what the trainer measures); the figures also show bits per
character (nats / ln 2), the unit the comparison table and many papers use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from poetry_lab.settings import LN2

MAX_TRAIN_POINTS = 2_000  # more points than pixels only slow the browser down
EMPTY_LOSS_MESSAGE = "Press Start to train: the curve appears here"
EMPTY_COMPARE_MESSAGE = "Generate samples to compare temperatures here"
_LAYOUT = dict(template="plotly_white", margin=dict(l=55, r=55, t=60, b=40),
               legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0))

# (column of temperature_bars's results, panel title); the order of the panels.
TEMPERATURE_METRICS = (
    ("bits_per_char", "bits per character"),
    ("copied_4gram_share", "copied 4-word phrases"),
    ("distinct_2", "distinct word pairs"),
    ("repeated_lines", "repeated lines"),
)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def downsample(points: Sequence, limit: int = MAX_TRAIN_POINTS) -> list:
    """Exactly `limit` points (or all, if fewer), evenly spread, always keeping the first and the last."""
    n = len(points)
    if n <= limit:
        return list(points)
    step = (n - 1) / (limit - 1)  # k = limit - 1 lands exactly on the last point
    return [points[round(k * step)] for k in range(limit)]


def _loss_trace(points: list[tuple[int, float, float]], name: str, **style) -> go.Scatter:
    """A loss trace on the nats axis; customdata carries (elapsed s, bits) for the hover."""
    return go.Scatter(
        x=[p[0] for p in points], y=[p[2] for p in points], name=name,
        customdata=[(p[1], p[2] / LN2) for p in points],
        hovertemplate=(f"<b>{name}</b><br>step %{{x}}<br>%{{customdata[0]:.1f}} s<br>"
                       "%{y:.3f} nats/char<br>%{customdata[1]:.3f} bits/char<extra></extra>"),
        **style)


def _loss_range(values: list[float]) -> list[float]:
    """The nats axis range: all values with a 5% margin, never below zero (a loss is never negative)."""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or max(abs(hi) * 0.05, 0.05)
    return [max(0.0, lo - pad), hi + pad]


def loss_curve(train_points: Sequence[tuple[int, float, float]],
               eval_points: Sequence[tuple[int, float, float, float]], title: str = "Loss") -> go.Figure:
    """Training and validation loss against step, in nats per character, with a bits axis on the right.

    train_points: (step, elapsed_s, loss); eval_points: (step, elapsed_s, train_loss, val_loss), as in
    JobSnapshot. Traces: "training loss" (a thin line, downsampled to at most MAX_TRAIN_POINTS,
    the last point kept) and "validation loss" (markers and line), each present only when it has
    points. Points whose loss is None or not finite are left out. The right axis ("bits per
    character") is an overlay whose range is the left one divided by ln 2, so its ticks read the
    same curves in bits; a transparent two-point trace named "bits axis" holds it in place. With no
    points at all the figure shows the axes and an annotation saying how to start.
    """
    train = downsample([p for p in train_points if _finite(p[2])])
    val = [(s, t, v) for s, t, _, v in eval_points if _finite(v)]
    fig = go.Figure()
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), height=350, hovermode="closest",
                      xaxis_title="training step", yaxis_title="nats per character", **_LAYOUT)
    if not train and not val:
        fig.add_annotation(text=EMPTY_LOSS_MESSAGE, xref="paper", yref="paper", x=0.5, y=0.5,
                           showarrow=False, font=dict(size=14, color="grey"))
        return fig.update_layout(xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
    if train:
        fig.add_trace(_loss_trace(train, "training loss", mode="lines", line=dict(width=1, color="#7f9cc8")))
    if val:
        fig.add_trace(_loss_trace(val, "validation loss", mode="lines+markers",
                                  line=dict(width=2, color="#d95f02"), marker=dict(size=6)))
    nats = _loss_range([p[2] for p in train] + [p[2] for p in val])
    bits = [v / LN2 for v in nats]
    steps = [p[0] for p in train] + [p[0] for p in val]
    # Plotly draws an axis reliably only when some trace uses it; this one is invisible and silent.
    fig.add_trace(go.Scatter(x=[min(steps), max(steps)], y=bits, yaxis="y2", name="bits axis", mode="lines",
                             line=dict(width=0), showlegend=False, hoverinfo="skip"))
    fig.update_layout(yaxis=dict(range=nats),
                      yaxis2=dict(title="bits per character", overlaying="y", side="right", range=bits,
                                  showgrid=False, zeroline=False))
    return fig


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:d}" if isinstance(value, int) else f"{value:.3g}"


def temperature_bars(results: pd.DataFrame | None) -> go.Figure:
    """The comparison numbers against temperature: one small bar panel per metric (TEMPERATURE_METRICS).

    results: one row per poem, columns temperature and the TEMPERATURE_METRICS keys (the app's
    PoemNumbers fields; a missing column counts as missing values). Each panel has one bar per result, in the given order, labelled by temperature
    (categories, so the bars are evenly spaced). A None or missing value gives no bar and the label
    "n/a"; a panel with no values at all says "not available" (for instance no training text to
    check copying against). Bars are coloured from cool (low temperature) to warm.
    """
    fig = make_subplots(rows=1, cols=len(TEMPERATURE_METRICS), subplot_titles=[t for _, t in TEMPERATURE_METRICS],
                        horizontal_spacing=0.07)
    fig.update_layout(height=300, showlegend=False, bargap=0.25, **_LAYOUT)
    fig.update_annotations(font_size=12)  # the subplot titles
    if results is None or results.empty:
        fig.add_annotation(text=EMPTY_COMPARE_MESSAGE, xref="paper", yref="paper", x=0.5, y=0.5,
                           showarrow=False, font=dict(size=14, color="grey"))
        return fig
    temps = [float(t) for t in results["temperature"]]
    labels = [f"{t:g}" for t in temps]
    lo, hi = min(temps), max(temps)
    colors = sample_colorscale("RdBu_r", [0.5 if hi == lo else 0.1 + 0.8 * (t - lo) / (hi - lo) for t in temps])
    for col, (key, name) in enumerate(TEMPERATURE_METRICS, start=1):
        values = results[key].tolist() if key in results else [None] * len(temps)
        values = [v if _finite(v) else None for v in values]
        fig.add_trace(go.Bar(x=labels, y=values, name=name, marker_color=colors, text=[_fmt(v) for v in values],
                             textposition="outside", cliponaxis=False,
                             hovertemplate=f"temperature %{{x}}<br>{name}: %{{text}}<extra></extra>"), row=1, col=col)
        if all(v is None for v in values):
            axis = "" if col == 1 else str(col)
            fig.add_annotation(text="not available", xref=f"x{axis} domain", yref=f"y{axis} domain", x=0.5, y=0.5,
                               showarrow=False, font=dict(color="grey"))
    fig.update_xaxes(title_text="temperature", type="category")
    return fig
