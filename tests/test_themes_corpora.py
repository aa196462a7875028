"""Themes a poet recognises, on the bundled Sonnets and Milton: what is read as a poem (no title
page, heading, prose note or Italian sonnet; long blocks as passages), no theme made of headings or
front matter, each theme's label words its own, and two methods never showing the same word lists.
The fast methods only (tfidf and LDA: about 5 s in all); the autoencoder on a tiny LM."""

from __future__ import annotations

import numpy as np
import pytest
from test_themes import FAST

from poetry_lab.data.corpus import load_corpus, split_poems
from poetry_lab.data.text import reads_as_prose, without_speakers
from poetry_lab.themes.methods import make_theme_pipeline, plan_themes
from poetry_lab.themes.passages import MAX_PASSAGE_LINES, block_kind, passages, theme_passages
from poetry_lab.themes.words import own_terms

# Words of the file's furniture, not of its poems: bylines, title pages, psalm headings, notes, speakers.
FURNITURE = {"william", "shakespeare", "psal", "aug", "milton", "print", "printed", "latin", "edition", "reader",
             "stationer", "tragedy", "chor", "sam", "mess", "bro", "eld", "dal", "har", "spir", "che", "di", "il",
             "la", "si", "mi", "amor"}
TITLE_BLOCK = "THE SONNETS\n\nby William Shakespeare\n\n"


@pytest.fixture(scope="module")
def corpora() -> dict[str, list[str]]:
    sonnets = load_corpus(["sonnets"]).text
    return {"sonnets": split_poems(TITLE_BLOCK + sonnets), "milton": load_corpus(["milton"]).poems}


@pytest.fixture(scope="module")
def fitted(corpora):
    out = {}
    for name, poems in corpora.items():
        plan = plan_themes(poems, "tfidf", 24)
        for method in ("tfidf", "lda"):
            for k in (5, 24):
                out[name, method, k] = make_theme_pipeline(method, k, 0).fit(plan.poems)
    return out


def test_title_pages_headings_prose_and_italian_sonnets_are_no_poems(corpora):
    milton = theme_passages(corpora["milton"])
    text = "\n\n".join(milton.poems)
    for furniture in ("Printed by", "THE STATIONER TO THE READER", "PSAL. I.  Done into Verse", "Donna leggiadra",
                      "TRAGEDY, as it was antiently", "The Scene changes", "Transcriber's Note"):
        assert furniture not in text, furniture
    assert "HENCE loathed Melancholy" in text and "With joy and gladsom cheer" in text  # the poems stay
    assert any("do not look English" in n for n in milton.notes) and any("read as prose" in n for n in milton.notes)
    sonnets = theme_passages(corpora["sonnets"])
    assert len(sonnets.poems) == 154 and not any("William" in p for p in sonnets.poems)


def test_long_blocks_are_read_as_passages_cut_at_sentence_ends():
    lines = [f"Line {i} of the long ode goes on" + ("." if i % 5 == 4 else ",") for i in range(60)]
    parts = passages("ODE\n" + "\n".join(lines))
    assert len(parts) == 3 and parts[0].startswith("ODE\n") and all(p.count("\n") < MAX_PASSAGE_LINES + 6 for p in parts)
    assert all(p.rstrip().endswith(".") for p in parts)
    assert "\n".join(parts) == "ODE\n" + "\n".join(lines)  # nothing lost, nothing repeated
    assert passages("A short poem,\nof two lines.") == ["A short poem,\nof two lines."]


def test_prose_and_speakers_by_one_rule_each():
    prose = ["It is not any Private respect of gain, Gentle Reader, for the",
             "slightest Pamphlet is now adayes more vendible then the Works",
             "of learnedest men; but it is the love I have to our own Language"]
    hexameters = ["Lying silent and sad, in the afternoon shadows and sunshine,",
                  "Yonder there, on the hill by the sea, lies buried Rose Standish;",
                  "She was the first to die of all who came in the Mayflower!",
                  "Green above her is growing the field of wheat we have sown there."]
    assert reads_as_prose(prose) and not reads_as_prose(hexameters) and not reads_as_prose(["Short", "lines"])
    assert without_speakers("Sam: Where ever\n  Eld. Bro: Unmuffle ye faint stars\nO thou fair") == \
        "Where ever\n  Unmuffle ye faint stars\nO thou fair"
    assert block_kind("\n".join(prose), True, True) == "prose" and block_kind("\n".join(hexameters), True, True) is None


def test_no_theme_is_made_of_headings_front_matter_or_notes(fitted):
    for (name, method, k), pipe in fitted.items():
        words = {w for ws in pipe.top_words_ for w, _ in ws}
        assert not words & FURNITURE, (name, method, k, words & FURNITURE)


def test_a_themes_words_are_its_heaviest_and_its_label_words_its_own(fitted):
    # A word may be among the top words of two themes (own_terms there scored lower in the word-intrusion test);
    # the short labels still tell the themes apart: no word in two labels.
    for key, pipe in fitted.items():
        weights = [[x for _, x in ws] for ws in pipe.top_words_]
        assert all(ws == sorted(ws, reverse=True) and len(ws) == 10 for ws in weights if ws), key
        label_words = [w for label in pipe.theme_labels_ for w in label.split(", ") if w]
        assert len(label_words) == len(set(label_words)), key


def test_two_methods_never_show_the_same_word_lists(fitted):
    for name in ("sonnets", "milton"):
        for k in (5, 24):
            tfidf, lda = ([tuple(w for w, _ in ws) for ws in fitted[name, m, k].top_words_] for m in ("tfidf", "lda"))
            assert not set(tfidf) & set(lda), (name, k)


def test_the_autoencoders_words_come_from_its_own_themes_not_ldas(corpora, tiny_bundle):
    poems = plan_themes(corpora["sonnets"], "lda", 5).poems
    lda = make_theme_pipeline("lda", 5, 0).fit(poems)
    auto = make_theme_pipeline("autoencoder", 5, 0, forward=tiny_bundle, **FAST).fit(poems)
    lists = lambda pipe: {tuple(w for w, _ in ws) for ws in pipe.top_words_}  # noqa: E731
    assert auto.topic_words_ == lda.topic_words_  # the same LDA inside; its topics stay for the mixtures only
    assert not lists(auto) & lists(lda)  # the words are those of the autoencoder's own themes


def test_a_word_names_only_the_theme_where_it_weighs_most():
    weights = np.array([[0.5, 0.3, 0.2, 0.0], [0.6, 0.0, 0.0, 0.4]])  # "love" weighs most in theme 1
    assert own_terms(weights, ["love", "sea", "ship", "rose"], 2) == [[("sea", 0.3), ("ship", 0.2)], [("love", 0.6), ("rose", 0.4)]]
    assert own_terms(weights, ["love", "sea", "ship", "rose"], 3)[0] == [("sea", 0.3), ("ship", 0.2), ("love", 0.5)]  # filled up
