"""Named training presets: a model size and training settings, described by what they cost here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: dict = field(default_factory=dict)  # ModelConfig fields
    train: dict = field(default_factory=dict)  # TrainConfig fields


# Measured on a 2-core CPU (benchmarks/bench_core.py, benchmarks/suite/presets.py): one wide LSTM layer with a high learning
# rate buys the most validation loss per minute; bigger models only pay off with more minutes.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "quick",
            "about 1 minute on a 2-core CPU: a first taste; best when fine-tuning the pretrained model",
            model={"hidden": 256, "layers": 1, "emb_dim": 64, "dropout": 0.1},
            train={"minutes": 1.0, "lr": 6e-3, "seq_len": 64, "batch_size": 32, "eval_every_s": 10.0},
        ),
        Preset(
            "balanced",
            "about 5 minutes on a 2-core CPU: good for 100k-1M characters (smaller corpora get less time)",
            model={"hidden": 256, "layers": 1, "emb_dim": 64, "dropout": 0.1},
            train={"minutes": 5.0, "lr": 6e-3, "seq_len": 64, "batch_size": 32, "eval_every_s": 15.0},
        ),
        Preset(
            "thorough",
            "about 20 minutes on a 2-core CPU: a wider model for larger corpora (smaller ones get less time)",
            model={"hidden": 512, "layers": 1, "emb_dim": 64, "dropout": 0.2},
            train={"minutes": 20.0, "lr": 3e-3, "seq_len": 128, "batch_size": 64, "eval_every_s": 30.0},
        ),
    )
}
DEFAULT_PRESET = "balanced"


# Fine-tuning a pretrained model: a lower learning rate and a short warm-up keep what the base knows, and
# no dropout: the base never saw any, and dropout 0.1 cost 0.05-0.07 nats/char after 500 steps on the
# Sonnets and Milton (0.2 cost 0.13-0.14), lr 1e-3 beat 2e-3 and 3e-3 (benchmarks/bench_recipe.py).
FINETUNE_TRAIN = {"lr": 1e-3, "warmup_steps": 10}
FINETUNE_MODEL = {"dropout": 0.0}

# Corpus sizes, in characters, that change what training does or what a poet is told (one place for all).
TINY_CORPUS = 20_000  # a new model would mostly memorise it: the poet is told that "automatic" fine-tunes
SMALL_CORPUS = 100_000  # below this, the poet is told that training from scratch will do poorly
FINETUNE_BELOW = 500_000  # "automatic" fine-tunes the loaded model below this (benchmarks/bench_transfer.py)
SMALL_TEXT_CHARS = 500_000  # a new model gets stronger dropout below this
SMALL_TEXT_DROPOUT = 0.3  # alice.txt (130k chars) overfits within minutes at 0.1; 0.3 reached 1.35 nats/char
FULL_BUDGET_CHARS = 50_000  # below this, a default training gets a proportionally shorter budget and check interval


# How long a default training may run and how often it checks the validation text (budget_minutes and
# eval_schedule). A 9 KB poem fine-tuned from the base is read 10-20 times in its first 15 s (an epoch is
# 3 steps) and only overfits after that (issue 23: the best at the first check, then minutes of worse
# ones), while the Sonnets and Milton still improve for minutes. A preset's minutes and check interval
# are for FULL_BUDGET_CHARS and more; a smaller corpus gets both in proportion (as many passes over the
# text per budget and per check), at least MIN_BUDGET_MINUTES and MIN_EVAL_EVERY_S. Its validation
# text is small too (~900 characters for 9 KB), so a check costs ~0.1 s.
MIN_BUDGET_MINUTES = 1.0
MIN_EVAL_EVERY_S = 2.0  # (the trainer also keeps checks 10x their own cost apart)
TINY_PATIENCE = 2  # below TINY_CORPUS, checks only get worse once it is learnt by heart: stop at the second


def _share(corpus_chars: int) -> float:
    return min(1.0, max(corpus_chars, 0) / FULL_BUDGET_CHARS)


def budget_minutes(preset: Preset, corpus_chars: int) -> float:
    """The default time budget for a corpus of `corpus_chars`: the preset's minutes from FULL_BUDGET_CHARS
    on, proportionally fewer below (as many passes over the text), never under MIN_BUDGET_MINUTES."""
    minutes = float(preset.train.get("minutes") or MIN_BUDGET_MINUTES)
    return round(max(min(MIN_BUDGET_MINUTES, minutes), minutes * _share(corpus_chars)), 1)


def eval_schedule(preset: Preset, corpus_chars: int) -> dict:
    """TrainConfig's eval_every_s and patience for a corpus of `corpus_chars` characters.

    The preset's interval from FULL_BUDGET_CHARS on, proportionally shorter below (as many passes
    over the text between checks), so a small corpus is caught when it starts to be memorised. Below
    TINY_CORPUS a training stops at the TINY_PATIENCE-th check without progress; larger corpora wait
    TrainConfig's patience: their curves still improve slowly, and min_delta keeps noise from counting.
    """
    from poetry_lab.core.train import TrainConfig

    every = float(preset.train.get("eval_every_s", TrainConfig.eval_every_s))
    patience = TINY_PATIENCE if corpus_chars < TINY_CORPUS else TrainConfig.patience
    return {"eval_every_s": round(max(min(MIN_EVAL_EVERY_S, every), every * _share(corpus_chars)), 1), "patience": patience}


def train_settings(preset: Preset, corpus_chars: int, finetune: bool = False, minutes: float | None = None) -> dict:
    """The TrainConfig fields of a default training (page, API and CLI): the preset's, the fine-tuning
    recipe when `finetune`, `minutes` or else a budget sized to the corpus, and the check schedule."""
    settings = {**preset.train, **(FINETUNE_TRAIN if finetune else {})}
    settings["minutes"] = float(minutes) if minutes is not None else budget_minutes(preset, corpus_chars)
    settings.update(eval_schedule(preset, corpus_chars))
    return settings


PATIENCE_NEVER = "never"  # the patience that never stops a training early (the page's choice, the CLI's word)


def patience_settings(value: float | str | None) -> dict:
    """The TrainConfig fields a poet's patience sets, the same on the page, in the API and on the command
    line: None, "" or 0 keep the preset's choice ({}; Gradio sends an emptied number field as 0),
    PATIENCE_NEVER turns early stopping off ({"patience": None}), and a whole number N stops a training
    after N checks without improvement ({"patience": N})."""
    from poetry_lab.errors import PoetryLabError

    if isinstance(value, str):
        value = value.strip().lower()
        if value == PATIENCE_NEVER:
            return {"patience": None}
    if value is None or value == "":
        return {}
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer() or number < 0:
        raise PoetryLabError(f"Patience must be a whole number of checks, or '{PATIENCE_NEVER}' (not {value!r}).")
    return {"patience": int(number)} if number else {}


def model_settings(preset: Preset, corpus_chars: int) -> dict:
    """The preset's model fields, with stronger dropout for small texts that a model would memorise."""
    settings = dict(preset.model)
    if corpus_chars < SMALL_TEXT_CHARS:
        settings["dropout"] = max(settings.get("dropout", 0.0), SMALL_TEXT_DROPOUT)
    return settings


def get_preset(name: str) -> Preset:
    from poetry_lab.errors import PoetryLabError

    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise PoetryLabError(f"Unknown preset '{name}'. Choose one of: {', '.join(PRESETS)}.") from None
