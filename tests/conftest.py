"""Shared fixtures: the shared corpora folder, a tiny poem text and a tiny trained model.

Everything is small on purpose: the suite runs on a shared 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"

# Keep torch from oversubscribing the shared CPU.
torch.set_num_threads(1)

STANZAS = [
    "I\nThe rose is red upon the wall,\nThe bee is busy in the hall;\nAnd when the evening shadows fall\nThe garden sleeps, and that is all.",
    "II\nThe moon is white above the sea,\nThe wind is singing soft to me;\nAnd when the morning sets us free\nThe sails go out, and so do we.",
    "III\nThe lark is high above the hill,\nThe mill is turning by the rill;\nAnd when the summer days are still\nThe fields are gold, and always will.",
    "IV\nThe snow is deep along the lane,\nThe frost is bright upon the pane;\nAnd when the winter comes again\nThe fire is warm, and so is rain.",
]
# About 3 KB of verse: the four stanzas, four times over.
POEM_TEXT = "\n\n".join(STANZAS * 4) + "\n"


def requires_shared(name: str) -> Path:
    """The path of a shared corpus, or skip the test when the collection is not on this machine."""
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared corpus {path} is not available")
    return path


@pytest.fixture
def poem_text() -> str:
    return POEM_TEXT


@pytest.fixture(scope="session")
def tiny_bundle():
    """A tiny LSTM (hidden 32) trained for 30 steps on POEM_TEXT: a real, if poor, ModelBundle."""
    from poetry_lab.core.checkpoint import ModelBundle
    from poetry_lab.core.model import ModelConfig, build_model
    from poetry_lab.core.train import TrainConfig, Trainer
    from poetry_lab.core.vocab import Vocab
    from poetry_lab.data.corpus import Corpus

    corpus = Corpus(POEM_TEXT, name="tiny poems")
    train_text, val_text = corpus.split(0.2)
    vocab = Vocab.from_text(POEM_TEXT)
    model = build_model(ModelConfig(vocab_size=len(vocab), hidden=32, emb_dim=16, dropout=0.0), seed=0, device=torch.device("cpu"))
    cfg = TrainConfig(seq_len=32, batch_size=16, lr=2e-2, warmup_steps=5, minutes=None, max_steps=30, eval_every_steps=15, patience=None)
    result = Trainer(model, vocab.encode(train_text), vocab.encode(val_text), cfg).fit()
    model.eval()
    return ModelBundle(model=model, vocab=vocab, facts={"corpus": "tiny poems", "steps": result.steps, "best_val_loss": result.best_val})


@pytest.fixture(scope="session")
def tiny_model_path(tiny_bundle, tmp_path_factory) -> Path:
    """tiny_bundle saved to a model file (shared, read-only by convention)."""
    from poetry_lab.core.checkpoint import save_model

    return save_model(tmp_path_factory.mktemp("tiny_model") / "model.safetensors", tiny_bundle)
