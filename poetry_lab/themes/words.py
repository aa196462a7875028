"""Words in poems, for the theme methods: tokenising, input checks, LDA topics, class-based TF-IDF, coherence.

    poem_body(poem), first_line(poem)       the poem without its heading; a label for hovers
    word_counter(**kw), has_words(poem)     counts of content words (English and archaic stop words left out,
                                            word forms joined: WordCounter)
    check_poems(poems, n_themes)            the poems as a list, or a PoetryLabError saying what to change
    make_topic_model(k), DominantTopic(k)   word counts -> LDA topic mixtures; a poem's theme is its main topic
    find_topic_model(step)                  the fitted counts -> LDA pipeline inside a representation
    class_tfidf(counts, labels, k)          BERTopic's c-TF-IDF: (k, V) word weights per theme
    common_share(k)                         above this share of poems a word is too common to name a theme
    top_terms(weights, vocab, n)            the heaviest words of each row
    sense_terms(weights, vocab, n, vectors) each theme's heaviest words chosen by sense in a word space (BERTopic's
                                            KeyBERTInspired, grown into one group; vectors: encoder.word_vectors)
    theme_terms(weights, vocab, n, vectors) the one rule for a theme's top words: sense_terms, or top_terms without vectors
    own_terms(weights, vocab, n)            each theme's heaviest words among those most its own (no word in two themes)
    theme_labels(weights, vocab, top_words) a short label per theme: its three first words of its own
    surface_words(text), lemma_map(words)   content words with elisions spelt out; inflections -> base forms
    language_note(poems)                    a plain note when the poems do not look English (the lists are English-only)
    ctfidf_words(counts, vocab, labels, k, n, vectors)  each theme's n top words by c-TF-IDF (theme_terms)
    coherence(top_words, counts, vocab)     NPMI and UMass from document co-occurrence in the corpus itself
    chance_npmi(counts, vocab, labels, k, n)   the NPMI to beat: random themes of the same sizes

Pure functions over texts and scikit-learn count matrices; poetry_lab.themes.methods builds on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from poetry_lab.data.text import WORD, is_heading, without_speakers
from poetry_lab.errors import PoetryLabError

# Early modern function words that English stop lists miss; they would top every theme otherwise.
ARCHAIC = ("thou thee thy thine thyself ye hath doth dost hast art shalt shall wilt canst didst wert wast tis twas ere oft "
           "oh ah nay yea ne thus unto o'er e'er ne'er e'en th gainst mongst twixt betwixt whilst wherefore hither thither "
           "yon yonder thro tho wouldst couldst shouldst mayst mightst hadst doeth doest saith quoth lo alas aye ay "
           "let did does make makes say says said come comes came goes went like upon whose").split()
# Function words in older spellings (Milton's thir, som, els; Middle English and Scots) that c-TF-IDF would take for a
# theme's own words, since one poet or one book spells them so.
OLD_SPELLINGS = ("thir hir som els com goe hee shee mee wher ther thare whan eek noght nat "
                 "eny bot nae na wha sae frae tae wi ain awa gae ane canna dinna winna didna").split()
ROMAN = re.compile(r"(?:x{0,3})(?:ix|iv|v?i{0,3})")  # section numbers (ii, xiv) read as words
# Words scikit-learn's list drops that are content words in poems.
POETIC = {"fire", "cry", "thick", "thin", "empty", "full", "name", "bottom"}
STOP_WORDS = sorted((ENGLISH_STOP_WORDS - POETIC) | set(ARCHAIC) | set(OLD_SPELLINGS))
_STOP = frozenset(STOP_WORDS)
# Words of two letters or more, but not the tail of an elision: "feed'st", "o'er", "I'll" give no "st", "er", "ll".
TOKEN = r"(?u)(?<![^\W\d_]['’])\b[^\W\d_]{2,}\b"


def poem_body(poem: str) -> str:
    """The poem without a heading line (a Roman numeral, a number or a title in capitals) and without
    speakers' names at line starts (a play in verse: "Sam: ...")."""
    lines = without_speakers(poem.strip("\n")).split("\n")
    if len(lines) > 1 and is_heading(lines[0]):
        return "\n".join(lines[1:])
    return "\n".join(lines)


