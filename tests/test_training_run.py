"""prepare_run from scratch and from a base model (vocabulary growth), and the facts a model keeps."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import torch

from poetry_lab.core.checkpoint import ModelBundle, save_model
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.prepare import extend_vocab, prepare_run, training_facts

CPU = torch.device("cpu")
MODEL = {"hidden": 24, "emb_dim": 12, "layers": 1, "dropout": 0.0}


def _tc(**kw) -> TrainConfig:
    base = dict(seq_len=32, batch_size=8, lr=1e-2, warmup_steps=3, minutes=None, max_steps=8, eval_every_steps=4, patience=None)
    base.update(kw)
    return TrainConfig(**base)


def _new_text(poem_text: str) -> str:
    extra = "Die Straße — weiß und groß — führt zum Fluß.\nDer Grüße viele — süß.\n"
    return poem_text.replace("and that is all.", "and that is all —\nso heißt es.") + "\n" + extra * 3


def test_prepare_run_from_scratch(poem_text):
    corpus = Corpus(poem_text, name="tiny poems")
    run = prepare_run(corpus, MODEL, _tc(), val_fraction=0.2)
    assert run.train_text + run.val_text == corpus.text
    assert run.bundle.vocab == Vocab.from_text(corpus.text)
    assert run.bundle.model.config.vocab_size == len(run.bundle.vocab)
    assert run.bundle.model.config.hidden == 24
    assert run.bundle.facts == {}
    result = run.trainer.fit()
    assert result.steps == 8 and result.best_val is not None
    facts = training_facts(run, result)
    for key in ("best_val_loss", "steps", "corpus", "date"):
        assert key in facts
    assert facts["corpus"] == "tiny poems"
    assert facts["steps"] == 8
    assert facts["best_val_loss"] == result.best_val
    assert facts["best_val_bits_per_char"] == pytest.approx(result.best_val / math.log(2))
    assert facts["train_chars"] == len(run.train_text) and facts["val_chars"] == len(run.val_text)
    assert dt.datetime.fromisoformat(facts["date"]).tzinfo is not None
    assert "base_model" not in facts


def test_prepare_run_is_seeded(poem_text):
    a = prepare_run(Corpus(poem_text), MODEL, _tc(seed=5))
    b = prepare_run(Corpus(poem_text), MODEL, _tc(seed=5))
    for k, v in a.bundle.model.state_dict().items():
        assert torch.equal(v, b.bundle.model.state_dict()[k])


def test_prepare_run_refuses_too_little_text():
    with pytest.raises(PoetryLabError):
        prepare_run(Corpus("A rose.\n\nA bee.\n"), MODEL, _tc())


@pytest.fixture
def base_bundle(poem_text) -> ModelBundle:
    vocab = Vocab.from_text(poem_text)
    model = build_model(ModelConfig(vocab_size=len(vocab), **MODEL), seed=1, device=CPU).eval()
    return ModelBundle(model=model, vocab=vocab, facts={"corpus": "base poems", "steps": 99})


@pytest.mark.parametrize("as_path", [False, True], ids=["bundle", "path"])
def test_prepare_run_from_a_base_grows_the_vocabulary(base_bundle, poem_text, tmp_path, as_path):
    old_vocab = base_bundle.vocab
    old_state = {k: v.clone() for k, v in base_bundle.model.state_dict().items()}
    n = len(old_vocab)
    corpus = Corpus(_new_text(poem_text), name="new poems")
    missing = sorted(set(corpus.text) - set(old_vocab.chars))
    assert "ß" in missing and "—" in missing
    base = str(save_model(tmp_path / "base.safetensors", base_bundle)) if as_path else base_bundle

    run = prepare_run(corpus, {"hidden": 999}, _tc(), base=base)  # model settings are the base's
    vocab, model = run.bundle.vocab, run.bundle.model
    assert vocab.chars[:n] == old_vocab.chars
    assert vocab.chars[n:] == missing
    assert model.config.vocab_size == len(vocab) == n + len(missing)
    assert model.config.hidden == MODEL["hidden"]
    state = model.state_dict()
    assert torch.equal(state["embed.weight"][:n], old_state["embed.weight"])
    assert torch.equal(state["head.weight"][:n], old_state["head.weight"])
    assert torch.equal(state["head.bias"][:n], old_state["head.bias"])
    for k, v in old_state.items():
        if not k.startswith(("embed.", "head.")):
            assert torch.equal(state[k], v), k
    assert run.bundle.facts == {"base_model": "base poems"}

    # Old-vocabulary inputs give the same logits for the old characters as before.
    ids = torch.as_tensor(old_vocab.encode(poem_text[:200])).unsqueeze(0)
    with torch.no_grad():
        before, _, _ = base_bundle.model.eval()(ids)
        after, _, _ = model.eval()(ids)
    assert after.shape[-1] == len(vocab)
    assert torch.allclose(after[..., :n], before, atol=1e-6)
    # New characters start unlikely: no more likely than the least likely old character's bias.
    assert torch.all(state["head.bias"][n:] <= old_state["head.bias"].min())

    # The corpus is encoded with the grown vocabulary (no unknowns) and training proceeds.
    assert (run.trainer.train_ids > 0).all() and (run.trainer.val_ids > 0).all()
    result = run.trainer.fit()
    assert result.steps == 8 and math.isfinite(result.best_val)
    facts = training_facts(run, result)
    assert facts["base_model"] == "base poems" and facts["corpus"] == "new poems"


def test_base_bundle_itself_is_left_alone(base_bundle, poem_text):
    old_chars = list(base_bundle.vocab.chars)
    old_embed = base_bundle.model.embed.weight.clone()
    prepare_run(Corpus(_new_text(poem_text)), None, _tc(), base=base_bundle)
    assert base_bundle.vocab.chars == old_chars
    assert torch.equal(base_bundle.model.embed.weight, old_embed)


def test_extend_vocab_without_new_characters_is_a_no_op(base_bundle):
    same = extend_vocab(base_bundle, ["a", "b"])
    assert same.vocab == base_bundle.vocab
    assert same.model.config.vocab_size == base_bundle.model.config.vocab_size


def test_prepare_run_from_a_missing_base_file_raises(poem_text, tmp_path):
    with pytest.raises(PoetryLabError):
        prepare_run(Corpus(poem_text), None, _tc(), base=str(tmp_path / "missing.safetensors"))
