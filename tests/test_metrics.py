"""Text metrics: verbatim copies, copied 4-grams, distinct bigrams, repeated lines, the per-sample dict."""

from __future__ import annotations

import random
import time

import pytest
from conftest import POEM_TEXT
from hypothesis import given, settings
from hypothesis import strategies as st

from poetry_lab.analysis import metrics
from poetry_lab.analysis.metrics import (
    CorpusIndex,
    copied_ngram_share,
    copy_index,
    corpus_copy_index,
    distinct_n,
    longest_copy,
    longest_copy_span,
    ngrams,
    repeated_lines,
    sample_metrics,
)
from poetry_lab.data.text import words

PASSAGE = "The sails go out, and so do we"  # 30 characters, once in POEM_TEXT's second stanza


@pytest.fixture(scope="module")
def index() -> CorpusIndex:
    return CorpusIndex(POEM_TEXT)


def brute_force_longest(a: str, b: str) -> int:
    """Length of the longest common substring, by trying every substring of a (reference only)."""
    return max((j - i for i in range(len(a)) for j in range(i + 1, len(a) + 1) if a[i:j] in b), default=0)


# --- words and the index ---------------------------------------------------------------------------


def test_words_are_lowercased_letter_runs_keeping_inner_apostrophes():
    assert words("O'er the Heart’s 3 hills_2, don't-stop!") == ["o'er", "the", "heart’s", "hills", "don't", "stop"]


def test_ngrams_keep_order_and_repeats():
    assert ngrams(["a", "b", "a", "b"], 2) == [("a", "b"), ("b", "a"), ("a", "b")]
    assert ngrams(["a", "b"], 3) == []


def test_index_keeps_text_and_word_4grams(index):
    assert index.text == POEM_TEXT
    assert ("the", "sails", "go", "out") in index.ngram_set(4)
    assert ("sails", "go", "out") in index.ngram_set(3)  # other n on demand
    assert ("the", "sails", "go", "out") not in index.ngram_set(3)


def test_index_builds_a_megabyte_in_well_under_a_second():
    rng = random.Random(0)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 9))) for _ in range(5_000)]
    text = " ".join(rng.choice(vocab) for _ in range(220_000))[:1_000_000]
    start = time.perf_counter()
    CorpusIndex(text)
    assert time.perf_counter() - start < 1.0


# --- longest verbatim copy ---------------------------------------------------------------------------


def test_longest_copy_finds_exactly_the_copied_passage(index):
    generated = "Zq@" + PASSAGE + "#xZ then more unseen Zzq words"
    assert longest_copy(generated, index) == PASSAGE
    assert longest_copy_span(generated, index) == (3, 30)


def test_longest_copy_strips_for_display_but_measures_raw_characters(index):
    generated = "@\nThe bee is busy in the hall;\n@"  # the newlines are in the corpus too
    start, length = longest_copy_span(generated, index)
    assert generated[start:start + length] == "\nThe bee is busy in the hall;\n"
    assert longest_copy(generated, index) == "The bee is busy in the hall;"
    assert sample_metrics(generated, index)["longest_copy_chars"] == length == 30


def test_longest_copy_of_nothing_in_common_is_empty():
    assert longest_copy_span("xyz", "abc") == (0, 0)
    assert longest_copy("xyz", "abc") == ""
    assert longest_copy("", "abc") == ""


def test_longest_copy_prefers_the_earliest_of_equal_matches():
    assert longest_copy_span("ab-cd", "cd ab") == (0, 2)


@settings(max_examples=300, deadline=None)
@given(st.text("ab c", max_size=25), st.text("ab c", max_size=40))
def test_longest_copy_matches_a_brute_force_reference(generated, corpus):
    start, length = longest_copy_span(generated, corpus)
    found = generated[start:start + length]
    assert found in generated and found in corpus
    assert length == brute_force_longest(generated, corpus)


# --- copied 4-grams ----------------------------------------------------------------------------------


def test_unseen_words_copy_nothing(index):
    assert copied_ngram_share("zebra quantum lattice orbit nebula", index) == 0.0


def test_text_taken_from_the_corpus_is_fully_copied(index):
    assert copied_ngram_share("And when the winter comes again, the fire is warm!", index) == 1.0


def test_copied_share_counts_each_generated_4gram():
    index = CorpusIndex("one two three four five")
    # 4-grams: (one two three four) copied, (two three four six) not
    assert copied_ngram_share("One two three four six", index) == 0.5


def test_copied_share_needs_four_words(index):
    assert copied_ngram_share("the rose is", index) is None
    assert copied_ngram_share("", index) is None


# --- diversity and repetition ------------------------------------------------------------------------


def test_distinct_2_of_alternating_words():
    assert distinct_n("a b a b", 2) == pytest.approx(2 / 3)


def test_distinct_n_without_ngrams_is_zero():
    assert distinct_n("", 2) == 0.0
    assert distinct_n("single", 2) == 0.0
    assert distinct_n("all words differ here", 1) == 1.0


def test_repeated_lines_counts_every_repeat_ignoring_case_spaces_and_blank_lines():
    text = "The rose\n  the ROSE  \n\n\n   \nA thorn\nThe rose\nthe rose is red\n"
    assert repeated_lines(text) == 2  # "the rose" twice more; blank lines never count
    assert repeated_lines("") == 0
    assert repeated_lines("one\ntwo\n") == 0


# --- the per-sample dict -----------------------------------------------------------------------------


def test_sample_metrics_keys_and_values(index):
    generated = "Zq@" + PASSAGE + "#\nzebra zebra\nZebra zebra"
    m = sample_metrics(generated, index)
    assert list(m) == ["copied_4gram_share", "longest_copy", "longest_copy_chars", "distinct_2", "repeated_lines"]
    assert m["longest_copy"] == PASSAGE and m["longest_copy_chars"] == 30
    # words: zq the sails go out and so do we zebra zebra zebra zebra -> 10 4-grams, 5 from the corpus
    assert m["copied_4gram_share"] == 0.5
    assert m["distinct_2"] == round(10 / 12, 4)
    assert m["repeated_lines"] == 1


def test_sample_metrics_without_a_corpus():
    m = sample_metrics("a b a b", None)
    assert m == {"copied_4gram_share": None, "longest_copy": "", "longest_copy_chars": 0,
                 "distinct_2": round(2 / 3, 4), "repeated_lines": 0}


def test_one_limit_decides_which_training_texts_are_indexed(monkeypatch):
    monkeypatch.setattr(metrics, "COPY_CHECK_MAX_CHARS", len(POEM_TEXT) - 1)
    assert copy_index(POEM_TEXT) is None
    monkeypatch.setattr(metrics, "COPY_CHECK_MAX_CHARS", len(POEM_TEXT))
    assert copy_index(POEM_TEXT).text == POEM_TEXT


def test_a_bundled_corpus_over_the_limit_is_never_read(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("an over-limit corpus was read")

    monkeypatch.setattr(metrics, "load_corpus", refuse)
    assert corpus_copy_index("gutenberg_poetry") is None  # 121 M characters (the catalog says so)
    monkeypatch.undo()
    poems = tmp_path / "poems.txt"
    poems.write_text(POEM_TEXT, encoding="utf-8")
    assert copied_ngram_share(PASSAGE, corpus_copy_index(str(poems))) == 1.0  # a poet's file under the limit is read