def first_line(poem: str) -> str:
    """The poem's heading (if any) and first line of verse, for labels and hovers."""
    lines = [ln.strip() for ln in poem.split("\n") if ln.strip()]
    body = [ln.strip() for ln in poem_body(poem).split("\n") if ln.strip()]
    head = f"{lines[0]}. " if lines and body and lines[0] != body[0] else ""
    return head + (body[0] if body else "")


def _elided(token: str) -> str | None:
    """A lower-case token with its elision spelt out: lov'd -> loved, feed'st -> feedest, heav'n -> heaven,
    beauty's -> beauty; None for a contraction of function words (don't, I'll, th')."""
    token = token.strip("'")
    if "'" not in token:
        return token
    if token.endswith(("'t", "'ll", "'re", "'ve", "'m")):
        return None
    if token.endswith("'s"):
        token = token[:-2]
    elif token.endswith("'st"):
        token = token[:-3] + "est"
    elif token.endswith("'d"):
        token = token[:-2] + "ed"
    return token.replace("'", "e")  # wat'ry, pow'r, ev'ry: the poet dropped an e


def surface_words(text: str) -> list[str]:
    """The content words of a text as written (lower case, elisions spelt out), stop words left out."""
    words = (_elided(t) for t in WORD.findall(text.lower().replace("’", "'")) if t.strip("'") not in _STOP)
    return [w for w in words if w is not None and len(w) >= 2 and w not in _STOP and not ROMAN.fullmatch(w)]


def _candidates(w: str) -> list[str]:
    """Base forms to try for an inflected word, most likely first (plural, past, -ing, archaic -eth and -est)."""
    n, out = len(w), []
    doubled = lambda cut: [w[:-cut - 1]] if n > cut + 2 and w[-cut - 1] == w[-cut - 2] else []  # noqa: E731 (stopped)
    if w.endswith("ies") and n >= 5:
        out.append(w[:-3] + "y")
    if w.endswith("es") and n >= 4:
        out.append(w[:-2])
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and n >= 4:
        out.append(w[:-1])
    if w.endswith("ied") and n >= 5:
        out.append(w[:-3] + "y")
    if w.endswith("ed") and n >= 5:
        out += [w[:-2], w[:-1], *doubled(2)]
    for suffix in ("ing", "eth", "est"):
        if w.endswith(suffix) and n >= 6:
            out += ([w[:-4] + "y"] if suffix == "est" and w[-4] == "i" else []) + [w[:-3], w[:-3] + "e", *doubled(3)]
    return out


def lemma_map(words) -> dict[str, str]:
    """Each inflected word -> its base form, where that base form is itself a word of the corpus
    (loves, loved, loving, loveth, lovest -> love; eyes -> eye; but forest stays forest, since "for"
    is not a content word). Consistent within a corpus; nothing to download."""
    vocab = set(words)
    lemmas = {w: next((c for c in _candidates(w) if c in vocab), w) for w in vocab}
    return {w: lemmas[lemmas[b]] if (b := lemmas[w]) != w else w for w in vocab if lemmas[w] != w}


class WordCounter(CountVectorizer):
    """Counts of content words, each joined to its base form (lemma_map, learnt in fit from the texts)."""

    def build_analyzer(self):
        lemmas = getattr(self, "lemmas_", {})
        return lambda text: [lemmas.get(w, w) for w in surface_words(text)]

    def fit_transform(self, raw_documents, y=None):
        self.lemmas_ = lemma_map(w for text in raw_documents for w in surface_words(text))
        return super().fit_transform(raw_documents, y)

    def fit(self, raw_documents, y=None):
        self.fit_transform(raw_documents)
        return self


def word_counter(**kw) -> WordCounter:
    return WordCounter(**kw)


