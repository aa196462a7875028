"""Themes in a corpus of poems: four ways to find them, judged side by side on the same poems.

A ThemePipeline is a scikit-learn style estimator made of pluggable steps, as in BERTopic:
representation (poem texts -> vectors) -> clusterer (vectors -> themes) -> description (top words
by class-based TF-IDF, or LDA's own word weights) -> typical poems (closest to the theme's centre).
The four methods (`make_theme_pipeline(method, ...)`):

    tfidf        TF-IDF bag of words + K-means (the baseline)
    lda          LDA topic mixtures on word counts; a poem's theme is its dominant topic
    elmo         ELMo-style embeddings from our character LMs (poetry_lab.embeddings), standardised, + K-means
    autoencoder  [LDA mixture x lda_weight | embedding], each standardised, compressed by a small
                 autoencoder; K-means on its latent codes (the notebook's "LDA with an autoencoder")

Public API (what the CLI and the app tab call):
    compare_methods(poems, n_themes=5, forward=None, backward=None, random_state=0, methods=METHODS, **options)
        -> (DataFrame, one row per method; dict[method, fitted ThemePipeline])
    make_theme_pipeline(method, n_themes=5, random_state=0, forward=None, backward=None, lda_weight=0.5,
                        **embedding_options)  (backward_steps, backward_seconds, pooling, layers: LMEmbeddings)
    ThemePipeline.fit(poems) / .predict(poems) / .transform(poems); fitted: labels_, sizes_, top_words_
        [(word, weight)] per theme, typical_ (poem indices), topic_words_ (LDA's topics, or None), xy_
        .summary() -> DataFrame (theme, size, top_words, typical, typical_lines)
        .scores() -> dict (silhouette, coherence_npmi, coherence_npmi_chance, coherence_umass, sizes, top_words)
        .place(new_poems) -> list[Placement]  (theme, its words, LDA mixture, the 5 nearest corpus poems)
        .map_points(new_poems=(), new_labels=None) -> DataFrame for themes_figures.theme_map
    suggest_k(X, k_range=range(2, 11), random_state=0) -> int  (the best K-means silhouette)

forward/backward are ModelBundles; None: the shipped pretrained model and its shipped backward twin,
or one trained on the reversed poems (embeddings.py). Themes are numbered from 0 here (the CLI and
figures show 1..k). Headings (Roman numerals, titles in capitals) are removed before modelling.
Silhouette is measured in each method's own space, so it compares poorly across methods (LDA's
near one-hot mixtures score high whatever the themes); coherence (NPMI, UMass) uses the corpus's
own document co-occurrences over each theme's top words, next to its chance level. User errors
(too few poems, poems without words) raise PoetryLabError. Every step takes random_state; equal
settings give equal themes (torch draws come from explicit generators).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, LatentDirichletAllocation
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.utils import check_random_state

from poetry_lab.embeddings import FeatureAutoencoder, LMEmbeddings, default_models
from poetry_lab.errors import PoetryLabError

METHODS = {
    "tfidf": "TF-IDF + K-means",
    "lda": "LDA topics (dominant topic)",
    "elmo": "LM embeddings + K-means",
    "autoencoder": "LDA + LM embeddings -> autoencoder + K-means",
}
# Early modern function words that English stop lists miss; they would top every theme otherwise.
ARCHAIC = ("thou thee thy thine thyself ye hath doth dost hast art shalt shall wilt canst didst wert tis twas ere oft oh ah "
           "nay yea ne thus unto").split()
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | set(ARCHAIC))
# Words of two letters or more, but not the tail of an elision: "feed'st", "o'er", "I'll" give no "st", "er", "ll".
TOKEN = r"(?u)(?<![^\W\d_]['’])\b[^\W\d_]{2,}\b"
_HEADING = re.compile(r"^\s*(?:[IVXLCDM]+|\d+)\.?\s*$")


def poem_body(poem: str) -> str:
    """The poem without a heading line (a Roman numeral, a number or a title in capitals)."""
    lines = poem.strip("\n").split("\n")
    if len(lines) > 1 and (_HEADING.match(lines[0]) or (lines[0].strip().isupper() and len(lines[0]) <= 80)):
        return "\n".join(lines[1:])
    return "\n".join(lines)


def first_line(poem: str) -> str:
    """The poem's heading (if any) and first line of verse, for labels and hovers."""
    lines = [ln.strip() for ln in poem.split("\n") if ln.strip()]
    body = [ln.strip() for ln in poem_body(poem).split("\n") if ln.strip()]
    head = f"{lines[0]}. " if lines and body and lines[0] != body[0] else ""
    return head + (body[0] if body else "")


def word_counter(**kw) -> CountVectorizer:
    return CountVectorizer(token_pattern=TOKEN, stop_words=STOP_WORDS, **kw)


