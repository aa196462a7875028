"""Sampling: the NumPy cell, greedy and top-k decoding, seeds, batching, lines, prompts and settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poetry_lab.core.model import CELLS, CharLSTM, ModelConfig, build_model, state_parts
from poetry_lab.core.sampling import NumpyCell, SampleConfig, pick, sample
from poetry_lab.core.vocab import UNKNOWN, Vocab
from poetry_lab.errors import PoetryLabError

CPU = torch.device("cpu")


def _context_ids(vocab: Vocab, prompt: str) -> list[int]:
    """What sample() feeds before generating: a blank line (as far as the vocabulary has it), then the prompt."""
    lead = "".join(c for c in "\n\n" if c in vocab)
    return vocab.encode(lead + prompt).tolist()


@torch.no_grad()
def _next_logits(model: CharLSTM, ids: list[int]) -> torch.Tensor:
    """Logits for the character after `ids`, by one full forward pass; the unknown symbol excluded."""
    logits, _, _ = model(torch.tensor([ids]))
    out = logits[0, -1].clone()
    out[0] = float("-inf")
    return out


@pytest.mark.parametrize("cell", list(CELLS))
def test_numpy_cell_matches_forward_step_by_step(cell):
    V, H = 19, 20
    model = build_model(ModelConfig(vocab_size=V, cell=cell, hidden=H, emb_dim=8, layers=2), seed=4, device=CPU).eval()
    idx = torch.randint(0, V, (3, 25), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, _, _ = model(idx)
        _, _, torch_state = model(idx[:, :1])
    numpy_cell = NumpyCell(model)
    np_state = numpy_cell.zero_state(3)
    for t in range(idx.size(1)):
        np_logits, np_state = numpy_cell.step(idx[:, t].numpy(), np_state)
        assert np_logits.shape == (3, V)
        assert np.allclose(np_logits, full[:, t].numpy(), atol=1e-4), f"numpy step {t}"
        if t == 0:  # the same state, part by part, as the model's after one character
            for a, b in zip(np_state, numpy_cell.state(torch_state), strict=True):
                assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(state_parts(a), state_parts(b)))


def test_pick_top_k_and_top_p_keep_only_the_likeliest():
    logits = np.log(np.array([[0.0, 0.5, 0.3, 0.15, 0.05]], np.float32) + 1e-12)
    temps = np.array([1.0], np.float32)
    for u in np.linspace(0, 0.999, 50):
        assert pick(logits, temps, float(u), top_k=2)[0][0] in (1, 2)
        assert pick(logits, temps, float(u), top_p=0.5)[0][0] == 1  # 0.5 alone reaches top_p
        assert pick(logits, temps, float(u), top_p=0.8)[0][0] in (1, 2)
    ids, logp = pick(logits, np.array([0.0], np.float32), 0.9)
    assert ids[0] == 1 and logp[0] == pytest.approx(np.log(0.5), abs=1e-5)


def test_temperature_zero_is_greedy_decoding(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    prompt = "The rose"
    (s,) = sample(model, vocab, prompt, SampleConfig(temperatures=(0.0,), max_chars=60, seed=0))
    ids = _context_ids(vocab, prompt)
    expected = []
    for _ in range(60):
        nxt = int(_next_logits(model, ids).argmax())
        expected.append(nxt)
        ids.append(nxt)
    assert s.continuation == vocab.decode(expected)
    assert s.text == prompt + s.continuation
    assert s.temperature == 0.0


def test_top_k_one_is_greedy(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    greedy = sample(model, vocab, "The moon", SampleConfig(temperatures=(0.0,), max_chars=80, seed=0))[0]
    top1 = sample(model, vocab, "The moon", SampleConfig(temperatures=(1.0, 2.5), max_chars=80, top_k=1, seed=5))
    assert [s.continuation for s in top1] == [greedy.continuation] * 2


def test_top_k_three_only_picks_among_the_three_likeliest(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    prompt = "The "
    (s,) = sample(model, vocab, prompt, SampleConfig(temperatures=(2.0,), max_chars=80, top_k=3, seed=11))
    ids = _context_ids(vocab, prompt)
    picked_ranks = []
    for ch in s.continuation:
        logits = _next_logits(model, ids)
        third = logits.topk(3).values[-1]
        chosen = vocab.stoi[ch]
        assert logits[chosen] >= third - 1e-4, f"{ch!r} is not among the 3 likeliest"
        picked_ranks.append(int((logits > logits[chosen]).sum()))
        ids.append(chosen)
    # At temperature 2 the sampler must really sample, not just take the likeliest character.
    assert max(picked_ranks) >= 1


def test_same_seed_same_text_different_seed_different_text(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab

    def text(seed):
        return sample(model, vocab, "", SampleConfig(temperatures=(1.0,), max_chars=150, seed=seed))[0].continuation

    assert text(3) == text(3)
    assert text(3) != text(4)


def test_a_temperature_does_not_depend_on_its_neighbours(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    alone = sample(model, vocab, "The", SampleConfig(temperatures=(1.0,), max_chars=150, seed=9))
    together = sample(model, vocab, "The", SampleConfig(temperatures=(0.3, 1.0, 1.5), max_chars=150, seed=9))
    assert [s.temperature for s in together] == [0.3, 1.0, 1.5]
    assert together[1].continuation == alone[0].continuation
    assert together[1].bits_per_char == pytest.approx(alone[0].bits_per_char, rel=1e-6)


@pytest.mark.parametrize("prompt", ["", "The rose is red upon the wall,\n"])
@pytest.mark.parametrize("lines", [1, 3])
def test_lines_gives_that_many_completed_lines(tiny_bundle, prompt, lines):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    samples = sample(model, vocab, prompt, SampleConfig(temperatures=(0.0, 0.7, 1.0), max_chars=3000, lines=lines, seed=1))
    for s in samples:
        cont = s.continuation
        assert cont.endswith("\n"), repr(cont)
        completed = [ln for ln in cont.split("\n")[:-1] if ln.strip()]
        assert len(completed) == lines, repr(cont)


def test_lines_is_capped_by_max_chars(tiny_bundle):
    (s,) = sample(tiny_bundle.model, tiny_bundle.vocab, "", SampleConfig(temperatures=(1.0,), max_chars=5, lines=50, seed=0))
    assert len(s.continuation) == 5


def test_max_chars_is_the_continuation_length(tiny_bundle):
    samples = sample(tiny_bundle.model, tiny_bundle.vocab, "The", SampleConfig(temperatures=(0.0, 1.0), max_chars=37))
    assert [len(s.continuation) for s in samples] == [37, 37]
    for s in samples:
        assert math.isfinite(s.bits_per_char) and s.bits_per_char > 0


def test_unknown_prompt_characters_are_reported_not_fatal(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    prompt = "The ☃ rose Ω is ☃ red 🌹"
    assert "☃" not in vocab and "Ω" not in vocab and "🌹" not in vocab
    samples = sample(model, vocab, prompt, SampleConfig(temperatures=(0.5, 1.0), max_chars=40))
    for s in samples:
        assert s.unknown_chars == ["☃", "Ω", "🌹"]
        assert s.text.startswith(prompt)
        assert len(s.continuation) == 40
    known = sample(model, vocab, "The rose", SampleConfig(temperatures=(1.0,), max_chars=5))[0]
    assert known.unknown_chars == []


def test_a_100_kb_prompt_works(tiny_bundle, poem_text):
    prompt = (poem_text * (100_000 // len(poem_text) + 1))[:100_000]
    samples = sample(tiny_bundle.model, tiny_bundle.vocab, prompt, SampleConfig(temperatures=(0.0, 1.0), max_chars=30))
    assert len(samples) == 2
    for s in samples:
        assert s.text.startswith(prompt) and len(s.text) == 100_030


def test_empty_prompt_and_vocab_without_newline():
    vocab = Vocab.from_text("abc")
    model = build_model(ModelConfig(vocab_size=len(vocab), hidden=8, emb_dim=4), seed=0, device=CPU)
    (s,) = sample(model, vocab, "", SampleConfig(temperatures=(1.0,), max_chars=20))
    assert len(s.continuation) == 20 and set(s.continuation) <= set("abc")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperatures": (-1.0,)},
        {"temperatures": (0.5, 1000.0)},
        {"temperatures": (float("nan"),)},
        {"temperatures": (float("inf"),)},
        {"temperatures": ()},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"top_k": 0},
        {"max_chars": 0},
        {"max_chars": 10**9},
        {"lines": 0},
    ],
)
def test_invalid_settings_raise_poetry_lab_error(kwargs):
    with pytest.raises(PoetryLabError) as info:
        SampleConfig(**kwargs)
    assert str(info.value)


def test_the_unknown_symbol_is_never_generated():
    vocab = Vocab.from_text("ab c\n")
    model = build_model(ModelConfig(vocab_size=len(vocab), hidden=8, emb_dim=4), seed=0, device=CPU)
    with torch.no_grad():
        model.head.bias[0] = 50.0  # the model would put nearly all probability on UNKNOWN
    for extra in ({}, {"top_k": 1}, {"top_k": 2}, {"top_p": 0.5}, {"top_p": 1.0}):
        samples = sample(model, vocab, "ab", SampleConfig(temperatures=(0.0, 0.5, 1.0, 5.0), max_chars=100, **extra))
        for s in samples:
            assert UNKNOWN not in s.continuation, (extra, s.temperature)
            assert len(s.continuation) == 100


def test_top_p_tiny_is_greedy(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    greedy = sample(model, vocab, "The", SampleConfig(temperatures=(0.0,), max_chars=60))[0].continuation
    nucleus = sample(model, vocab, "The", SampleConfig(temperatures=(1.0,), max_chars=60, top_p=1e-6, seed=2))[0].continuation
    assert nucleus == greedy


def test_sampling_leaves_the_model_in_eval_mode_and_unchanged(tiny_bundle):
    model = tiny_bundle.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sample(model, tiny_bundle.vocab, "The", SampleConfig(temperatures=(1.0,), max_chars=10))
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("lines", [None, 2])
def test_top_k_over_the_whole_vocabulary_changes_nothing(tiny_bundle, lines):
    V = len(tiny_bundle.vocab)
    plain = sample(tiny_bundle.model, tiny_bundle.vocab, "The", SampleConfig(temperatures=(0, 0.7, 1.3), max_chars=120, lines=lines, seed=5))
    all_k = sample(tiny_bundle.model, tiny_bundle.vocab, "The", SampleConfig(temperatures=(0, 0.7, 1.3), max_chars=120, lines=lines, seed=5, top_k=V))
    assert [s.continuation for s in plain] == [s.continuation for s in all_k]
    assert [s.bits_per_char for s in plain] == pytest.approx([s.bits_per_char for s in all_k], rel=1e-4)
    assert len({s.continuation for s in plain}) == 3


def test_a_gru_model_samples_through_the_same_loop():
    vocab = Vocab.from_text("the rose is red\n")
    model = build_model(ModelConfig(vocab_size=len(vocab), cell="gru", hidden=16, emb_dim=8, layers=2), seed=1, device=CPU).eval()
    greedy = sample(model, vocab, "the", SampleConfig(temperatures=(0.0,), max_chars=30))[0].continuation
    ids = list(map(int, vocab.encode("\n\nthe")))
    expected = []
    for _ in range(30):
        nxt = int(_next_logits(model, ids).argmax())
        expected.append(nxt)
        ids.append(nxt)
    assert greedy == vocab.decode(expected)


def test_sample_leaves_the_model_in_the_mode_it_found_it(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    cfg = SampleConfig(temperatures=(0.5,), max_chars=20, seed=1)
    try:
        model.train()  # a training job samples from the model it trains
        sample(model, vocab, "The", cfg)
        assert model.training
    finally:
        model.eval()
    sample(model, vocab, "The", cfg)
    assert not model.training
