"""Theme figures, one pure function each: plain data (DataFrames, lists) in, `go.Figure` out.

    theme_map(points)           the corpus poems on a 2D map coloured by theme, new poems as stars
    comparison_figure(table)    the methods side by side: silhouette, coherence (with chance), sizes
    top_words_figure(top_words) one bar panel per theme: its top words and their weights

Inputs come from poetry_lab.themes.methods (ThemePipeline.map_points, compare_methods, top_words_) but
nothing here imports it, torch or scikit-learn. Themes are numbered from 1 for people. Poem text in
hovers is HTML-escaped (plotly renders a subset of HTML in hover labels).
"""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly + qualitative.D3  # 20 distinguishable theme colours, then they repeat
EMPTY_MAP_MESSAGE = "Find themes to see the poems on a map"
EMPTY_TABLE_MESSAGE = "Compare methods to see them side by side"
EMPTY_WORDS_MESSAGE = "Find themes to see their words"
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=70, b=45))


def theme_colour(theme: int) -> str:
    return PALETTE[theme % len(PALETTE)]


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=message, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                       font=dict(size=14, color="grey"))
    return fig


def theme_map(points: pd.DataFrame, title: str = "Poems by theme") -> go.Figure:
    """One marker trace per theme for the corpus poems ("theme N: label"), hover = the poem's first line
    and its theme's label; then one trace "new poems" (stars with their labels written beside them) if
    there are any.

    points: columns x, y, theme (0-based), theme_words, first_line, kind ("corpus" or "new"), label, and
    theme_label (the theme's two or three most distinctive words; without it, theme_words stand in).
    """
    fig = go.Figure()
    fig.update_layout(title=dict(text=title, x=0.01), height=560, legend=dict(title="themes"), **_LAYOUT)
    fig.update_xaxes(title_text="component 1", zeroline=False)
    fig.update_yaxes(title_text="component 2", zeroline=False)
    if points is None or points.empty:
        return _empty(fig, EMPTY_MAP_MESSAGE)
    tag = "theme_label" if "theme_label" in points else "theme_words"
    corpus, new = points[points["kind"] == "corpus"], points[points["kind"] == "new"]
    for theme, group in corpus.groupby("theme", sort=True):
        label = html.escape(str(group[tag].iloc[0]))
        fig.add_trace(go.Scatter(
            x=group["x"].tolist(), y=group["y"].tolist(), mode="markers", name=f"theme {theme + 1}: {label}",
            marker=dict(size=9, color=theme_colour(int(theme)), opacity=0.8, line=dict(width=0.5, color="white")),
            customdata=[html.escape(s) for s in group["first_line"]],
            hovertemplate=f"%{{customdata}}<br><i>theme {theme + 1}: {label}</i><extra></extra>"))
    if not new.empty:
        fig.add_trace(go.Scatter(
            x=new["x"].tolist(), y=new["y"].tolist(), mode="markers+text", name="new poems",
            text=[html.escape(s) for s in new["label"]], textposition="top center",
            marker=dict(symbol="star", size=17, color=[theme_colour(int(t)) for t in new["theme"]],
                        line=dict(width=1.5, color="black")),
            customdata=[[html.escape(s), int(t) + 1, html.escape(str(g))] for s, t, g in zip(new["first_line"], new["theme"], new[tag])],
            hovertemplate="<b>%{text}</b><br>%{customdata[0]}<br><i>theme %{customdata[1]}: %{customdata[2]}</i><extra></extra>"))
    return fig


def comparison_figure(table: pd.DataFrame, title: str = "Theme methods compared") -> go.Figure:
    """Three panels over the methods: "silhouette" bars, "coherence (NPMI)" bars with the chance
    level as a marker trace, and "theme sizes" stacked (one trace per theme, "theme N").

    table: compare_methods's DataFrame (method, silhouette, coherence_npmi, coherence_npmi_chance, sizes).
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=["silhouette (own space)", "coherence (NPMI)", "theme sizes"],
                        horizontal_spacing=0.08)
    fig.update_layout(title=dict(text=title, x=0.01), height=380, barmode="stack", **_LAYOUT,
                      legend=dict(orientation="h", yanchor="bottom", y=-0.3))
    if table is None or table.empty:
        return _empty(fig, EMPTY_TABLE_MESSAGE)
    methods = table["method"].tolist()
    fig.add_trace(go.Bar(x=methods, y=table["silhouette"].tolist(), name="silhouette", marker_color="#4c78a8",
                         showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra>silhouette</extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=methods, y=table["coherence_npmi"].tolist(), name="coherence", marker_color="#f58518",
                         showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra>NPMI</extra>"), row=1, col=2)
    if "coherence_npmi_chance" in table:
        tick = dict(symbol="line-ew-open", size=28, color="black", line=dict(width=2))  # a bar-wide level mark
        fig.add_trace(go.Scatter(x=methods, y=table["coherence_npmi_chance"].tolist(), name="chance level", mode="markers",
                                 marker=tick, hovertemplate="%{x}: %{y:.3f}<extra>random themes</extra>"), row=1, col=2)
    width = max(len(s) for s in table["sizes"])
    for t in range(width):
        sizes = [s[t] if t < len(s) else 0 for s in table["sizes"]]
        fig.add_trace(go.Bar(x=methods, y=sizes, name=f"theme {t + 1}", marker_color=theme_colour(t), showlegend=False,
                             hovertemplate=f"%{{x}}, theme {t + 1}: %{{y}} poems<extra></extra>"), row=1, col=3)
    return fig


def top_words_figure(top_words: list[list[tuple[str, float]]], sizes: list[int] | None = None,
                     title: str = "Top words per theme", cols: int = 3) -> go.Figure:
    """One horizontal bar panel per theme ("theme N (size poems)"), heaviest word on top."""
    k = len(top_words or [])
    rows = max(1, math.ceil(k / cols))
    names = [f"theme {t + 1}" + (f" ({sizes[t]} poems)" if sizes is not None else "") for t in range(k)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names or None, horizontal_spacing=0.12,
                        vertical_spacing=0.5 / rows)
    fig.update_layout(title=dict(text=title, x=0.01), height=120 + 230 * rows, showlegend=False, **_LAYOUT)
    if k == 0:
        return _empty(fig, EMPTY_WORDS_MESSAGE)
    for t, words in enumerate(top_words):
        pairs = list(reversed(words))  # plotly draws the first bar at the bottom
        fig.add_trace(go.Bar(x=[w for _, w in pairs], y=[html.escape(s) for s, _ in pairs], orientation="h",
                             name=names[t], marker_color=theme_colour(t),
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=t // cols + 1, col=t % cols + 1)
    return fig