def check_poems(poems, n_themes: int) -> list[str]:
    """The poems as a list, or a PoetryLabError saying what to change."""
    if isinstance(poems, str) or not all(isinstance(p, str) for p in poems):
        raise PoetryLabError("Give the poems as a list of texts.")
    poems = list(poems)
    if len(poems) == 0:
        raise PoetryLabError("There are no poems to sort into themes.")
    if len(poems) == 1:
        raise PoetryLabError("There is only one poem: themes need several poems. Separate poems with a blank line.")
    if int(n_themes) < 2:
        raise PoetryLabError(f"Ask for at least 2 themes, not {n_themes}.")
    if len(poems) <= n_themes:
        raise PoetryLabError(f"There are {len(poems)} poems for {n_themes} themes: ask for at most {len(poems) - 1} "
                             "themes, or add poems (separate poems with a blank line).")
    analyse = word_counter().build_analyzer()
    empty = [i for i, p in enumerate(poems) if not analyse(poem_body(p))]
    if empty:
        shown = "; ".join(f"poem {i + 1} ({first_line(poems[i])[:40]!r})" for i in empty[:3])
        raise PoetryLabError(f"{len(empty)} poem(s) have no words to find themes in (only numbers, punctuation or very "
                             f"common words): {shown}. Remove them or add words.")
    return poems


def class_tfidf(counts, labels: np.ndarray, k: int, drop_hapax: bool = False) -> np.ndarray:
    """BERTopic's c-TF-IDF: each theme's word frequencies (L1-normalised) x log(1 + A / f_w), with A
    the mean number of words per theme and f_w the word's frequency over all themes. (k, V)."""
    tf = np.vstack([np.asarray(counts[labels == t].sum(axis=0)).ravel() for t in range(k)])
    f = tf.sum(axis=0)
    weights = normalize(tf, norm="l1") * np.log(1.0 + tf.sum(axis=1).mean() / np.maximum(f, 1))
    if drop_hapax:  # a word from one poem only says little about a theme (and inflates coherence)
        weights[:, np.asarray((counts > 0).sum(axis=0)).ravel() < 2] = 0.0
    return weights


def top_terms(weights: np.ndarray, vocab, n: int) -> list[list[tuple[str, float]]]:
    """The n heaviest words (with weight > 0) of each row, heaviest first."""
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return [[(str(vocab[j]), float(row[j])) for j in np.argsort(-row, kind="stable")[:n] if row[j] > 0] for row in weights]


def coherence(top_words: list[list[str]], counts, vocab) -> dict[str, float]:
    """Mean topic coherence over themes from document co-occurrence in the corpus itself.

    NPMI (Bouma; -1 never together .. 1 always together) over all pairs, and UMass (Mimno et al.):
    mean log((D(w_i, w_j) + 1) / D(w_j)) over pairs with w_j ranked above w_i.
    """
    index = {w: j for j, w in enumerate(vocab)}
    B = (counts > 0).astype(np.float64).tocsc()
    n, npmi, umass = B.shape[0], [], []
    for words in top_words:
        cols = [index[w] for w in words if w in index]
        if len(cols) < 2:
            continue
        D = B[:, cols]
        co = np.asarray((D.T @ D).todense())  # (m, m): documents with both words; diagonal: with each
        p, iu = np.diag(co) / n, np.triu_indices(len(cols), 1)
        pij = co[iu] / n
        with np.errstate(divide="ignore", invalid="ignore"):  # never together: -1; together in every poem: 1
            pairs = np.where(pij == 0, -1.0, np.log(pij / (p[iu[0]] * p[iu[1]])) / -np.log(pij))
        npmi.append(np.mean(np.where(pij >= 1.0, 1.0, pairs)))
        umass.append(np.mean(np.log((co[iu] + 1.0) / np.diag(co)[iu[0]])))
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    return {"npmi": mean(npmi), "umass": mean(umass)}


class DominantTopic(ClusterMixin, BaseEstimator):
    """The 'clusterer' of the LDA method: a poem belongs to the topic with the largest share."""

    def __init__(self, n_clusters: int = 5):
        self.n_clusters = n_clusters

    def fit(self, X, y=None) -> DominantTopic:
        self.labels_ = self.predict(X)
        return self

    def predict(self, X) -> np.ndarray:
        return np.asarray(X).argmax(axis=1)

    def transform(self, X) -> np.ndarray:
        """Distance-like: 1 - the topic's share (0 for a poem wholly in that topic)."""
        return 1.0 - np.asarray(X)


def make_topic_model(n_topics: int, random_state=0) -> Pipeline:
    """Word counts -> LDA topic mixtures (rows sum to 1)."""
    lda = LatentDirichletAllocation(n_components=n_topics, learning_method="batch", max_iter=50, random_state=random_state)
    return make_pipeline(word_counter(), lda)