# The commonest English words (function words): poems with few of them are likely in another language.
_ENGLISH = frozenset("the and of to a in is that with my thy thou i you it not but for be his her as all so me "
                     "he she they we this what when no nor or from by on at are was were thee".split())
ENGLISH_SHARE = 0.12  # below this share of those words, a text is in another language (English verse: 0.25-0.4)


def english_share(text: str, min_words: int = 20) -> float | None:
    """The share of the text's words that are among the commonest English words; None under min_words words."""
    words = WORD.findall(text.lower().replace("’", "'"))
    return sum(w in _ENGLISH for w in words) / len(words) if len(words) >= min_words else None


def language_note(poems: list[str]) -> str | None:
    """A plain note when the poems look non-English (few of the commonest English words); else None."""
    share = english_share("\n".join(poems))
    if share is None or share >= ENGLISH_SHARE:
        return None
    return ("These poems do not look English: the word lists (common words left out, word forms joined) are "
            "English-only, so the themes' words may include common words of the poems' language.")


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


def common_share(k: int) -> float:
    """The share of poems above which a word is too common to name one of k themes: more poems than
    one and a half themes hold on average (at least a quarter). Such words ("love" in the Sonnets)
    top every theme's list by frequency alone."""
    return max(0.25, 1.5 / k)


def class_tfidf(counts, labels: np.ndarray, k: int, drop_hapax: bool = False, max_share: float = 1.0) -> np.ndarray:
    """BERTopic's c-TF-IDF: each theme's word frequencies (L1-normalised) x log(1 + A / f_w), with A
    the mean number of words per theme and f_w the word's frequency over all themes. (k, V).
    drop_hapax: words of one poem weigh 0; max_share: so do words in more than that share of the poems."""
    tf = np.vstack([np.asarray(counts[labels == t].sum(axis=0)).ravel() for t in range(k)])
    f = tf.sum(axis=0)
    weights = normalize(tf, norm="l1") * np.log(1.0 + tf.sum(axis=1).mean() / np.maximum(f, 1))
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    if drop_hapax:  # a word from one poem only says little about a theme (and inflates coherence)
        weights[:, df < 2] = 0.0
    weights[:, df > max_share * counts.shape[0]] = 0.0
    return weights


def top_terms(weights: np.ndarray, vocab, n: int) -> list[list[tuple[str, float]]]:
    """The n heaviest words (with weight > 0) of each row, heaviest first."""
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return [[(str(vocab[j]), float(row[j])) for j in np.argsort(-row, kind="stable")[:n] if row[j] > 0] for row in weights]


# Words by sense (BERTopic's KeyBERTInspired, over words), then grown into one group: the blind word-intrusion test
# (benchmarks/bench_intrusion.py, README "Words that go together") chose these. On the same TF-IDF themes (24 a corpus)
# re-ranking alone let readers find 0.67 / 0.60 / 0.35 of the intruders (Sonnets / Milton / Gutenberg excerpts), the
# group 0.81 / 0.94 / 0.92; in two more passes of the group alone 0.83 / 0.83 / 0.75 and 1.00 / 0.88 / 0.88.
CANDIDATES = 50  # a theme's heaviest c-TF-IDF words it may show
CORE = 10  # the theme's sense: the mean of the candidates nearest its c-TF-IDF-weighted mean (names, odd spellings fall out)
DISTINCT = 0.5  # a candidate loses this much of its closeness to the nearest other theme's sense (themes stay apart)
LEAD = 10  # the group's first word is one of the theme's LEAD words closest to its sense: the one with the closest neighbours
NEIGHBOURS = 4  # ... its NEIGHBOURS nearest fellow candidates
SENSE = 0.5  # a word joins the group by its mean closeness to the group's words plus SENSE x its closeness to the sense
APART = 5  # no word is among the first APART words of two themes (the first theme to reach it keeps it), while a theme
# has words of its own left: one with too few shares them, rather than show fewer

