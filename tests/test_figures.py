"""Figures, checked through fig.to_dict(): traces, their numbers, the bits axis, empty and huge inputs."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

from poetry_lab.figures.training import (
    EMPTY_COMPARE_MESSAGE,
    EMPTY_LOSS_MESSAGE,
    MAX_TRAIN_POINTS,
    TEMPERATURE_METRICS,
    downsample,
    loss_curve,
    temperature_bars,
)

LN2 = math.log(2)
TRAIN = [(10, 1.0, 3.0), (20, 2.0, 2.5), (30, 3.0, 2.2)]  # (step, elapsed s, nats)
EVAL = [(15, 1.5, 2.6, 2.8), (30, 3.0, 2.2, 2.4)]  # (step, elapsed s, train nats, val nats)


def traces(fig) -> dict[str, dict]:
    return {t["name"]: t for t in fig.to_dict()["data"]}


# --- loss_curve --------------------------------------------------------------------------------------


def test_loss_curve_plots_the_given_points():
    t = traces(loss_curve(TRAIN, EVAL))
    assert set(t) == {"training loss", "validation loss", "bits axis"}
    assert list(t["training loss"]["x"]) == [10, 20, 30]
    assert list(t["training loss"]["y"]) == [3.0, 2.5, 2.2]
    assert list(t["validation loss"]["x"]) == [15, 30]
    assert list(t["validation loss"]["y"]) == [2.8, 2.4]
    assert t["training loss"]["mode"] == "lines" and t["validation loss"]["mode"] == "lines+markers"


def test_loss_curve_hover_shows_elapsed_seconds_and_bits():
    t = traces(loss_curve(TRAIN, EVAL))
    elapsed, bits = zip(*t["validation loss"]["customdata"])
    assert list(elapsed) == [1.5, 3.0]
    assert list(bits) == pytest.approx([2.8 / LN2, 2.4 / LN2])
    template = t["training loss"]["hovertemplate"]
    assert "step %{x}" in template and "nats/char" in template and "bits/char" in template


def test_the_bits_axis_is_the_nats_axis_divided_by_ln2():
    layout = loss_curve(TRAIN, EVAL).to_dict()["layout"]
    nats, bits = layout["yaxis"]["range"], layout["yaxis2"]["range"]
    assert nats[0] <= 2.2 and nats[1] >= 3.0  # every loss is inside the range
    assert bits == pytest.approx([v / LN2 for v in nats])
    assert layout["yaxis2"]["overlaying"] == "y" and layout["yaxis2"]["side"] == "right"
    assert layout["yaxis"]["title"]["text"] == "nats per character"
    assert layout["yaxis2"]["title"]["text"] == "bits per character"


def test_loss_curve_layout_is_compact_with_the_legend_on_top():
    layout = loss_curve(TRAIN, EVAL, title="My run").to_dict()["layout"]
    assert layout["height"] == 350
    assert layout["title"]["text"] == "My run"
    assert layout["legend"]["orientation"] == "h" and layout["legend"]["y"] > 1
    assert layout["template"]["layout"]["plot_bgcolor"] == "white"  # plotly_white


def test_empty_loss_curve_says_how_to_start():
    d = loss_curve([], []).to_dict()
    assert d["data"] == []
    assert [a["text"] for a in d["layout"]["annotations"]] == [EMPTY_LOSS_MESSAGE]
    assert d["layout"]["xaxis"]["title"]["text"] == "training step"
    assert d["layout"]["yaxis"]["title"]["text"] == "nats per character"


def test_one_point_gives_a_usable_range():
    fig = loss_curve([(1, 0.1, 4.2)], [])
    t = traces(fig)
    assert list(t["training loss"]["y"]) == [4.2] and "validation loss" not in t
    lo, hi = fig.to_dict()["layout"]["yaxis"]["range"]
    assert lo < 4.2 < hi


def test_validation_only_and_missing_losses_are_left_out():
    t = traces(loss_curve([(1, 0.1, float("nan"))], [(5, 1.0, 2.0, None), (10, 2.0, 2.0, 1.9)]))
    assert "training loss" not in t
    assert list(t["validation loss"]["y"]) == [1.9]


def test_thousands_of_points_are_downsampled_keeping_the_ends():
    train = [(i, i * 0.01, 4.0 - i * 1e-4) for i in range(1, 10_001)]
    start = time.perf_counter()
    fig = loss_curve(train, EVAL)
    d = fig.to_dict()
    took = time.perf_counter() - start
    t = {x["name"]: x for x in d["data"]}["training loss"]
    assert len(t["x"]) == MAX_TRAIN_POINTS
    assert t["x"][0] == 1 and t["x"][-1] == 10_000 and t["y"][-1] == train[-1][2]
    assert list(t["x"]) == sorted(set(t["x"]))  # no point twice, still in order
    assert took < 0.5  # about 0.03 s on a quiet CPU; generous for a shared one


def test_downsample_is_exact_and_leaves_short_lists_alone():
    assert downsample(list(range(5)), limit=10) == [0, 1, 2, 3, 4]
    assert downsample(list(range(101)), limit=11) == list(range(0, 101, 10))
    assert downsample(list(range(7)), limit=3) == [0, 3, 6]


# --- temperature_bars ---------------------------------------------------------------------------------


RESULTS = [
    {"temperature": 0.2, "bits_per_char": 1.1, "copied_4gram_share": 0.6, "distinct_2": 0.4, "repeated_lines": 5},
    {"temperature": 0.5, "bits_per_char": 1.6, "copied_4gram_share": None, "distinct_2": 0.7, "repeated_lines": 2},
    {"temperature": 1.0, "bits_per_char": 2.3, "copied_4gram_share": 0.1, "distinct_2": 0.95, "repeated_lines": 0},
]


def test_temperature_bars_has_one_panel_per_metric_and_one_bar_per_temperature():
    d = temperature_bars(pd.DataFrame(RESULTS)).to_dict()
    assert len(d["data"]) == len(TEMPERATURE_METRICS)
    for i, (trace, (key, name)) in enumerate(zip(d["data"], TEMPERATURE_METRICS), start=1):
        assert trace["type"] == "bar" and trace["name"] == name
        assert trace["xaxis"] == ("x" if i == 1 else f"x{i}")  # each metric in its own panel
        assert list(trace["x"]) == ["0.2", "0.5", "1"]
        assert list(trace["y"]) == [r[key] for r in RESULTS]
    assert d["layout"]["xaxis3"]["type"] == "category"


def test_temperature_bars_tolerate_none():
    d = temperature_bars(pd.DataFrame(RESULTS)).to_dict()
    copied = d["data"][1]
    assert list(copied["y"]) == [0.6, None, 0.1]
    assert list(copied["text"]) == ["0.6", "n/a", "0.1"]


def test_a_panel_without_values_says_so():
    results = [{**r, "copied_4gram_share": None} for r in RESULTS]
    notes = [a for a in temperature_bars(pd.DataFrame(results)).to_dict()["layout"]["annotations"] if a["text"] == "not available"]
    assert len(notes) == 1 and notes[0]["xref"] == "x2 domain"


def test_temperature_bars_with_no_results():
    d = temperature_bars(None).to_dict()
    assert d["data"] == []
    assert EMPTY_COMPARE_MESSAGE in [a["text"] for a in d["layout"]["annotations"]]