def make_theme_pipeline(method: str, n_themes: int = 5, random_state=0, forward=None, backward=None,
                        lda_weight: float = 0.5, **embedding_options) -> ThemePipeline:
    """An unfitted pipeline for one of METHODS; embedding_options go to LMEmbeddings."""
    kmeans = KMeans(n_clusters=n_themes, n_init=10, random_state=random_state)
    if method == "tfidf":
        return ThemePipeline(TfidfVectorizer(token_pattern=TOKEN, stop_words=STOP_WORDS, sublinear_tf=True), kmeans,
                             name=method, random_state=random_state)
    if method == "lda":
        return ThemePipeline(make_topic_model(n_themes, random_state), DominantTopic(n_themes), top_words="lda",
                             name=method, random_state=random_state)
    if method not in METHODS:
        raise PoetryLabError(f"Unknown theme method {method!r}: choose from {', '.join(METHODS)}.")
    if forward is None:
        forward, twin = default_models()
        backward = backward if backward is not None else twin
    emb = LMEmbeddings(forward, backward, random_state=random_state, **embedding_options)
    if method == "elmo":
        return ThemePipeline(make_pipeline(emb, StandardScaler()), kmeans, name=method, random_state=random_state)
    # lda_weight=1 gives both blocks the same total variance (2H standardised embedding columns vs n_themes topics);
    # LDA's near one-hot mixtures then decide alone (the themes equal LDA's on the Sonnets); at 0.25 the
    # embeddings decide; the default 0.5 lets LDA lead with the embeddings moving the borders.
    dims = forward.model.config.hidden + (backward or forward).model.config.hidden
    union = FeatureUnion([("topics", make_pipeline(make_topic_model(n_themes, random_state), StandardScaler())),
                          ("embeddings", make_pipeline(emb, StandardScaler()))],
                         transformer_weights={"topics": lda_weight * (dims / n_themes) ** 0.5, "embeddings": 1.0})
    return ThemePipeline(make_pipeline(union, FeatureAutoencoder(random_state=random_state)), kmeans, name=method,
                         random_state=random_state)


@dataclass
class Placement:
    """Where a new poem lands among the fitted themes."""

    poem: str
    first_line: str
    theme: int
    theme_words: list[str]
    mixture: list[float] | None  # LDA topic shares (topic words: pipeline.topic_words_), where LDA is part
    nearest: list[tuple[int, str, float]]  # (corpus poem index, its first line, distance), nearest first


