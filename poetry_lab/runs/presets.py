"""Named training presets: a model size and training settings, described by what they cost here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: dict = field(default_factory=dict)  # ModelConfig fields
    train: dict = field(default_factory=dict)  # TrainConfig fields


# Measured on a 2-core CPU (PERF-NOTES and benchmarks/): one wide LSTM layer with a high learning
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
            "about 5 minutes on a 2-core CPU: good for 100k-1M characters",
            model={"hidden": 256, "layers": 1, "emb_dim": 64, "dropout": 0.1},
            train={"minutes": 5.0, "lr": 6e-3, "seq_len": 64, "batch_size": 32, "eval_every_s": 15.0},
        ),
        Preset(
            "thorough",
            "about 20 minutes on a 2-core CPU: a wider model for larger corpora",
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
