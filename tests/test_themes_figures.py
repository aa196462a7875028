"""Theme figures, checked through fig.to_dict(): traces, their numbers, escaping, empty inputs."""

from __future__ import annotations

import pandas as pd

from poetry_lab.figures.themes import (
    EMPTY_MAP_MESSAGE,
    EMPTY_TABLE_MESSAGE,
    EMPTY_WORDS_MESSAGE,
    comparison_figure,
    theme_colour,
    theme_map,
    top_words_figure,
)

POINTS = pd.DataFrame([
    {"x": 0.0, "y": 1.0, "theme": 0, "theme_words": "sea, ship", "first_line": "The sea is grey", "kind": "corpus", "label": ""},
    {"x": 0.5, "y": 1.5, "theme": 0, "theme_words": "sea, ship", "first_line": "A ship <b>upon</b> the sea", "kind": "corpus", "label": ""},
    {"x": 3.0, "y": -1.0, "theme": 1, "theme_words": "rose, bloom", "first_line": "The rose in bloom", "kind": "corpus", "label": ""},
    {"x": 0.2, "y": 1.1, "theme": 0, "theme_words": "sea, ship", "first_line": "Waves on waves", "kind": "new", "label": "T=0.8"},
])
TABLE = pd.DataFrame({"method": ["tfidf", "lda"], "silhouette": [0.05, 0.9], "coherence_npmi": [0.2, 0.1],
                      "coherence_npmi_chance": [-0.01, -0.02], "sizes": [[2, 1], [1, 1, 1]]})
WORDS = [[("sea", 0.5), ("ship", 0.3), ("wave", 0.2)], [("rose", 0.6), ("bloom", 0.4)]]


def data(fig) -> dict[str, dict]:
    return {t["name"]: t for t in fig.to_dict()["data"]}


def annotations(fig) -> list[str]:
    return [a["text"] for a in fig.to_dict()["layout"].get("annotations", [])]


def test_theme_map_one_trace_per_theme_and_new_poems_as_stars():
    traces = data(theme_map(POINTS))
    assert list(traces) == ["theme 1: sea, ship", "theme 2: rose, bloom", "new poems"]
    sea = traces["theme 1: sea, ship"]
    assert list(sea["x"]) == [0.0, 0.5] and list(sea["y"]) == [1.0, 1.5]
    assert sea["marker"]["color"] == theme_colour(0)
    assert list(sea["customdata"]) == ["The sea is grey", "A ship &lt;b&gt;upon&lt;/b&gt; the sea"]  # escaped
    new = traces["new poems"]
    assert new["marker"]["symbol"] == "star" and list(new["text"]) == ["T=0.8"] and new["mode"] == "markers+text"
    assert list(new["marker"]["color"]) == [theme_colour(0)]
    assert "theme %{customdata[1]}" in new["hovertemplate"]


def test_theme_map_hover_shows_the_first_line_and_the_theme_label():
    points = POINTS.assign(theme_label=["sea, ship, wave"] * 2 + ["rose, bloom"] + ["sea, ship, wave"])
    traces = data(theme_map(points))
    assert list(traces) == ["theme 1: sea, ship, wave", "theme 2: rose, bloom", "new poems"]
    hover = traces["theme 2: rose, bloom"]["hovertemplate"]
    assert hover.startswith("%{customdata}") and "theme 2: rose, bloom" in hover  # first line, then the label
    assert list(traces["new poems"]["customdata"][0]) == ["Waves on waves", 1, "sea, ship, wave"]


def test_theme_map_without_new_poems_or_points():
    assert "new poems" not in data(theme_map(POINTS[POINTS["kind"] == "corpus"]))
    empty = theme_map(POINTS.iloc[0:0])
    assert data(empty) == {} and annotations(empty) == [EMPTY_MAP_MESSAGE]


def test_comparison_figure_bars_chance_and_stacked_sizes():
    fig = comparison_figure(TABLE)
    traces = data(fig)
    assert list(traces["silhouette"]["y"]) == [0.05, 0.9] and list(traces["silhouette"]["x"]) == ["tfidf", "lda"]
    assert list(traces["coherence"]["y"]) == [0.2, 0.1]
    assert list(traces["chance level"]["y"]) == [-0.01, -0.02]
    assert [list(traces[f"theme {t}"]["y"]) for t in (1, 2, 3)] == [[2, 1], [1, 1], [0, 1]]  # a missing theme is 0
    assert fig.to_dict()["layout"]["barmode"] == "stack"
    empty = comparison_figure(TABLE.iloc[0:0])
    assert data(empty) == {} and EMPTY_TABLE_MESSAGE in annotations(empty)


def test_top_words_figure_one_panel_per_theme_heaviest_on_top():
    fig = top_words_figure(WORDS, sizes=[7, 5])
    traces = fig.to_dict()["data"]
    assert [t["name"] for t in traces] == ["theme 1 (7 poems)", "theme 2 (5 poems)"]
    assert list(traces[0]["y"]) == ["wave", "ship", "sea"] and list(traces[0]["x"]) == [0.2, 0.3, 0.5]
    assert traces[0]["orientation"] == "h" and traces[1]["xaxis"] == "x2"
    assert annotations(fig)[:2] == ["theme 1 (7 poems)", "theme 2 (5 poems)"]
    empty = top_words_figure([])
    assert EMPTY_WORDS_MESSAGE in annotations(empty)


def test_figures_from_a_fitted_pipeline():
    from test_themes import POEMS

    from poetry_lab.themes.methods import compare_methods

    table, fitted = compare_methods(POEMS, 3, methods=("tfidf", "lda"))
    pipe = fitted["tfidf"]
    traces = data(theme_map(pipe.map_points(["The ship on the sea"], ["mine"])))
    assert len(traces) == 4 and sum(len(t["x"]) for n, t in traces.items() if n != "new poems") == 12
    assert list(traces["new poems"]["text"]) == ["mine"]
    assert set(data(comparison_figure(table))) >= {"silhouette", "coherence", "chance level", "theme 1"}
    assert len(top_words_figure(pipe.top_words_, pipe.sizes_.tolist()).to_dict()["data"]) == 3