class ThemePipeline(BaseEstimator):
    """representation -> clusterer -> top words and typical poems; see the module doc.

    `representation` is any transformer over a list of poem texts (a TfidfVectorizer, a Pipeline);
    `clusterer` has fit/predict and a distance-like transform (KMeans, DominantTopic). Both are fitted
    in place, as scikit-learn's Pipeline does. top_words: "ctfidf" (class-based TF-IDF over the
    themes) or "lda" (the topic model's word weights; themes are then its topics).
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
        X = self.representation.fit_transform(bodies)
        self.clusterer.fit(X)
        self.poems_, self.X_, self.labels_ = poems, X, np.asarray(self.clusterer.predict(X))
        self.sizes_ = np.bincount(self.labels_, minlength=self.n_themes)
        dist = np.asarray(self.clusterer.transform(X))  # (n, k), smaller is closer to the theme
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
        """PCA to (at most) 2D for the map; ARPACK centres a large sparse TF-IDF without making it dense."""
        arpack = sp.issparse(X) and X.shape[0] * X.shape[1] > 4_000_000
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
        topics = find_topic_model(self.representation)
        self.topic_words_ = None
        if topics is not None:
            self.topic_words_ = top_terms(topics[-1].components_, topics[0].get_feature_names_out(), self.n_top_words)
        drop = len(bodies) >= 10

        def ctfidf_words(labels):
            return top_terms(class_tfidf(counts, labels, self.n_themes, drop), vocab, self.n_top_words)

        use_lda = self.top_words == "lda" and topics is not None
        self.top_words_ = self.topic_words_ if use_lda else ctfidf_words(self.labels_)
        self.coherence_ = coherence([[w for w, _ in ws] for ws in self.top_words_], counts, vocab)
        # The level to beat: the same measure for random themes of the same sizes (10 shuffles).
        rng = check_random_state(self.random_state)
        shuffled = [ctfidf_words(rng.permutation(self.labels_)) for _ in range(10)]
        chance = [coherence([[w for w, _ in ws] for ws in words], counts, vocab)["npmi"] for words in shuffled]
        self.coherence_["npmi_chance"] = float(np.nanmean(chance)) if np.isfinite(chance).any() else float("nan")

    def transform(self, poems) -> np.ndarray:
        return self.representation.transform([poem_body(p) for p in poems])

    def predict(self, poems) -> np.ndarray:
        return np.asarray(self.clusterer.predict(self.transform(poems)))

    def scores(self) -> dict:
        c = self.coherence_
        return {"method": self.name, "silhouette": self.silhouette_, "coherence_npmi": c["npmi"],
                "coherence_npmi_chance": c["npmi_chance"], "coherence_umass": c["umass"], "sizes": self.sizes_.tolist(),
                "top_words": [[w for w, _ in ws] for ws in self.top_words_]}

    def summary(self) -> pd.DataFrame:
        """One row per theme: theme, size, top_words (text), typical (corpus indices), typical_lines."""
        return pd.DataFrame({
            "theme": range(self.n_themes),
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
        analyse = self.counter_.build_analyzer()
        if any(not analyse(poem_body(p)) for p in new_poems):
            raise PoetryLabError("A poem to place has no words to compare with the corpus.")
        X = self.transform(new_poems)
        themes = np.asarray(self.clusterer.predict(X))
        topics = find_topic_model(self.representation)
        mix = None if topics is None else topics.transform([poem_body(p) for p in new_poems])
        dist, idx = self.neighbours_.kneighbors(X)
        return [Placement(poem=p, first_line=first_line(p), theme=int(t), theme_words=[w for w, _ in self.top_words_[t]],
                          mixture=None if mix is None else [float(v) for v in mix[k]],
                          nearest=[(int(i), first_line(self.poems_[i]), float(d)) for i, d in zip(idx[k], dist[k])])
                for k, (p, t) in enumerate(zip(new_poems, themes))]

    def map_points(self, new_poems=(), new_labels=None) -> pd.DataFrame:
        """x, y, theme, theme_words, first_line, kind ("corpus" or "new"), label: for themes_figures.theme_map."""
        words = [", ".join(w for w, _ in ws[:4]) for ws in self.top_words_]
        rows = [{"x": float(x), "y": float(y), "theme": int(t), "theme_words": words[t], "first_line": first_line(p),
                 "kind": "corpus", "label": ""} for (x, y), t, p in zip(self.xy_, self.labels_, self.poems_)]
        new_poems = list(new_poems)
        if new_poems:
            X = self.transform(new_poems)
            xy, themes = self._xy(X), self.clusterer.predict(X)
            labels = list(new_labels) if new_labels is not None else [f"new {k + 1}" for k in range(len(new_poems))]
            rows += [{"x": float(x), "y": float(y), "theme": int(t), "theme_words": words[t], "first_line": first_line(p),
                      "kind": "new", "label": lab} for (x, y), t, p, lab in zip(xy, themes, new_poems, labels)]
        return pd.DataFrame(rows, columns=["x", "y", "theme", "theme_words", "first_line", "kind", "label"])


def find_topic_model(step) -> Pipeline | None:
    """The fitted counts -> LDA pipeline inside a representation, if there is one."""
    if isinstance(step, Pipeline):
        if isinstance(step.steps[-1][1], LatentDirichletAllocation):
            return step
        parts = [s for _, s in step.steps]
    elif isinstance(step, FeatureUnion):
        parts = [t for _, t in step.transformer_list]
    else:
        return None
    return next((found for found in map(find_topic_model, parts) if found is not None), None)


def suggest_k(X, k_range=range(2, 11), random_state=0) -> int:
    """The number of K-means clusters with the best silhouette score over k_range (ties: fewer)."""
    n = X.shape[0]
    ks = [k for k in k_range if 2 <= k < n]
    if not ks:
        raise PoetryLabError(f"There are too few poems ({n}) to compare numbers of themes: give at least 3.")
    scores = [silhouette_score(X, KMeans(k, n_init=10, random_state=random_state).fit_predict(X)) for k in ks]
    return ks[int(np.argmax(scores))]


def compare_methods(poems, n_themes: int = 5, forward=None, backward=None, random_state=0, methods=tuple(METHODS),
                    **options) -> tuple[pd.DataFrame, dict[str, ThemePipeline]]:
    """Fit each method on the same poems: the comparison table and the fitted pipelines.

    Table columns: method, description, silhouette, coherence_npmi, coherence_npmi_chance (the same
    measure for random themes of the same sizes), coherence_umass, sizes, largest_share, seconds.
    The embedding methods share one backward model and one set of vectors (cached per process).
    """
    poems = check_poems(poems, n_themes)
    fitted, rows = {}, []
    for method in methods:
        start = time.perf_counter()
        pipe = make_theme_pipeline(method, n_themes, random_state, forward, backward, **options).fit(poems)
        fitted[method] = pipe
        s = {key: v for key, v in pipe.scores().items() if key not in ("method", "top_words")}
        rows.append({"method": method, "description": METHODS[method], **s, "largest_share": max(s["sizes"]) / len(poems),
                     "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows), fitted
