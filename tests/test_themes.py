"""Themes: the four methods on 12 tiny poems about three clear topics, the pieces they are built from
(c-TF-IDF, coherence, embeddings, autoencoder), determinism, bad input and the themes command.

Models are tiny (conftest's tiny_bundle, hidden 32); backward models train for a few steps.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.utils.validation import check_is_fitted

import poetry_lab
from poetry_lab.cli import main
from poetry_lab.core.checkpoint import ModelBundle, save_model
from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store, active_store, corpus_key
from poetry_lab.themes import embeddings
from poetry_lab.themes.embeddings import (
    FeatureAutoencoder,
    LMEmbeddings,
    backward_twin,
    pool_poems,
    train_backward,
)
from poetry_lab.themes.encoder import SentenceEmbeddings, word_space
from poetry_lab.themes.methods import (
    METHODS,
    auto_n_themes,
    compare_methods,
    make_theme_pipeline,
    suggest_k,
)
from poetry_lab.themes.words import (
    class_tfidf,
    coherence,
    ctfidf_words,
    first_line,
    poem_body,
)

SEA = ["The sea is grey and the ship rides the wave,\nThe sailor sings where the salt waves break.",
       "A ship upon the sea, a wave upon the shore,\nThe tide and the sailor and the ocean's roar.",
       "Wave after wave the sea comes in,\nThe ship sails out where the tides begin.",
       "Salt on the wind and the sea so wide,\nThe ship and the sailor ride the tide."]
GARDEN = ["The rose in the garden is starting to bloom,\nPetals of summer and flowers in bloom.",
          "A garden of roses, a bloom in the sun,\nThe petals are falling when summer is done.",
          "In the garden the rose and the lily bloom,\nSweet flowers and petals and green perfume.",
          "Bloom, little rose, in the garden bed,\nFlowers and petals of white and red."]
WAR = ["The sword is drawn and the battle roars,\nSoldiers march to the distant wars.",
       "A battle fought with sword and shield,\nThe soldiers fall on the bloody field.",
       "War and battle, the sword and the spear,\nThe soldiers' cry that the armies fear.",
       "The sword of war in the battle's heat,\nSoldiers and armies and drums that beat."]
POEMS = [p for trio in zip(SEA, GARDEN, WAR) for p in trio]  # sea, garden, war, sea, garden, war, ...
TOPIC = [0, 1, 2] * 4
FAST = dict(backward_steps=8, backward_seconds=None)  # a tiny backward model: a few steps are enough here


def same_partition(a, b) -> bool:
    """True when two labelings group the items identically (whatever the theme numbers)."""
    pairs = set(zip(a, b))
    return len(pairs) == len(set(a)) == len(set(b))


# --- the baseline recovers the three topics ------------------------------------------------------------


def test_tfidf_kmeans_recovers_the_three_topics():
    pipe = make_theme_pipeline("tfidf", 3, random_state=0).fit(POEMS)
    assert same_partition(pipe.labels_, TOPIC), pipe.labels_
    assert sorted(pipe.sizes_.tolist()) == [4, 4, 4]
    words = {TOPIC[pipe.typical_[t][0]]: {w for w, _ in pipe.top_words_[t][:4]} for t in range(3)}
    assert words[0] & {"sea", "ship", "wave", "sailor"} and words[1] & {"garden", "rose", "bloom", "petals"}
    assert words[2] & {"sword", "battle", "soldiers", "war"}
    for t, typical in enumerate(pipe.typical_):  # typical poems belong to their theme, closest first
        assert typical and all(pipe.labels_[i] == t for i in typical)
    assert pipe.coherence_["npmi"] > pipe.coherence_["npmi_chance"] + 0.2


def test_every_theme_has_words_when_the_poems_share_most_of_them():
    """24 poems of one template with three words changed (the browser test's new user's file): the themes' words
    overlap, and a theme whose words the themes before it took still shows them rather than none."""
    import itertools

    names = ["river", "lantern", "orchard", "winter", "sparrow", "harbour", "meadow", "ember", "willow", "thunder",
             "candle", "mountain"]
    poems = [f"The {a} keeps a quiet light,\nthe {b} hums along the night;\nI walk where {c}s used to be\nand count the hours left to me."
             for a, b, c in list(itertools.combinations(names, 3))[::9][:24]]
    with Store().active():
        pipe = make_theme_pipeline("tfidf", 5, random_state=0).fit(poems)
    assert all(len(ws) >= 3 for ws in pipe.top_words_), pipe.top_words_
    assert all(label for label in pipe.theme_labels_)


def test_suggest_k_finds_three_topics():
    X = make_theme_pipeline("tfidf", 2).fit(POEMS).X_
    assert suggest_k(X, range(2, 8)) == 3
    with pytest.raises(PoetryLabError, match="too few poems"):
        suggest_k(X[:2])


def test_the_app_and_the_cli_choose_the_number_of_themes_by_one_rule(monkeypatch, poems_file, capsys):
    from poetry_lab.app.themes_slot import ThemesSlot
    from poetry_lab.store import Store
    from poetry_lab.themes import methods

    assert auto_n_themes(POEMS) == 3
    monkeypatch.setattr(methods, "auto_n_themes", lambda poems, random_state=0: 2)  # both follow the one function
    assert ThemesSlot(Store()).find(POEMS, "tfidf", None, lambda: (None, None), False, []).n_themes == 2
    assert main(["themes", str(poems_file), "--method", "tfidf", "--k", "auto"]) == 0
    assert "note: 2 themes" in capsys.readouterr().err


def test_lda_themes_are_dominant_topics_and_mixtures_sum_to_one():
    pipe = make_theme_pipeline("lda", 3, random_state=0).fit(POEMS)
    mix = pipe.representation_.transform([poem_body(p) for p in POEMS])
    assert np.array_equal(pipe.labels_, mix.argmax(axis=1))
    assert len(pipe.topic_words_) == 3  # LDA's own word weights describe its topics (for the mixtures) ...
    bodies = [poem_body(p) for p in POEMS]  # ... but its themes are named by c-TF-IDF and sense, like every method's
    counts, vocab = pipe.counter_.transform(bodies), pipe.counter_.get_feature_names_out()
    assert pipe.top_words_ == ctfidf_words(counts, vocab, pipe.labels_, 3, pipe.n_top_words, drop_hapax=True,
                                           vectors=word_space())
    placed = pipe.place(["The ship sails on the grey sea wave"])[0]
    assert placed.mixture is not None and sum(placed.mixture) == pytest.approx(1.0)
    assert placed.theme == int(np.argmax(placed.mixture))


# --- pieces ---------------------------------------------------------------------------------------


def test_class_tfidf_favours_a_themes_own_words():
    cv = CountVectorizer().fit(["sea sea love", "sea love", "rose love", "rose rose love"])
    counts = cv.transform(["sea sea love", "sea love", "rose love", "rose rose love"])
    w = class_tfidf(counts, np.array([0, 0, 1, 1]), 2)
    vocab = list(cv.get_feature_names_out())
    assert w[0].argmax() == vocab.index("sea") and w[1].argmax() == vocab.index("rose")
    assert w[0, vocab.index("love")] < w[0, vocab.index("sea")]  # in every poem: little weight


def test_coherence_npmi_bounds():
    docs = ["sea ship", "sea ship", "rose bloom", "rose bloom"]
    cv = CountVectorizer().fit(docs)
    counts, vocab = cv.transform(docs), cv.get_feature_names_out()
    together = coherence([["sea", "ship"], ["rose", "bloom"]], counts, vocab)
    apart = coherence([["sea", "rose"], ["ship", "bloom"]], counts, vocab)
    assert together["npmi"] == pytest.approx(1.0, abs=1e-6)
    assert apart["npmi"] == pytest.approx(-1.0, abs=0.05)
    assert together["umass"] > apart["umass"]


def test_headings_are_not_words_and_label_the_poem():
    poem = "XII\nWhen I do count the clock that tells the time,\nAnd see the brave day sunk."
    assert poem_body(poem).startswith("When I do count")
    assert first_line(poem) == "XII. When I do count the clock that tells the time,"
    assert first_line(SEA[0]) == "The sea is grey and the ship rides the wave,"


def test_embeddings_pool_words_from_both_directions(tiny_bundle):
    emb = LMEmbeddings(tiny_bundle, tiny_bundle).fit(POEMS)
    X = emb.transform(POEMS)
    assert X.shape == (12, 64) and np.isfinite(X).all()
    layers = pool_poems(tiny_bundle, POEMS[:2], reverse=False)  # (n, layer 0 + 1 LSTM layer, H)
    assert layers.shape == (2, 2, 32)
    assert np.allclose(X[:2, :32], layers[:, 1], atol=1e-5)  # default: the LSTM layer only
    chars = LMEmbeddings(tiny_bundle, tiny_bundle, pooling="chars", layers="all").fit(POEMS).transform(POEMS[:2])
    assert not np.allclose(chars, X[:2])
    with pytest.raises(PoetryLabError, match="layer weights"):
        LMEmbeddings(tiny_bundle, tiny_bundle, layer_weights=[1.0, 2.0, 3.0]).fit(POEMS)


def test_backward_model_is_trained_once_and_reads_reversed_text(tiny_bundle):
    store = Store()
    first = train_backward(tiny_bundle, POEMS, steps=5, seconds=None, seed=3, store=store)
    assert first.facts["direction"] == "backward" and first.facts["steps"] == 5
    assert train_backward(tiny_bundle, POEMS, steps=5, seconds=None, seed=3, store=store) is first  # kept in the store
    assert train_backward(tiny_bundle, POEMS, steps=5, seconds=None, seed=3) is not first  # no store: nothing kept
    assert first.model.config.hidden == tiny_bundle.model.config.hidden


def test_backward_twin_beside_a_forward_file(tmp_path):
    (tmp_path / "base_forward.safetensors").write_bytes(b"x")
    assert backward_twin(tmp_path / "base_forward.safetensors") is None
    (tmp_path / "base_backward.safetensors").write_bytes(b"x")
    assert backward_twin(tmp_path / "base_forward.safetensors") == tmp_path / "base_backward.safetensors"
    assert backward_twin(tmp_path / "model.safetensors") is None


def test_autoencoder_is_deterministic_and_leaves_global_rng_alone():
    X = np.random.default_rng(0).normal(size=(30, 12))
    before = torch.random.get_rng_state()
    a = FeatureAutoencoder(latent_dim=3, epochs=20, random_state=7).fit_transform(X)
    b = FeatureAutoencoder(latent_dim=3, epochs=20, random_state=7).fit_transform(X)
    assert torch.equal(before, torch.random.get_rng_state())
    assert a.shape == (30, 3) and np.array_equal(a, b)
    ae = FeatureAutoencoder(latent_dim=3, epochs=20, random_state=7).fit(X)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


# --- all four methods, compared ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compared(tiny_bundle):
    return compare_methods(POEMS, 3, forward=tiny_bundle, backward=None, random_state=0, **FAST)


def test_compare_methods_table(compared):
    table, fitted = compared
    assert table["method"].tolist() == list(METHODS) == list(fitted)
    for col in ("silhouette", "coherence_npmi", "coherence_npmi_chance", "coherence_umass", "sizes", "largest_share"):
        assert col in table
    assert all(sum(s) == 12 and len(s) == 3 for s in table["sizes"])
    assert table[["coherence_npmi", "coherence_umass"]].notna().all().all()
    tfidf = table.set_index("method").loc["tfidf"]
    assert tfidf["coherence_npmi"] == table["coherence_npmi"].max()  # the clean lexical split wins here
    assert fitted["elmo"].X_.shape == (12, 64) and fitted["autoencoder"].X_.shape == (12, 8)


def test_two_runs_give_identical_labels(compared, tiny_bundle):
    _, fitted = compared
    before = torch.random.get_rng_state()
    table, again = compare_methods(POEMS, 3, forward=tiny_bundle, backward=None, random_state=0, **FAST)
    assert torch.equal(before, torch.random.get_rng_state())  # no global seeding or drawing
    for m in METHODS:
        assert np.array_equal(fitted[m].labels_, again[m].labels_), m
        assert fitted[m].top_words_ == again[m].top_words_, m


def test_new_poems_are_placed_among_the_corpus_poems(compared):
    _, fitted = compared
    new = ["The ship sails on the grey sea, wave on wave,\nThe sailor and the salt tide.",
           "The sword and the battle, soldiers at war."]
    for m, pipe in fitted.items():
        placed = pipe.place(new)
        assert [p.first_line for p in placed] == ["The ship sails on the grey sea, wave on wave,", "The sword and the battle, soldiers at war."]
        for p in placed:
            assert 0 <= p.theme < 3 and p.theme_words == [w for w, _ in pipe.top_words_[p.theme]]
            assert len(p.nearest) == 5 and [d for *_, d in p.nearest] == sorted(d for *_, d in p.nearest)
        assert (placed[0].mixture is not None) == (m in ("lda", "autoencoder"))
        points = pipe.map_points(new, ["sea?", "war?"])
        assert points["kind"].tolist() == ["corpus"] * 12 + ["new"] * 2 and points["label"].tolist()[-2:] == ["sea?", "war?"]
    sea_poems = {i for i, t in enumerate(TOPIC) if t == 0}
    tfidf = fitted["tfidf"].place(new)
    assert {i for i, *_ in tfidf[0].nearest[:3]} <= sea_poems
    assert tfidf[0].theme == fitted["tfidf"].labels_[0] and tfidf[1].theme == fitted["tfidf"].labels_[2]


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("poems, k, message", [
    (POEMS[:3], 3, "3 poems for 3 themes: ask for at most 2"),
    (POEMS[:1], 2, "only one poem"),
    ([], 2, "no poems"),
    (POEMS, 1, "at least 2 themes"),
    (POEMS[:5] + ["1 2 3\n4 5 6", "... !!!"], 3, "2 poem\\(s\\) have no words.*poem 6"),
    (POEMS[:5] + ["And it is so, and so it is."], 3, "no words"),  # only very common words
    ("one long string of poems", 2, "list of texts"),
])
def test_bad_input_is_a_plain_error(poems, k, message):
    for method in ("tfidf", "lda"):
        with pytest.raises(PoetryLabError, match=message):
            make_theme_pipeline(method, k).fit(poems)
    with pytest.raises(PoetryLabError, match=message):
        compare_methods(poems, k, methods=("tfidf",))


WORDS = ["sea", "ship", "rose", "bloom", "sword", "war", "the", "and", "12", "!", "\n", "XIV\n", "O'er"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join), max_size=7), st.integers(1, 4))
def test_any_poems_give_themes_or_a_plain_error(poems, k):
    for method in ("tfidf", "lda"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # identical poems: fewer distinct clusters than asked
            try:
                pipe = make_theme_pipeline(method, k).fit(poems)
            except PoetryLabError:
                continue
        assert pipe.sizes_.sum() == len(poems) and pipe.map_points(poems[:1]).shape == (len(poems) + 1, 8)
        assert len(pipe.summary()) == k


def test_default_forward_model_brings_its_shipped_backward_twin(tiny_bundle, tmp_path, monkeypatch):
    forward = save_model(tmp_path / "base_forward.safetensors", tiny_bundle)
    twin = ModelBundle(model=tiny_bundle.model, vocab=tiny_bundle.vocab, facts={"direction": "backward"})
    save_model(tmp_path / "base_backward.safetensors", twin)
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(forward))
    emb = LMEmbeddings().fit(POEMS)
    assert emb.backward_.facts == {"direction": "backward"}  # loaded, not trained
    pipe = make_theme_pipeline("elmo", 3).fit(POEMS)
    assert pipe.X_.shape == (12, 64)


# --- scikit-learn's rules: clone, fitted attributes, caches from outside ----------------------------------


def same_params(a, b) -> bool:
    """Equal get_params(deep=True): nested estimators of the same type (their own parameters are listed
    too), models shared, everything else equal."""
    def same(v, w) -> bool:
        if hasattr(v, "get_params"):
            return type(v) is type(w)
        if isinstance(v, (list, tuple)):
            return type(v) is type(w) and len(v) == len(w) and all(map(same, v, w))
        if isinstance(v, dict):
            return v.keys() == w.keys() and all(same(v[k], w[k]) for k in v)
        return v is w or v == w

    pa, pb = a.get_params(deep=True), b.get_params(deep=True)
    return pa.keys() == pb.keys() and all(same(pa[k], pb[k]) for k in pa)


def test_each_theme_method_clones_to_an_unfitted_copy_with_the_same_parameters(compared, tiny_bundle):
    _, fitted = compared
    for m in METHODS:
        unfitted = make_theme_pipeline(m, 3, forward=tiny_bundle, **FAST)
        for pipe in (unfitted, fitted[m]):
            copy = clone(pipe)
            assert copy is not pipe and same_params(copy, pipe) and same_params(copy, unfitted), m
            with pytest.raises(NotFittedError):
                check_is_fitted(copy)
        with pytest.raises(NotFittedError):  # fit fitted clones of its steps, never the steps it was given
            check_is_fitted(fitted[m].representation)
        check_is_fitted(fitted[m].representation_)
        assert not any(isinstance(v, Store) for v in fitted[m].get_params(deep=True).values()), m
    emb = clone(LMEmbeddings(tiny_bundle, tiny_bundle, gamma=2.0))
    assert emb.forward is tiny_bundle and emb.backward is tiny_bundle and emb.gamma == 2.0  # models shared, not copied
    for est in (LMEmbeddings(), SentenceEmbeddings(), FeatureAutoencoder()):
        assert "store" not in est.get_params() and same_params(clone(est), est)


def test_a_clone_fits_to_the_same_themes(compared):
    _, fitted = compared
    with Store().active():
        for m, pipe in fitted.items():
            again = clone(pipe).fit(POEMS)
            assert np.array_equal(again.labels_, pipe.labels_), m
            assert again.top_words_ == pipe.top_words_ and again.theme_labels_ == pipe.theme_labels_, m
            X, Y = (pipe.X_.toarray(), again.X_.toarray()) if m == "tfidf" else (pipe.X_, again.X_)
            assert np.array_equal(X, Y) and np.array_equal(again.xy_, pipe.xy_), m


def test_the_active_store_shares_vectors_between_estimators(tiny_bundle, monkeypatch):
    calls = []
    monkeypatch.setattr(embeddings, "pool_poems", lambda *a, **k: calls.append(a[2]) or pool_poems(*a, **k))
    emb = LMEmbeddings(tiny_bundle, tiny_bundle)
    assert active_store() is None
    with Store().active() as store:
        assert active_store() is store
        first = clone(emb).fit(POEMS).transform(POEMS)
        with Store().active() as inner:  # blocks nest: the inner Store, then the outer one again
            assert active_store() is inner
        second = clone(emb).fit(POEMS).transform(POEMS)
    assert calls == [False, True] and np.array_equal(first, second)  # each direction read once, then reused
    assert active_store() is None
    assert np.array_equal(clone(emb).fit(POEMS).transform(POEMS), first) and len(calls) == 4  # no Store: made again
    assert len(store) == 1 and len(inner) == 0


def test_compare_methods_shares_one_backward_model_between_the_embedding_methods(tiny_bundle, monkeypatch):
    calls = []
    real = embeddings.train_backward  # with a Store, it asks the Store, which calls it again without one to train
    monkeypatch.setattr(embeddings, "train_backward",
                        lambda *a: calls.append("asked" if len(a) > 5 and a[5] is not None else "trained") or real(*a))
    with Store().active() as store:
        compare_methods(POEMS, 3, forward=tiny_bundle, methods=("elmo", "autoencoder"), **FAST)
    assert calls == ["asked", "trained", "asked"]
    assert store.count("backward model") == 1 and store.count("embeddings") == 1  # one backward model, one set of vectors
    calls.clear()
    compare_methods(POEMS, 3, forward=tiny_bundle, methods=("elmo", "autoencoder"), **FAST)
    assert calls == ["asked", "trained", "asked"]  # no Store active: compare_methods makes one for the call


def test_corpus_key_is_one_sha256_for_a_text_or_its_poems():
    assert corpus_key(["ab", "c"]) != corpus_key(["a", "bc"]) != corpus_key("abc")
    assert corpus_key(["a", "bc"]) == corpus_key("a\x00bc") == corpus_key(iter(["a", "bc"]))
    assert re.fullmatch("[0-9a-f]{64}", corpus_key("\ud800 lone surrogate"))  # any str, as the corpus keeps it


def test_no_cache_keys_a_corpus_by_pythons_hash():
    """Python's hash() of a str changes between processes (and collides): corpora are known by corpus_key."""
    calls = [f"{path.name}:{n}" for path in Path(poetry_lab.__file__).parent.rglob("*.py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"(?<![\w.])hash\(", line)]
    assert calls == []


def test_unknown_method_and_empty_new_poem(compared):
    with pytest.raises(PoetryLabError, match="Unknown theme method"):
        make_theme_pipeline("bert", 3)
    with pytest.raises(PoetryLabError, match="no words"):
        compared[1]["tfidf"].place(["123 !!!"])


# --- the themes command --------------------------------------------------------------------------


@pytest.fixture
def poems_file(tmp_path):
    path = tmp_path / "poems.txt"
    path.write_text("\n\n".join(POEMS) + "\n", encoding="utf-8")
    return path


def test_themes_command_json_and_html(poems_file, tmp_path, capsys, tiny_model_path):
    out = tmp_path / "figs"
    code = main(["themes", str(poems_file), "--k", "3", "--model", str(tiny_model_path), "--backward", str(tiny_model_path),
                 "--json", "--html", str(out)])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in results] == list(METHODS)
    for r in results:
        assert set(r) >= {"name", "silhouette", "coherence_npmi", "coherence_umass", "sizes", "top_words"}
        assert sum(r["sizes"]) == 12 and len(r["top_words"]) == 3
    names = {p.name for p in out.iterdir()}
    assert names == {"comparison.html"} | {f"{kind}_{m}.html" for kind in ("map", "words") for m in METHODS}
    assert "plotly.js" in (out / "map_tfidf.html").read_text(encoding="utf-8")[:5000].lower() or \
        "plotly" in (out / "map_tfidf.html").read_text(encoding="utf-8")[:2000]


def test_themes_command_table(poems_file, capsys):
    assert main(["themes", str(poems_file), "--method", "tfidf", "--k", "auto"]) == 0
    captured = capsys.readouterr()
    assert "3 themes" in captured.err and "coherence_npmi" in captured.out and "typical:" in captured.out


def test_themes_command_fewer_poems_than_themes_gives_fewer_themes(poems_file, capsys):
    assert main(["themes", str(poems_file), "--method", "tfidf", "--k", "20"]) == 0
    captured = capsys.readouterr()
    assert "only 12 poems, so 11 themes instead of 20" in captured.err and "12 poems, 11 themes" in captured.out


@pytest.mark.parametrize("args, message", [
    (["--k", "many"], "whole number"),
    (["--method", "bert"], "Unknown method"),
])
def test_themes_command_user_errors(poems_file, capsys, args, message):
    assert main(["themes", str(poems_file), "--method", "tfidf", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_a_backward_model_cut_short_by_its_time_limit_is_reported(tiny_bundle):
    with pytest.warns(UserWarning, match="limit after"):
        LMEmbeddings(tiny_bundle, backward_steps=100_000, backward_seconds=0.5, random_state=5).fit(POEMS)
