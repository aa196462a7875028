"""Property tests: whatever bytes and settings a user sends, the answer is a result or a PoetryLabError."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poetry_lab.core.sampling import SampleConfig, sample
from poetry_lab.data.corpus import Corpus, decode_bytes, normalise
from poetry_lab.errors import PoetryLabError

FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10).map(float))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_reader_gives_a_corpus_or_a_poetry_lab_error(data):
    try:
        text = normalise(decode_bytes(data))
    except PoetryLabError as e:
        assert str(e)
        return
    if text.strip():
        corpus = Corpus(text)
        assert corpus.stats.chars == len(text)
        try:
            train, val = corpus.split(0.1)
        except PoetryLabError:
            return
        assert train + val == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=st.text(max_size=200),
    temps=st.lists(FLOATS, min_size=0, max_size=7),
    chars=st.integers(-5, 300),
    lines=st.one_of(st.none(), st.integers(-2, 5)),
    top_k=st.one_of(st.none(), st.integers(-3, 100)),
    top_p=st.one_of(st.none(), FLOATS),
    seed=st.one_of(st.none(), st.integers(0, 2**31)),
)
def test_sampler_gives_poems_or_a_poetry_lab_error(tiny_bundle, prompt, temps, chars, lines, top_k, top_p, seed):
    try:
        cfg = SampleConfig(temperatures=temps, max_chars=chars, lines=lines, top_k=top_k, top_p=top_p, seed=seed)
        out = sample(tiny_bundle.model, tiny_bundle.vocab, prompt, cfg)
    except PoetryLabError as e:
        assert str(e)
        return
    assert len(out) == len(temps)
    for s in out:
        assert s.text.startswith(prompt) and len(s.continuation) <= chars
        assert "\ufffd" not in s.continuation  # the unknown symbol is never written
        assert math.isfinite(s.bits_per_char)
