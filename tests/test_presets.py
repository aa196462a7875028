"""The default training for a corpus: its time budget and its check schedule (one rule each, used by the
page, the API and the CLI)."""

from __future__ import annotations

import pytest

from poetry_lab.core.train import TrainConfig
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.presets import (
    DEFAULT_PRESET,
    FINETUNE_TRAIN,
    PRESETS,
    budget_minutes,
    eval_schedule,
    get_preset,
    patience_settings,
    train_settings,
)


def test_a_9kb_poem_gets_about_a_minute():
    for name in (DEFAULT_PRESET, "quick"):
        assert budget_minutes(get_preset(name), 9_000) == 1.0, name
    thorough = get_preset("thorough")
    assert budget_minutes(thorough, 9_000) < thorough.train["minutes"] / 4


def test_larger_corpora_keep_the_presets_minutes_and_sizes_between_grow():
    balanced = get_preset(DEFAULT_PRESET)
    assert budget_minutes(balanced, 95_455) == balanced.train["minutes"] == 5.0  # the Sonnets: as before
    assert budget_minutes(balanced, 1_000_000) == 5.0
    sizes = [budget_minutes(balanced, n) for n in (5_000, 20_000, 30_000, 40_000, 60_000)]
    assert sizes == sorted(sizes) and 1.0 < sizes[2] < 5.0


def test_a_tiny_corpus_is_checked_every_few_seconds_and_stops_at_the_second_worse_check():
    for preset in PRESETS.values():
        s = eval_schedule(preset, 9_000)
        assert 2.0 <= s["eval_every_s"] <= 6.0 and s["patience"] == 2, preset.name


def test_large_corpora_keep_the_presets_schedule():
    for preset in PRESETS.values():
        for chars in (95_455, 235_598, 10**7):
            s = eval_schedule(preset, chars)
            assert s == {"eval_every_s": preset.train["eval_every_s"], "patience": TrainConfig.patience}, preset.name


def test_train_settings_combine_the_recipe_budget_and_schedule():
    balanced = get_preset(DEFAULT_PRESET)
    tuned = train_settings(balanced, 9_000, finetune=True)
    assert tuned["lr"] == FINETUNE_TRAIN["lr"] and tuned["warmup_steps"] == FINETUNE_TRAIN["warmup_steps"]
    assert tuned["minutes"] == 1.0 and tuned["patience"] == 2 and tuned["eval_every_s"] <= 5.0
    TrainConfig(**tuned)  # every field is a TrainConfig field
    assert train_settings(balanced, 9_000)["lr"] == balanced.train["lr"]
    assert train_settings(balanced, 9_000, minutes=3)["minutes"] == 3.0  # the poet's own minutes win
    assert train_settings(balanced, 200_000) == {**balanced.train, "patience": TrainConfig.patience}


@pytest.mark.parametrize("chars", [0, 1, 19_999, 20_000, 49_999, 50_000, 10**8])
def test_budgets_stay_within_a_minute_and_the_presets_minutes(chars):
    for preset in PRESETS.values():
        assert 1.0 <= budget_minutes(preset, chars) <= preset.train["minutes"]


@pytest.mark.parametrize("value, settings", [
    (None, {}), ("", {}), (0, {}), (0.0, {}), ("0", {}),  # the preset's choice (an emptied page field sends 0)
    ("never", {"patience": None}), (" Never ", {"patience": None}),
    (3, {"patience": 3}), ("10", {"patience": 10}), (2.0, {"patience": 2}),
])
def test_one_rule_says_what_a_patience_means(value, settings):
    assert patience_settings(value) == settings


@pytest.mark.parametrize("value", [-1, 2.5, "soon", "nan", float("inf")])
def test_a_patience_that_is_no_count_is_refused_plainly(value):
    with pytest.raises(PoetryLabError, match="whole number of checks, or 'never'"):
        patience_settings(value)
