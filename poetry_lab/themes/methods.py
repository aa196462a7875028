"""Themes in a corpus of poems: five ways to find them, judged side by side on the same poems.

A ThemePipeline is a scikit-learn style estimator made of pluggable steps, as in BERTopic:
representation (poem texts -> vectors) -> clusterer (vectors -> themes) -> description (top words
and a short label by class-based TF-IDF, for every method) -> typical poems (closest to the theme's centre).
The five methods (`make_theme_pipeline(method, ...)`):

    tfidf        TF-IDF bag of words + K-means (the baseline)
    lda          LDA topic mixtures on word counts; a poem's theme is its dominant topic
    elmo         ELMo-style embeddings from our character LMs (poetry_lab.themes.embeddings), standardised, + K-means
    autoencoder  [LDA mixture x lda_weight | embedding], each standardised, compressed by a small
                 autoencoder; K-means on its latent codes (the notebook's "LDA with an autoencoder")
    minilm       all-MiniLM-L6-v2 sentence vectors (poetry_lab.themes.encoder; mean pooled, unit
                 length) + K-means: BERTopic's default encoder, shipped in a PyPI wheel, loaded offline

Public API (what the CLI and the app's Session.themes call):
    plan_themes(poems, method="all", n_themes=5, max_poems=None) -> ThemePlan (poems, methods,
        n_themes, notes): blocks without words skipped, fewer themes for few poems, the English-only
        note, the encoder left out of "all" (with a note) where its packages are missing
    compare_methods(poems, n_themes=5, forward=None, backward=None, random_state=0, methods=METHODS,
                    progress=None, cache=None, **options) -> (DataFrame, one row per method; dict[method, ThemePipeline])
    make_theme_pipeline(method, n_themes=5, random_state=0, forward=None, backward=None, lda_weight=0.5,
                        **embedding_options)  (backward_steps, backward_seconds, pooling, layers: LMEmbeddings)
    ThemePipeline.fit(poems) / .predict(poems) / .transform(poems); fitted: representation_, clusterer_
        (fitted clones of the steps given), labels_, sizes_, top_words_
        [(word, weight)] per theme, theme_labels_ (two or three distinctive words each), typical_
        (poem indices), topic_words_ (LDA's own topics, for mixtures, or None), xy_
        .summary() -> DataFrame (theme, label, size, top_words, typical, typical_lines)
        .scores() -> dict (silhouette, coherence_npmi, coherence_npmi_chance, coherence_umass, diversity, sizes,
                           labels, top_words)
        .place(new_poems) -> list[Placement]  (theme, its words and label, LDA mixture, the 5 nearest corpus poems)
        .map_points(new_poems=(), new_labels=None) -> DataFrame for themes_figures.theme_map
    suggest_k(X, k_range=range(2, 11), random_state=0) -> int  (the best K-means silhouette)
    auto_n_themes(poems, random_state=0) -> int  (suggest_k on TF-IDF: the app's and the CLI's "auto")
    DEFAULT_METHOD, DEFAULT_METHOD_REASON: the app's default and the one line that says why

forward/backward are ModelBundles; None: the shipped pretrained model and its shipped backward twin,
or one trained on the reversed poems (embeddings.py). Themes are numbered from 0 here (the CLI and
figures show 1..k). Headings (Roman numerals, titles in capitals) and speakers' names are removed before
modelling; plan_themes reads only poems (theme_passages: no title pages, prose notes or other languages;
long blocks as passages). A theme's top words, for every method, are chosen among its 50 heaviest by c-TF-IDF by
sense (words.theme_terms: in the sentence encoder's word space, grown from the theme's sense into one group of words
that go together, BERTopic's KeyBERTInspired and more; c-TF-IDF order alone where the encoder is not installed, with
PLAIN_WORDS_NOTE); no word is among the first five of two themes; its short label uses words of its own (theme_labels).
Silhouette is measured in each method's own space, so it compares poorly across methods (LDA's
near one-hot mixtures score high whatever the themes); compare_methods adds it in one space shared
by all (silhouette_words). Coherence (NPMI, UMass) uses the corpus's own document co-occurrences
over each theme's top words, next to its chance level (random themes of the same sizes, words
chosen by the same rules). User errors (too few poems, poems without words, a missing encoder
package) raise PoetryLabError. Every step takes random_state; equal settings give equal themes
(torch draws come from explicit generators). Tokenising, lemmas, c-TF-IDF, the words' ranking, labels and
coherence live in poetry_lab.themes.words; the word vectors (encoder.word_space) come from the active Store.

Every estimator here follows scikit-learn's rules (`clone` gives an unfitted copy with the same
parameters, and fits to the same themes). Caches are never parameters: the models, the encoder and
the vectors the embedding methods make are kept in the Store the caller made active
(`with store.active():`, poetry_lab.store); compare_methods makes one for the call when none is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store, active_store, corpus_key
from poetry_lab.themes.embeddings import (
    FeatureAutoencoder,
    LMEmbeddings,
    default_models,
)
from poetry_lab.themes.encoder import SentenceEmbeddings, encoder_missing, word_space
from poetry_lab.themes.passages import theme_passages
from poetry_lab.themes.words import (
    DominantTopic,
    chance_npmi,
    check_poems,
    class_tfidf,
    coherence,
    common_share,
    find_topic_model,
    first_line,
    has_words,
    language_note,
    make_topic_model,
    poem_body,
    theme_labels,
    theme_terms,
    top_terms,
    word_counter,
)

METHODS = {
    "tfidf": "TF-IDF + K-means",
    "lda": "LDA topics (dominant topic)",
    "elmo": "LM embeddings + K-means",
    "autoencoder": "LDA + LM embeddings -> autoencoder + K-means",
    "minilm": "Sentence encoder (MiniLM) + K-means",
}
LM_METHODS = ("elmo", "autoencoder")  # the methods that read the poems with the character LMs (slower)
ENCODER_METHODS = ("minilm",)  # the methods that need the sentence-transformers packages
# From benchmarks/bench_themes.py --compare (Sonnets, Milton, 600 Gutenberg excerpts; k=5, seeds 0-2):
# mean NPMI above chance tfidf +0.045 / -0.116 / +0.069, elmo +0.057 / -0.101 / +0.026, minilm +0.046 /
# -0.170 / -0.029, lda +0.007 / -0.072 / -0.012, autoencoder -0.007 / -0.095 / -0.038; tfidf fits in
# 0.2-0.5 s, the embedding methods in 1-30 s (words in c-TF-IDF order then; re-ranked by sense since, tfidf
# fits in 1-4 s). See README, "Themes: which method".
PLAIN_WORDS_NOTE = ("Without the sentence encoder each theme's words are its heaviest by class-based TF-IDF, not re-ranked "
                    "by sense: they may be rare words of one or two poems.")
DEFAULT_METHOD = "tfidf"
DEFAULT_METHOD_REASON = ("Shared words (TF-IDF) is the default: on the Sonnets, Milton and 600 Gutenberg excerpts its "
                         "themes' words go together above chance more than any other method's on average, in a second or two.")


def make_theme_pipeline(method: str, n_themes: int = 5, random_state=0, forward=None, backward=None,
                        lda_weight: float = 0.5, **embedding_options) -> ThemePipeline:
    """An unfitted pipeline for one of METHODS; embedding_options go to LMEmbeddings. forward None: the
    default model (and its shipped twin), loaded in fit from the active Store."""
    kmeans = KMeans(n_clusters=n_themes, n_init=10, random_state=random_state)
    if method == "tfidf":
        return ThemePipeline(make_pipeline(word_counter(), TfidfTransformer(sublinear_tf=True)), kmeans,
                             name=method, random_state=random_state)
    if method == "minilm":
        return ThemePipeline(SentenceEmbeddings(), kmeans, name=method, random_state=random_state)
    if method == "lda":
        return ThemePipeline(make_topic_model(n_themes, random_state), DominantTopic(n_themes),
                             name=method, random_state=random_state)
    if method not in METHODS:
        raise PoetryLabError(f"Unknown theme method {method!r}: choose from {', '.join(METHODS)}.")
    emb = LMEmbeddings(forward, backward, random_state=random_state, **embedding_options)
    if method == "elmo":
        return ThemePipeline(make_pipeline(emb, StandardScaler()), kmeans, name=method, random_state=random_state)
    # lda_weight=1 gives both blocks the same total variance (2H standardised embedding columns vs n_themes topics);
    # LDA's near one-hot mixtures then decide alone (the themes equal LDA's on the Sonnets); at 0.25 the
    # embeddings decide; the default 0.5 lets LDA lead with the embeddings moving the borders.
    dims = _embedding_width(forward, backward)
    union = FeatureUnion([("topics", make_pipeline(make_topic_model(n_themes, random_state), StandardScaler())),
                          ("embeddings", make_pipeline(emb, StandardScaler()))],
                         transformer_weights={"topics": lda_weight * (dims / n_themes) ** 0.5, "embeddings": 1.0})
    return ThemePipeline(make_pipeline(union, FeatureAutoencoder(random_state=random_state)), kmeans, name=method,
                         random_state=random_state)


def _embedding_width(forward, backward) -> int:
    """LMEmbeddings' output width (forward + backward hidden sizes); forward None: the default models'."""
    if forward is None:
        forward, twin = default_models(active_store())
        backward = backward if backward is not None else twin
    return forward.model.config.hidden + (backward or forward).model.config.hidden


@dataclass
class Placement:
    """Where a new poem lands among the fitted themes."""

    poem: str
    first_line: str
    theme: int
    theme_words: list[str]
    theme_label: str  # the theme's two or three most distinctive words
    mixture: list[float] | None  # LDA topic shares (topic words: pipeline.topic_words_), where LDA is part
    nearest: list[tuple[int, str, float]]  # (corpus poem index, its first line, distance), nearest first


class ThemePipeline(BaseEstimator):
    """representation -> clusterer -> top words and typical poems; see the module doc.

    `representation` is any transformer over a list of poem texts (a TfidfVectorizer, a Pipeline);
    `clusterer` has fit/predict and a distance-like transform (KMeans, DominantTopic). fit fits clones
    of both (representation_, clusterer_): the parameters stay as given, so `clone` and refitting work.
    top_words: "ctfidf" (class-based TF-IDF over the themes) or "lda" (the topic model's word weights;
    themes are then its topics).
    """

    def __init__(self, representation, clusterer, top_words: str = "ctfidf", n_top_words: int = 10,
                 n_typical: int = 3, name: str = "", random_state=0):
        self.representation = representation
        self.clusterer = clusterer
        self.top_words = top_words
        self.n_top_words = n_top_words
        self.n_typical = n_typical
        self.name = name
        self.random_state = random_state

    @property
    def n_themes(self) -> int:
        return int(self.clusterer.n_clusters)

    def fit(self, poems, y=None) -> ThemePipeline:
        poems = check_poems(poems, self.n_themes)
        bodies = [poem_body(p) for p in poems]
        start = time.perf_counter()
        self.representation_, self.clusterer_ = clone(self.representation), clone(self.clusterer)
        X = self.representation_.fit_transform(bodies)
        self.clusterer_.fit(X)
        self.poems_, self.X_, self.labels_ = poems, X, np.asarray(self.clusterer_.predict(X))
        self.sizes_ = np.bincount(self.labels_, minlength=self.n_themes)
        dist = np.asarray(self.clusterer_.transform(X))  # (n, k), smaller is closer to the theme
        members = [np.flatnonzero(self.labels_ == t) for t in range(self.n_themes)]
        self.typical_ = [[int(i) for i in sorted(m, key=lambda i: dist[i, t])][: self.n_typical]
                         for t, m in enumerate(members)]
        self._describe(bodies)
        several = 2 <= len(np.unique(self.labels_)) < len(poems)
        self.silhouette_ = float(silhouette_score(X, self.labels_)) if several else float("nan")
        self.neighbours_ = NearestNeighbors(n_neighbors=min(5, len(poems))).fit(X)
        self.projector_ = self._map_projection(X)
        self.xy_ = self._xy(X)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _map_projection(self, X) -> PCA:
        """PCA to (at most) 2D for the map; ARPACK centres a sparse TF-IDF without making it dense (and
        takes ~0.05 s where a full SVD of the Sonnets' 154 x 2,239 TF-IDF took 1 s)."""
        arpack = sp.issparse(X) and min(X.shape) > 3
        X = X.toarray() if sp.issparse(X) and not arpack else X
        with np.errstate(divide="ignore", invalid="ignore"):  # identical poems: no variance to explain
            return PCA(min(2, X.shape[0] - arpack, X.shape[1] - arpack), svd_solver="arpack" if arpack else "full",
                       random_state=self.random_state).fit(X)

    def _xy(self, X) -> np.ndarray:
        xy = self.projector_.transform(X)
        return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))  # a one-word vocabulary gives one axis

    def _describe(self, bodies: list[str]) -> None:
        """Top words per theme (and per LDA topic), and their coherence against the chance level."""
        self.counter_ = word_counter().fit(bodies)
        counts, vocab = self.counter_.transform(bodies), self.counter_.get_feature_names_out()
        topics = find_topic_model(self.representation_)
        self.topic_words_ = None
        if topics is not None:
            self.topic_words_ = top_terms(topics[-1].components_, topics[0].get_feature_names_out(), self.n_top_words)
        drop = len(bodies) >= 10  # leave out one-poem words, and words too common to name a theme, once there are enough poems
        share = common_share(self.n_themes) if drop else 1.0
        weights = class_tfidf(counts, self.labels_, self.n_themes, drop, share)
        # each theme's heaviest c-TF-IDF words re-ranked by sense (theme_terms; the chance level picks by the same rule).
        # Not own_terms (a word only for the theme where it weighs most): that swapped 1-1.5 of the top five for words from
        # down to rank 18, and its themes scored lower in the blind word-intrusion test (benchmarks/bench_intrusion.py)
        vectors = word_space(active_store())
        words = theme_terms(weights, vocab, self.n_top_words, vectors)
        self.top_words_ = self.topic_words_ if self.top_words == "lda" and topics is not None else words
        self.theme_labels_ = theme_labels(weights, vocab, top_words=words)
        distinct = [w for ws in self.top_words_ for w, _ in ws]
        self.diversity_ = len(set(distinct)) / len(distinct) if distinct else float("nan")
        self.coherence_ = coherence([[w for w, _ in ws] for ws in self.top_words_], counts, vocab)
        self.coherence_["npmi_chance"] = chance_npmi(counts, vocab, self.labels_, self.n_themes, self.n_top_words, drop,
                                                     self.random_state, max_share=share, vectors=vectors)

    def transform(self, poems) -> np.ndarray:
        return self.representation_.transform([poem_body(p) for p in poems])

    def predict(self, poems) -> np.ndarray:
        return np.asarray(self.clusterer_.predict(self.transform(poems)))

    def scores(self) -> dict:
        c = self.coherence_
        return {"method": self.name, "silhouette": self.silhouette_, "coherence_npmi": c["npmi"],
                "coherence_npmi_chance": c["npmi_chance"], "coherence_umass": c["umass"], "diversity": self.diversity_,
                "sizes": self.sizes_.tolist(), "labels": list(self.theme_labels_),
                "top_words": [[w for w, _ in ws] for ws in self.top_words_]}

    def summary(self) -> pd.DataFrame:
        """One row per theme: theme, label, size, top_words (text), typical (corpus indices), typical_lines."""
        return pd.DataFrame({
            "theme": range(self.n_themes),
            "label": self.theme_labels_,
            "size": self.sizes_,
            "top_words": [", ".join(w for w, _ in ws) for ws in self.top_words_],
            "typical": self.typical_,
            "typical_lines": [" / ".join(first_line(self.poems_[i]) for i in idx) for idx in self.typical_],
        })

    def place(self, new_poems) -> list[Placement]:
        """Theme, LDA mixture (if any) and nearest corpus poems of each new poem."""
        new_poems = list(new_poems)
        if not new_poems:
            return []
        if not all(has_words(p) for p in new_poems):
            raise PoetryLabError("A poem to place has no words to compare with the corpus.")
        X = self.transform(new_poems)
        themes = np.asarray(self.clusterer_.predict(X))
        topics = find_topic_model(self.representation_)
        mix = None if topics is None else topics.transform([poem_body(p) for p in new_poems])
        dist, idx = self.neighbours_.kneighbors(X)
        return [Placement(poem=p, first_line=first_line(p), theme=int(t), theme_words=[w for w, _ in self.top_words_[t]],
                          theme_label=self.theme_labels_[t],
                          mixture=None if mix is None else [float(v) for v in mix[k]],
                          nearest=[(int(i), first_line(self.poems_[i]), float(d)) for i, d in zip(idx[k], dist[k])])
                for k, (p, t) in enumerate(zip(new_poems, themes))]

    def map_points(self, new_poems=(), new_labels=None) -> pd.DataFrame:
        """x, y, theme, theme_words, theme_label, first_line, kind ("corpus" or "new"), label: for themes_figures.theme_map."""
        words = [", ".join(w for w, _ in ws[:4]) for ws in self.top_words_]
        tags = self.theme_labels_
        rows = [{"x": float(x), "y": float(y), "theme": int(t), "theme_words": words[t], "theme_label": tags[t],
                 "first_line": first_line(p), "kind": "corpus", "label": ""}
                for (x, y), t, p in zip(self.xy_, self.labels_, self.poems_)]
        new_poems = list(new_poems)
        if new_poems:
            X = self.transform(new_poems)
            xy, themes = self._xy(X), self.clusterer_.predict(X)
            labels = list(new_labels) if new_labels is not None else [f"new {k + 1}" for k in range(len(new_poems))]
            rows += [{"x": float(x), "y": float(y), "theme": int(t), "theme_words": words[t], "theme_label": tags[t],
                      "first_line": first_line(p), "kind": "new", "label": lab}
                     for (x, y), t, p, lab in zip(xy, themes, new_poems, labels)]
        return pd.DataFrame(rows, columns=["x", "y", "theme", "theme_words", "theme_label", "first_line", "kind", "label"])


