"""The temperature sweep as a plotly figure: a pure function of the sweep's DataFrame. No widgets."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# (column of lens.sweep's DataFrame, panel title), in panel order.
SWEEP_METRICS = (
    ("bits_per_char", "bits per character"),
    ("copied_4gram_share", "copied 4-word phrases"),
    ("distinct_2", "distinct word pairs"),
    ("real_word_share", "real words"),
    ("metre_score", "metre regularity"),
)
EMPTY_SWEEP_MESSAGE = "Run a sweep to see how temperature changes the poems"
_BAND = "rgba(217, 95, 2, 0.18)"
_LINE = "#d95f02"


def _summary(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, min and max of one metric per temperature, over the values that are numbers."""
    values = pd.to_numeric(df[column], errors="coerce") if column in df else pd.Series(dtype=float)
    stats = values.groupby(df["temperature"]).agg(["mean", "min", "max", "count"]).sort_index()
    return stats[stats["count"] > 0]


def sweep_figure(df: pd.DataFrame, title: str = "Temperature sweep") -> go.Figure:
    """One panel per metric (SWEEP_METRICS): the mean over the poems at each temperature, as a line
    with markers, inside a band from the lowest to the highest value.

    Per panel, traces in order: "<metric> lowest" (an invisible line), "<metric> range" (filled
    down to it) and "<metric> mean". A metric with no values (copying without the training text)
    gets no traces and the note "not available"; an empty frame shows how to start.
    """
    fig = make_subplots(rows=1, cols=len(SWEEP_METRICS), subplot_titles=[t for _, t in SWEEP_METRICS],
                        horizontal_spacing=0.06)
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), height=330, showlegend=False,
                      template="plotly_white", margin=dict(l=45, r=20, t=70, b=45), hovermode="x unified")
    fig.update_annotations(font_size=12)  # the panel titles
    if df is None or df.empty or "temperature" not in df:
        fig.add_annotation(text=EMPTY_SWEEP_MESSAGE, xref="paper", yref="paper", x=0.5, y=0.5,
                           showarrow=False, font=dict(size=14, color="grey"))
        return fig
    for col, (key, name) in enumerate(SWEEP_METRICS, start=1):
        stats = _summary(df, key)
        if stats.empty:
            axis = "" if col == 1 else str(col)
            fig.add_annotation(text="not available", xref=f"x{axis} domain", yref=f"y{axis} domain",
                               x=0.5, y=0.5, showarrow=False, font=dict(color="grey"))
            continue
        x = [float(t) for t in stats.index]
        fig.add_trace(go.Scatter(x=x, y=stats["min"].tolist(), name=f"{name} lowest", mode="lines",
                                 line=dict(width=0), hoverinfo="skip"), row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=stats["max"].tolist(), name=f"{name} range", mode="lines",
                                 line=dict(width=0), fill="tonexty", fillcolor=_BAND,
                                 customdata=stats["min"].tolist(),
                                 hovertemplate="lowest %{customdata:.3g}, highest %{y:.3g}<extra></extra>"),
                      row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=stats["mean"].tolist(), name=f"{name} mean", mode="lines+markers",
                                 line=dict(color=_LINE, width=2), marker=dict(size=6),
                                 customdata=stats["count"].tolist(),
                                 hovertemplate=f"{name}: %{{y:.3g}} (mean of %{{customdata}})<extra></extra>"),
                      row=1, col=col)
    fig.update_xaxes(title_text="temperature")
    return fig