WordVectors = Callable[[list[str]], np.ndarray]  # words -> (m, d) unit vectors, one row per word


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _group(S: np.ndarray, own: np.ndarray, other: np.ndarray, n: int, distinct: float, free: int) -> tuple[list[int], list[float]]:
    """Candidates (rows of S, their cosines; in sense order, the first `free` not taken by another theme) grown into a
    group of n: the first of the LEAD best free ones whose NEIGHBOURS nearest are closest (less distinct x other), then
    each time the word closest to the group on average plus SENSE x own, less distinct x other; the taken words only
    once no free one is left. The indices, and each word's mean cosine to the group's other words (never rising down the
    list: a weight to draw)."""
    m, k = len(S), free or len(S)  # the lead and its neighbours are free words where there are any
    near = np.sort(np.where(np.eye(k, dtype=bool), -np.inf, S[:k, :k]), axis=1)[:, ::-1][:, :min(NEIGHBOURS, k - 1)]
    lead = near.mean(axis=1) if k > 1 else np.zeros(k)
    chosen = [int(np.argmax((lead - distinct * other[:k])[:LEAD]))]
    rest = [i for i in range(m) if i != chosen[0]]
    while rest and len(chosen) < n:
        pool = [i for i in rest if i < free] or rest
        fit = S[np.ix_(pool, chosen)].mean(axis=1) + SENSE * own[pool] - distinct * other[pool]
        chosen.append(pool[int(np.argmax(fit))])
        rest.remove(chosen[-1])
    G = S[np.ix_(chosen, chosen)]
    close = (G.sum(axis=1) - np.diag(G)) / max(len(chosen) - 1, 1)
    return chosen, np.minimum.accumulate(close).tolist()


def sense_terms(weights: np.ndarray, vocab, n: int, vectors: WordVectors, candidates: int = CANDIDATES,
                core: int = CORE, distinct: float = DISTINCT, group: bool = True) -> list[list[tuple[str, float]]]:
    """Each theme's n words among its `candidates` heaviest by c-TF-IDF, chosen by sense.

    A theme's sense is the mean word vector of its candidates weighted by c-TF-IDF, moved once to the mean of the
    `core` candidates nearest it; a candidate scores its cosine to its theme's sense less `distinct` times its
    cosine to the nearest other theme's. group False: the n best by that score (the weight given). group True (the
    rule): those candidates grown into one group of words that go together (_group), theme after theme, the first
    APART words of the themes before only once the theme has no other left; the weight given is the word's closeness
    to its group (_group)."""
    cands = [[j for j in np.argsort(-row, kind="stable")[:candidates] if row[j] > 0] for row in weights]
    words = sorted({str(vocab[j]) for c in cands for j in c})
    if not words:
        return [[] for _ in cands]
    index, V = {w: i for i, w in enumerate(words)}, _unit(np.asarray(vectors(words), dtype=np.float64))  # (m, d)
    rows = [V[[index[str(vocab[j])] for j in c]] for c in cands]  # (c_t, d) per theme
    centres = np.zeros((len(cands), V.shape[1]))  # (k, d); a theme without candidates has none
    for t, (c, M) in enumerate(zip(cands, rows)):
        if c:
            first = _unit(weights[t, c] @ M)
            centres[t] = _unit(M[np.argsort(-(M @ first), kind="stable")[:core]].mean(axis=0))
    out, taken = [], set()
    for t, (c, M) in enumerate(zip(cands, rows)):
        sims = M @ centres.T  # (c_t, k)
        other = np.delete(sims, t, axis=1).max(axis=1) if len(cands) > 1 else np.zeros(len(c))
        score = sims[:, t] - distinct * other
        order = [int(i) for i in np.argsort(-score, kind="stable")]
        if not group or not order:
            out.append([(str(vocab[c[i]]), float(score[i])) for i in order[:n]])
            continue
        free = [i for i in order if str(vocab[c[i]]) not in taken]
        order = free + [i for i in order if str(vocab[c[i]]) in taken]  # a theme with too few words of its own shares
        picked, scores = _group(M[order] @ M[order].T, sims[order, t], other[order], n, distinct, len(free))
        out.append([(str(vocab[c[order[i]]]), x) for i, x in zip(picked, scores)])
        taken.update(w for w, _ in out[-1][:APART])
    return out


