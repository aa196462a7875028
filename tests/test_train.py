"""Training: it learns, it is repeatable, it stops for the right reason, and its helpers are right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig, Trainer, evaluate, lr_at, stream_layout
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError

CPU = torch.device("cpu")


def _setup(text: str, hidden: int = 32, dropout: float = 0.0, seed: int = 0):
    train_text, val_text = Corpus(text).split(0.2)
    vocab = Vocab.from_text(text)
    model = build_model(ModelConfig(vocab_size=len(vocab), hidden=hidden, emb_dim=16, dropout=dropout), seed=seed, device=CPU)
    return model, vocab, vocab.encode(train_text), vocab.encode(val_text)


def _cfg(**kw) -> TrainConfig:
    base = dict(seq_len=32, batch_size=16, lr=2e-2, warmup_steps=5, minutes=None, patience=None)
    base.update(kw)
    return TrainConfig(**base)


def test_training_learns_the_text(poem_text):
    model, vocab, train_ids, val_ids = _setup(poem_text)
    untrained = evaluate(model, val_ids)
    bound = 0.6 * math.log(len(vocab))  # ~2.1 nats: well below both uniform and unigram guessing
    assert untrained > bound + 0.8  # the bound is out of reach without training
    result = Trainer(model, train_ids, val_ids, _cfg(max_steps=120, eval_every_steps=20)).fit()
    assert result.stop_reason == "steps"
    assert result.steps == 120
    assert result.best_val < bound, f"best validation loss {result.best_val:.3f} >= {bound:.3f}"
    assert len([h for h in result.history if h["kind"] == "eval"]) == 6
    # The best weights are the ones loaded at the end.
    assert evaluate(model, val_ids) == pytest.approx(result.best_val, abs=1e-6)
    assert not model.training


@pytest.mark.parametrize("limit", [{"max_steps": 24}, {"epochs": 2.0}], ids=["max_steps", "epochs"])
def test_same_seed_gives_bit_identical_weights(poem_text, limit):
    runs = []
    for _ in range(2):
        model, _, train_ids, val_ids = _setup(poem_text, dropout=0.2)
        result = Trainer(model, train_ids, val_ids, _cfg(eval_every_steps=5, seed=3, **limit)).fit()
        runs.append((model.state_dict(), result))
    (sa, ra), (sb, rb) = runs
    assert ra.steps == rb.steps > 5
    assert [h["val_loss"] for h in ra.history] == [h["val_loss"] for h in rb.history]
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    # A different seed really gives a different run.
    model, _, train_ids, val_ids = _setup(poem_text, dropout=0.2)
    Trainer(model, train_ids, val_ids, _cfg(eval_every_steps=5, seed=4, **limit)).fit()
    assert not torch.equal(model.state_dict()["head.weight"], sa["head.weight"])


def test_epochs_mode_stops_after_that_many_epochs(poem_text):
    model, _, train_ids, val_ids = _setup(poem_text)
    trainer = Trainer(model, train_ids, val_ids, _cfg(epochs=1.5, eval_every_steps=1000))
    result = trainer.fit()
    assert result.stop_reason == "epochs"
    assert result.steps == math.ceil(1.5 * trainer.steps_per_epoch)
    assert result.epochs == pytest.approx(result.steps / trainer.steps_per_epoch)


def test_early_stop_when_validation_cannot_improve(poem_text):
    model, _, train_ids, _ = _setup(poem_text)
    # Validation text unrelated to the training text, and an improvement threshold nothing can meet:
    # the first evaluation sets the best, the second cannot beat it by 1000 nats, patience 1 ends it.
    rng = np.random.default_rng(0)
    val_ids = rng.integers(1, 20, size=400)
    cfg = _cfg(max_steps=500, eval_every_steps=3, patience=1, min_delta=1000.0)
    result = Trainer(model, train_ids, val_ids, cfg).fit()
    assert result.stop_reason == "early_stop"
    assert result.steps == 6
    assert len(result.history) == 2


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_a_training_whose_validation_only_worsens_stops_after_patience_checks(poem_text, patience):
    # The validation text is one character the training text never has: each step makes it less likely,
    # so every check after the first is worse (as a tiny corpus learnt by heart is), and the run ends
    # at the patience-th, keeping the first check's weights.
    vocab = Vocab.from_text(poem_text + "#")
    model = build_model(ModelConfig(vocab_size=len(vocab), hidden=32, emb_dim=16), seed=0, device=CPU)
    trainer = Trainer(model, vocab.encode(poem_text), vocab.encode("#" * 200), _cfg(max_steps=500, eval_every_steps=3, patience=patience))
    first = []  # the weights at the first check

    def keep_first(t, p):
        if not first:
            first.append({k: v.clone() for k, v in t.model.state_dict().items()})

    trainer.add_callback("on_eval", keep_first)
    result = trainer.fit()
    vals = [h["val_loss"] for h in result.history]
    assert vals == sorted(vals)  # only worse
    assert result.stop_reason == "early_stop" and trainer.stop_reason == "early_stop"
    assert len(vals) == patience + 1 and result.steps == 3 * (patience + 1)
    assert result.best_step == 3 and result.best_val == vals[0]
    assert all(torch.equal(v, first[0][k]) for k, v in model.state_dict().items())


def test_stop_from_a_callback_cancels_and_loads_best_weights(poem_text):
    model, _, train_ids, val_ids = _setup(poem_text)
    trainer = Trainer(model, train_ids, val_ids, _cfg(max_steps=500, eval_every_steps=4))
    seen_states = {}

    def on_step(tr, p):
        if p.step == 10:
            tr.stop()

    def on_eval(tr, p):
        seen_states[p.step] = (p.val_loss, {k: v.clone() for k, v in tr.model.state_dict().items()})

    trainer.add_callback("on_step", on_step)
    trainer.add_callback("on_eval", on_eval)
    result = trainer.fit()
    assert result.stop_reason == "cancelled"
    assert result.steps == 10
    assert sorted(seen_states) == [4, 8, 10]  # the stop still evaluates the last weights
    best_step = min(seen_states, key=lambda s: seen_states[s][0])
    assert result.best_step == best_step
    assert result.best_val == seen_states[best_step][0]
    for k, v in model.state_dict().items():
        assert torch.equal(v, seen_states[best_step][1][k]), k


def test_time_budget_ends_with_budget(poem_text):
    model, _, train_ids, val_ids = _setup(poem_text, hidden=16)
    cfg = TrainConfig(seq_len=32, batch_size=8, minutes=0.02, eval_every_s=60.0, patience=None)
    result = Trainer(model, train_ids, val_ids, cfg).fit()
    assert result.stop_reason == "budget"
    assert result.elapsed >= 0.02 * 60
    assert result.steps >= 1
    assert result.best_val is not None  # the budget's end is evaluated


def test_callbacks_fire(poem_text):
    model, _, train_ids, val_ids = _setup(poem_text, hidden=16)
    trainer = Trainer(model, train_ids, val_ids, _cfg(max_steps=9, eval_every_steps=4))
    events = {"on_step": [], "on_eval": [], "on_end": []}
    for name in events:
        trainer.add_callback(name, lambda tr, p, name=name: events[name].append(p))
    result = trainer.fit()
    assert [p.step for p in events["on_step"]] == list(range(1, 10))
    assert [p.step for p in events["on_eval"]] == [4, 8, 9]
    assert all(p.val_loss is not None and p.best_val is not None for p in events["on_eval"])
    assert all(math.isfinite(p.train_loss) and p.lr > 0 for p in events["on_step"])
    assert len(events["on_end"]) == 1 and events["on_end"][0].step == result.steps == 9


def test_without_validation_text_there_is_no_best(poem_text):
    model, _, train_ids, _ = _setup(poem_text, hidden=16)
    result = Trainer(model, train_ids, None, _cfg(max_steps=3, eval_every_steps=1)).fit()
    assert result.best_val is None and result.history == [] and result.stop_reason == "steps"


def test_lr_warmup_and_cosine_endpoints():
    cfg = TrainConfig(lr=0.01, warmup_steps=10, min_lr_ratio=0.1, minutes=1.0)
    assert lr_at(0, 0.0, cfg) == pytest.approx(0.001)
    assert lr_at(4, 0.0, cfg) == pytest.approx(0.005)
    assert lr_at(9, 0.0, cfg) == pytest.approx(0.01)
    assert lr_at(10, 0.0, cfg) == pytest.approx(0.01)
    assert lr_at(10, 0.5, cfg) == pytest.approx(0.01 * (0.1 + 0.9 * 0.5))
    assert lr_at(10, 1.0, cfg) == pytest.approx(0.001)
    assert lr_at(10, 2.0, cfg) == pytest.approx(0.001)  # progress is clamped
    decay = [lr_at(100, p / 10, cfg) for p in range(11)]
    assert all(a > b for a, b in zip(decay, decay[1:]))
    no_warmup = TrainConfig(lr=0.01, warmup_steps=0, minutes=1.0)
    assert lr_at(0, 0.0, no_warmup) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "n_ids, batch, seq, expected",
    [
        (10_001, 64, 128, (64, 128)),  # plenty of text: full batch
        (1_001, 64, 128, (7, 128)),  # fewer streams
        (101, 64, 128, (1, 100)),  # one stream, shorter chunk
        (9, 64, 128, (1, 8)),  # the shortest trainable text
        (200, 4, 32, (4, 32)),
    ],
)
def test_stream_layout(n_ids, batch, seq, expected):
    streams, chunk = stream_layout(n_ids, batch, seq)
    assert (streams, chunk) == expected
    assert streams * chunk <= n_ids - 1


@pytest.mark.parametrize("n_ids", [0, 1, 5, 8])
def test_stream_layout_rejects_too_short_texts(n_ids):
    with pytest.raises(PoetryLabError):
        stream_layout(n_ids, 8, 32)


def test_evaluate_single_stream_equals_full_sequence_cross_entropy(poem_text):
    model, vocab, _, _ = _setup(poem_text, hidden=16)
    ids = vocab.encode(poem_text[:900])
    x = torch.as_tensor(ids[:-1]).unsqueeze(0)
    y = torch.as_tensor(ids[1:]).unsqueeze(0)
    with torch.no_grad():
        _, manual, _ = model.eval()(x, y)
    assert evaluate(model, ids, streams=1) == pytest.approx(manual.item(), abs=1e-5)
    assert evaluate(model, ids, streams=1, chunk=37) == pytest.approx(manual.item(), abs=1e-5)
    assert evaluate(model, torch.as_tensor(ids), streams=1) == pytest.approx(manual.item(), abs=1e-5)
    # Several streams lose only a little left context.
    assert evaluate(model, ids, streams=8) == pytest.approx(manual.item(), abs=0.1)


def test_evaluate_restores_training_mode(poem_text):
    model, vocab, _, _ = _setup(poem_text, hidden=16)
    model.train()
    evaluate(model, vocab.encode(poem_text[:200]))
    assert model.training
    with pytest.raises(PoetryLabError):
        evaluate(model, vocab.encode("a"))


def test_too_short_text_raises(poem_text):
    model, vocab, _, val_ids = _setup(poem_text, hidden=16)
    with pytest.raises(PoetryLabError) as info:
        Trainer(model, vocab.encode("The r"), val_ids, _cfg(max_steps=5))
    assert "too short" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seq_len": 1},
        {"batch_size": 0},
        {"lr": 0.0},
        {"lr": 2.0},
        {"minutes": None, "epochs": None, "max_steps": None},
        {"minutes": -1.0},
        {"minutes": None, "epochs": 0.0},
    ],
)
def test_train_config_rejects_bad_values(kwargs):
    with pytest.raises(PoetryLabError):
        TrainConfig(**kwargs)


def test_an_average_of_the_weights_is_what_validates_and_what_is_kept(poem_text):
    """config.ema: validation and the best copy use the averaged weights; training moves the live ones."""
    from poetry_lab.core.train import TrainConfig
    from poetry_lab.data.corpus import Corpus
    from poetry_lab.runs.prepare import prepare_run

    def run(ema):
        cfg = TrainConfig(seq_len=16, batch_size=4, lr=1e-2, warmup_steps=2, minutes=None, max_steps=20, eval_every_steps=10,
                          patience=None, seed=1, ema=ema)
        prepared = prepare_run(Corpus(poem_text), {"hidden": 16, "emb_dim": 8, "dropout": 0.0}, cfg)
        live = {}
        prepared.trainer.add_callback("on_step_end", lambda t, p: live.update(
            {k: v.clone() for k, v in t.model.state_dict().items()}) if t.stop_reason else None)
        result = prepared.trainer.fit()
        return prepared.trainer, result, live

    plain, plain_result, plain_live = run(None)
    averaged, result, live = run(0.9)
    assert averaged._ema is not None and plain._ema is None
    ema = dict(zip([n for n, _ in averaged.model.named_parameters()], averaged._ema))
    assert all(torch.equal(plain_live[k], v) for k, v in plain.best_state.items()) or plain_result.best_step != 20
    if result.best_step == 20:  # the best copy is the average, not the live weights
        assert all(torch.allclose(averaged.best_state[k], ema[k]) for k in ema)
        assert not all(torch.allclose(live[k], ema[k]) for k in ema)
    assert result.best_val == pytest.approx(evaluate(averaged.model, averaged.val_ids, streams=32), abs=1e-6)
    with pytest.raises(PoetryLabError, match="decay"):
        TrainConfig(ema=1.5)