@dataclass
class ThemePlan:
    """What a themes request will fit: the usable poems, the methods that can run here, the number of
    themes, and plain notes on anything changed on the way (for the CLI and the app to show)."""

    poems: list[str]
    methods: list[str]
    n_themes: int | None  # None: to be chosen (auto_n_themes)
    notes: list[str]


def plan_themes(poems, method: str = "all", n_themes: int | None = 5, max_poems: int | None = None) -> ThemePlan:
    """Check a themes request against the poems: unknown methods and a missing encoder package are
    plain errors (with "all", the encoder is left out with a note); blocks that are no poems (no words,
    prose, titles, another language) are left out and long ones read as passages (theme_passages),
    a large corpus is thinned evenly to max_poems, fewer poems than themes gives fewer themes,
    poems that do not look English get a note that the word lists are English-only, and a missing
    encoder a note that the theme words keep their c-TF-IDF order (PLAIN_WORDS_NOTE)."""
    if method not in (*METHODS, "all"):
        raise PoetryLabError(f"Unknown method '{method}': choose from {', '.join(METHODS)} or all.")
    methods, notes, missing = (list(METHODS) if method == "all" else [method]), [], encoder_missing()
    if missing and method in ENCODER_METHODS:
        raise PoetryLabError(missing)
    if missing and method == "all":
        methods = [m for m in methods if m not in ENCODER_METHODS]
        notes.append(missing)
    if missing:  # the words of every method are re-ranked in the encoder's word space (words.theme_terms)
        notes.append(PLAIN_WORDS_NOTE)
    if isinstance(poems, str):
        raise PoetryLabError("Give the poems as a list of texts.")
    reading = theme_passages(list(poems))
    poems, notes = reading.poems, notes + reading.notes
    if max_poems is not None and len(poems) > max_poems:
        usable, poems = len(poems), [poems[i * len(poems) // max_poems] for i in range(max_poems)]
        notes.append(f"Themes use {max_poems:,} of the {usable:,} poems, spread evenly through the corpus, to keep this quick.")
    if n_themes is not None and 3 <= len(poems) <= n_themes:
        notes.append(f"There are only {len(poems)} poems, so {len(poems) - 1} themes instead of {n_themes}: "
                     "each theme needs poems of its own.")
        n_themes = len(poems) - 1
    english = language_note(poems)
    return ThemePlan(poems, methods, n_themes, notes + ([english] if english else []))


def suggest_k(X, k_range=range(2, 11), random_state=0) -> int:
    """The number of K-means clusters with the best silhouette score over k_range (ties: fewer)."""
    n = X.shape[0]
    ks = [k for k in k_range if 2 <= k < n]
    if not ks:
        raise PoetryLabError(f"There are too few poems ({n}) to compare numbers of themes: give at least 3.")
    scores = [silhouette_score(X, KMeans(k, n_init=10, random_state=random_state).fit_predict(X)) for k in ks]
    return ks[int(np.argmax(scores))]


def auto_n_themes(poems, random_state=0) -> int:
    """The number of themes chosen automatically, the same in the app and the CLI: suggest_k on the
    poems' TF-IDF vectors (the best K-means silhouette, 2 to 10 themes)."""
    return suggest_k(make_theme_pipeline("tfidf", 2, random_state).fit(poems).X_, random_state=random_state)


def common_silhouette(X, labels: np.ndarray) -> float:
    """The silhouette (cosine) of themes in a space shared by every method; NaN with one theme left."""
    return float(silhouette_score(X, labels, metric="cosine")) if 2 <= len(np.unique(labels)) < X.shape[0] else float("nan")


def _fit_key(poems_key: str, method: str, n_themes: int, forward, backward, random_state, options: dict) -> tuple:
    """What a fitted method depends on; models by identity (a cache entry keeps them alive, so ids stay unique)."""
    models = (id(forward), id(backward)) if method in LM_METHODS else ()
    return (poems_key, method, int(n_themes), repr(random_state), models, repr(sorted(options.items())))


def compare_methods(poems, n_themes: int = 5, forward=None, backward=None, random_state=0, methods=tuple(METHODS),
                    progress: Callable[[float, str], None] | None = None, cache: MutableMapping | None = None,
                    **options) -> tuple[pd.DataFrame, dict[str, ThemePipeline]]:
    """Fit each method on the same poems: the comparison table and the fitted pipelines.

    Table columns: method, description, silhouette (in the method's own space), silhouette_words (in
    one space for every method: the poems' TF-IDF word vectors, cosine), coherence_npmi,
    coherence_npmi_chance (the same measure for random themes of the same sizes), coherence_umass,
    diversity (the share of distinct words among all themes' top words), sizes, largest_share,
    seconds (of the fit). The embedding methods share one backward model and one set of vectors: they are
    kept in the active Store (a fresh one for this call when none is active). progress(fraction done,
    method) is called before each method. cache: a mapping the caller keeps (and bounds); methods
    fitted before on the same poems and settings come from it.
    """
    poems = check_poems(poems, n_themes)
    store = active_store()
    with (store if store is not None else Store()).active():
        poems_key = corpus_key(poems)
        fitted, rows, words_space = {}, [], None
        for i, method in enumerate(methods):
            key = _fit_key(poems_key, method, n_themes, forward, backward, random_state, options)
            if cache is not None and key in cache:
                row, fitted[method] = cache[key]
                rows.append(row)
                continue
            if progress is not None:
                progress(i / len(methods), method)
            start = time.perf_counter()
            pipe = make_theme_pipeline(method, n_themes, random_state, forward, backward, **options).fit(poems)
            fitted[method] = pipe
            seconds = time.perf_counter() - start
            if words_space is None:
                words_space = make_pipeline(word_counter(), TfidfTransformer(sublinear_tf=True)).fit_transform(
                    [poem_body(p) for p in poems])
            s = {key: v for key, v in pipe.scores().items() if key not in ("method", "top_words", "labels")}
            rows.append({"method": method, "description": METHODS[method], **s, "silhouette_words": common_silhouette(
                         words_space, pipe.labels_), "largest_share": max(s["sizes"]) / len(poems), "seconds": seconds})
            if cache is not None:
                cache[key] = (rows[-1], pipe)
        return pd.DataFrame(rows), fitted