def theme_terms(weights: np.ndarray, vocab, n: int, vectors: WordVectors | None = None) -> list[list[tuple[str, float]]]:
    """The one rule for a theme's top words, for every method and for the chance level: by sense
    (sense_terms) where there are word vectors, else its heaviest by c-TF-IDF (top_terms)."""
    return top_terms(weights, vocab, n) if vectors is None else sense_terms(weights, vocab, n, vectors)


def own_terms(weights: np.ndarray, vocab, n: int, fill: bool = True) -> list[list[tuple[str, float]]]:
    """Each theme's n words, heaviest first, among the words that weigh most in this theme of all (so
    "love", heavy everywhere, is a word of the one theme it is most typical of, and no two themes share
    a word); fill: a theme with fewer than n words of its own is filled up with its heaviest others."""
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    own = weights >= weights.max(axis=0, keepdims=True)  # (k, V): the word's own theme (ties: each)
    out = []
    for row, mine in zip(weights, own):
        order = [j for j in np.argsort(-row, kind="stable") if row[j] > 0]
        picked = [j for j in order if mine[j]][:n]
        picked += [j for j in order if not mine[j]][: n - len(picked)] if fill else []
        out.append([(str(vocab[j]), float(row[j])) for j in picked])
    return out


def theme_labels(weights: np.ndarray, vocab, n: int = 3, top_words: list[list[tuple[str, float]]] | None = None) -> list[str]:
    """A short label per theme: its n first words of its own (those it weighs most of all themes, as own_terms
    takes them: no word in two labels; fewer if it has fewer), or its n first words where it has fewer than two of
    its own. First in the order of top_words (each theme's words as shown), then by c-TF-IDF weight."""
    heaviest, own = top_terms(weights, vocab, n), own_terms(weights, vocab, n, fill=False)
    if top_words is not None:
        index = {str(w): j for j, w in enumerate(vocab)}
        best = weights.argmax(axis=0)  # (V,): the theme each word weighs most in
        shown = [[w for w, _ in ws if best[index[w]] == t] for t, ws in enumerate(top_words)]
        own = [[(w, 0.0) for w in dict.fromkeys(first + [w for w, _ in rest])][:n] for first, rest in zip(shown, own)]
        heaviest = [ws[:n] for ws in top_words]
    return [", ".join(w for w, _ in (mine if len(mine) >= 2 else top)) for mine, top in zip(own, heaviest)]


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


def ctfidf_words(counts, vocab, labels: np.ndarray, k: int, n: int, drop_hapax: bool = False,
                 max_share: float = 1.0, vectors: WordVectors | None = None) -> list[list[tuple[str, float]]]:
    """Each theme's n top words (with weights) by class-based TF-IDF, chosen by theme_terms."""
    return theme_terms(class_tfidf(counts, labels, k, drop_hapax, max_share), vocab, n, vectors)


def chance_npmi(counts, vocab, labels: np.ndarray, k: int, n: int, drop_hapax: bool = False, random_state=0,
                shuffles: int = 10, max_share: float = 1.0, vectors: WordVectors | None = None) -> float:
    """The level to beat: the mean NPMI of the top words of random themes of the same sizes
    (chosen by the same rules as the themes' own words: ctfidf_words with the same vectors)."""
    rng = check_random_state(random_state)
    chance = [coherence([[w for w, _ in ws] for ws in ctfidf_words(counts, vocab, rng.permutation(labels), k, n, drop_hapax,
                                                                    max_share, vectors)], counts, vocab)["npmi"]
              for _ in range(shuffles)]
    return float(np.nanmean(chance)) if np.isfinite(chance).any() else float("nan")
