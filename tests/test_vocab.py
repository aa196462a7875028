"""The character vocabulary: encode/decode, the unknown symbol, extension and serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poetry_lab.core.vocab import UNKNOWN, Vocab

SOURCE = "The rose is red,\n  the violet — blue; café, naïve «ß» 🌹\t'quoted' “curly”\n"
VOCAB = Vocab.from_text(SOURCE)
CHARS = sorted(set(SOURCE))


def test_unknown_is_index_zero_and_chars_are_sorted_after_it():
    assert VOCAB.chars[0] == UNKNOWN
    assert VOCAB.unknown_id == 0
    assert VOCAB.chars[1:] == CHARS
    assert len(VOCAB) == len(CHARS) + 1
    assert all(VOCAB.stoi[c] == i for i, c in enumerate(VOCAB.chars))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(CHARS), max_size=300))
def test_round_trip_for_texts_of_vocabulary_characters(text):
    ids = VOCAB.encode(text)
    assert len(ids) == len(text)
    assert (ids > 0).all()
    assert VOCAB.decode(ids) == text
    assert VOCAB.decode(ids.tolist()) == text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_encode_matches_a_plain_dictionary_lookup(text):
    expected = [VOCAB.stoi.get(c, 0) for c in text]
    assert VOCAB.encode(text).tolist() == expected


def test_unknown_characters_map_to_zero_and_are_listed_in_order_of_appearance():
    text = "rose Zk rose Xj🦋z"
    ids = VOCAB.encode(text)
    for c, i in zip(text, ids):
        assert (i == 0) == (c not in VOCAB)
    assert ids[5] == 0  # 'Z'
    assert VOCAB.unknown_chars(text) == ["Z", "k", "X", "j", "🦋", "z"]
    assert VOCAB.decode(ids) == "rose " + UNKNOWN * 2 + " rose " + UNKNOWN * 2 + UNKNOWN + UNKNOWN
    assert VOCAB.unknown_chars("the rose") == []


def test_decode_out_of_range_ids_gives_unknown():
    assert VOCAB.decode([len(VOCAB), -1, VOCAB.stoi["r"]]) == UNKNOWN + UNKNOWN + "r"


def test_extended_keeps_existing_ids_and_appends_new_ones():
    bigger = VOCAB.extended(["ß", "Ω", "r", "ж", "Ω"])  # 'ß' and 'r' exist already
    assert bigger.chars[: len(VOCAB)] == VOCAB.chars
    assert bigger.chars[len(VOCAB) :] == ["Ω", "ж"]
    for c, i in VOCAB.stoi.items():
        assert bigger.stoi[c] == i
    assert VOCAB.extended([]) == VOCAB
    assert len(VOCAB) == len(CHARS) + 1  # the original is untouched


def test_to_list_from_list_round_trip():
    chars = VOCAB.to_list()
    assert UNKNOWN not in chars
    again = Vocab.from_list(chars)
    assert again == VOCAB
    assert again.stoi == VOCAB.stoi
    assert Vocab.from_list(VOCAB.extended(["Ω"]).to_list()).stoi["Ω"] == len(VOCAB)


def test_from_text_ignores_the_unknown_symbol_in_the_text():
    v = Vocab.from_text("ab" + UNKNOWN + "c")
    assert v.chars == [UNKNOWN, "a", "b", "c"]


def test_entries_must_be_single_characters():
    with pytest.raises(ValueError):
        Vocab(["ab"])


def test_encode_long_text_is_int64_array_of_right_length():
    text = SOURCE * 2000  # ~150k characters
    ids = VOCAB.encode(text)
    assert isinstance(ids, np.ndarray)
    assert ids.dtype == np.int64
    assert ids.shape == (len(text),)
    assert VOCAB.decode(ids[: len(SOURCE)]) == SOURCE
    assert VOCAB.encode("").dtype == np.int64 and VOCAB.encode("").shape == (0,)


def test_emoji_and_astral_characters():
    v = Vocab.from_text("a rose 🌹 and a 𝔣raktur f\n")
    assert "🌹" in v and "𝔣" in v
    text = "🌹a🌹 𝔣\n"
    ids = v.encode(text)
    assert len(ids) == len(text) == 6
    assert ids[0] == v.stoi["🌹"] and ids[0] != 0
    assert v.decode(ids) == text
    assert v.unknown_chars("🌹🌷") == ["🌷"]


def test_lone_surrogate_is_unknown_not_a_crash():
    text = "ab\udcffc"
    assert VOCAB.unknown_chars(text) == ["\udcff"]
    ids = VOCAB.encode(text)
    assert ids.tolist() == [VOCAB.stoi["a"], VOCAB.stoi["b"], 0, VOCAB.stoi["c"]]
