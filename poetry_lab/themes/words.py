"""Words in poems, for the theme methods: tokenising, input checks, LDA topics, class-based TF-IDF, coherence.

    poem_body(poem), first_line(poem)       the poem without its heading; a label for hovers
    word_counter(**kw), has_words(poem)     counts of content words (English and archaic stop words left out)
    check_poems(poems, n_themes)            the poems as a list, or a PoetryLabError saying what to change
    make_topic_model(k), DominantTopic(k)   word counts -> LDA topic mixtures; a poem's theme is its main topic
    find_topic_model(step)                  the fitted counts -> LDA pipeline inside a representation
    class_tfidf(counts, labels, k)          BERTopic's c-TF-IDF: (k, V) word weights per theme
    top_terms(weights, vocab, n)            the heaviest words of each row
    ctfidf_words(counts, vocab, labels, k, n)  each theme's n top words by c-TF-IDF
    coherence(top_words, counts, vocab)     NPMI and UMass from document co-occurrence in the corpus itself
    chance_npmi(counts, vocab, labels, k, n)   the NPMI to beat: random themes of the same sizes

Pure functions over texts and scikit-learn count matrices; poetry_lab.themes.methods builds on them.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from poetry_lab.data.text import is_heading
from poetry_lab.errors import PoetryLabError

# Early modern function words that English stop lists miss; they would top every theme otherwise.
ARCHAIC = ("thou thee thy thine thyself ye hath doth dost hast art shalt shall wilt canst didst wert tis twas ere oft oh ah "
           "nay yea ne thus unto").split()
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | set(ARCHAIC))
# Words of two letters or more, but not the tail of an elision: "feed'st", "o'er", "I'll" give no "st", "er", "ll".
TOKEN = r"(?u)(?<![^\W\d_]['’])\b[^\W\d_]{2,}\b"


def poem_body(poem: str) -> str:
    """The poem without a heading line (a Roman numeral, a number or a title in capitals)."""
    lines = poem.strip("\n").split("\n")
    if len(lines) > 1 and is_heading(lines[0]):
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


def has_words(poem: str) -> bool:
    """Whether the poem's body has a content word (the theme methods can place it)."""
    return bool(word_counter().build_analyzer()(poem_body(poem)))


def usable_poems(poems: list[str]) -> tuple[list[str], str | None]:
    """The poems that have words to find themes in, and a note on those left out (None if none were).

    A page number, a row of asterisks or a block of very common words alone cannot join a theme: such
    blocks are skipped, not a reason to refuse the whole corpus.
    """
    kept, left_out = [], []
    for p in poems:
        (kept if has_words(p) else left_out).append(p)
    if not left_out:
        return kept, None
    shown = ", ".join(repr(first_line(p)[:30]) for p in left_out)
    return kept, (f"Skipped {len(left_out)} block{'s' if len(left_out) > 1 else ''} without words to find themes in "
                  f"(only numbers, punctuation or very common words): {shown[:160]}.")


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


def ctfidf_words(counts, vocab, labels: np.ndarray, k: int, n: int, drop_hapax: bool = False) -> list[list[tuple[str, float]]]:
    """Each theme's n top words (with weights) by class-based TF-IDF."""
    return top_terms(class_tfidf(counts, labels, k, drop_hapax), vocab, n)


def chance_npmi(counts, vocab, labels: np.ndarray, k: int, n: int, drop_hapax: bool = False, random_state=0,
                shuffles: int = 10) -> float:
    """The level to beat: the mean NPMI of the c-TF-IDF top words of random themes of the same sizes."""
    rng = check_random_state(random_state)
    chance = [coherence([[w for w, _ in ws] for ws in ctfidf_words(counts, vocab, rng.permutation(labels), k, n, drop_hapax)],
                        counts, vocab)["npmi"] for _ in range(shuffles)]
    return float(np.nanmean(chance)) if np.isfinite(chance).any() else float("nan")
