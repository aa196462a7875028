"""Text metrics for comparing generated poems with the training corpus: copying, diversity, repetition.

All functions are pure but corpus_copy_index, which reads a corpus. Words are lowercased runs of letters, with inner apostrophes kept
("heart's", "o’er"), so digits, underscores and punctuation never count as words.
"""

from __future__ import annotations

from poetry_lab.data.catalog import find_entry
from poetry_lab.data.corpus import load_corpus
from poetry_lab.data.text import words

INDEX_N = 4  # the n-gram length CorpusIndex builds up front (the copied-4-gram share)
# A longer training text is not indexed for the copy checks (app and command line alike): the base's
# 121 M characters would hold gigabytes of 4-grams in a web server's memory and take minutes to build.
COPY_CHECK_MAX_CHARS = 5_000_000


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of `tokens`, in order, duplicates kept; [] when there are fewer than n."""
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    return list(zip(*(tokens[i:] for i in range(n))))


class CorpusIndex:
    """A training text prepared for copy checks: the raw text (verbatim search) and its word n-grams.

    Built once per corpus and then only read, so one index can be shared between sessions. The
    4-gram set is built eagerly (about 0.1 s per MB); other n are built on first use and cached.
    """

    def __init__(self, text: str):
        self.text = text
        self._ngrams: dict[int, frozenset[tuple[str, ...]]] = {}
        self._words = words(text)
        self.ngram_set(INDEX_N)

    def ngram_set(self, n: int = INDEX_N) -> frozenset[tuple[str, ...]]:
        """The set of word n-grams of the corpus."""
        found = self._ngrams.get(n)
        if found is None:
            # Racing threads may both build it; the results are equal, so the last write is harmless.
            found = self._ngrams[n] = frozenset(ngrams(self._words, n))
        return found

    def __repr__(self) -> str:
        return f"CorpusIndex({len(self.text):,} chars, {len(self._words):,} words)"


def copy_index(text: str) -> CorpusIndex | None:
    """The copy index of a training text; None (copying is not measured) above COPY_CHECK_MAX_CHARS."""
    return CorpusIndex(text) if len(text) <= COPY_CHECK_MAX_CHARS else None


def corpus_copy_index(source: str) -> CorpusIndex | None:
    """copy_index of a corpus file or bundled corpus name (read by data.corpus.load_corpus). A bundled
    corpus's size is taken from the catalog first, so one over the limit is never read. Raises
    PoetryLabError when the corpus cannot be read."""
    entry = find_entry(source)
    if entry is not None and entry.chars > COPY_CHECK_MAX_CHARS:
        return None
    return copy_index(load_corpus([source]).text)


def _corpus_text(index: CorpusIndex | str) -> str:
    return index.text if isinstance(index, CorpusIndex) else index


def copy_end(generated: str, start: int, corpus: str, min_chars: int = 1) -> int:
    """Where the longest passage of `generated` that starts at `start` and occurs verbatim in `corpus`
    ends, if it is at least `min_chars` long; else `start`. The one copy search: every prefix of a
    match is a match, so the window only grows."""
    end = start + min_chars
    if end > len(generated) or generated[start:end] not in corpus:
        return start
    while end < len(generated) and generated[start:end + 1] in corpus:
        end += 1
    return end


def longest_copy_span(generated: str, index: CorpusIndex | str) -> tuple[int, int]:
    """(start, length) of the longest substring of `generated` that occurs verbatim in the corpus.

    Character level and case sensitive, whitespace included. Ties go to the earliest start;
    (0, 0) when nothing matches. At each start only a window longer than the best so far is worth
    testing, so the search makes O(len(generated) + length) substring tests.
    """
    corpus = _corpus_text(index)
    best_start, best_len = 0, 0
    i = 0
    while i + best_len < len(generated):
        end = copy_end(generated, i, corpus, best_len + 1)
        if end > i:
            best_start, best_len = i, end - i
        i += 1
    return best_start, best_len


def longest_copy(generated: str, index: CorpusIndex | str) -> str:
    """The longest passage of `generated` found verbatim in the corpus, stripped of outer whitespace.

    The search runs on the raw characters (see longest_copy_span); only the returned text is
    stripped, for display. Every match is returned, even a single letter: callers judge whether
    it is long enough to count as copying (a few characters are shared by any two English texts).
    """
    start, length = longest_copy_span(generated, index)
    return generated[start:start + length].strip()


def copied_ngram_share(generated: str, index: CorpusIndex, n: int = INDEX_N) -> float | None:
    """Share of the word n-grams of `generated` (counted with repeats) that occur in the corpus.

    0.0 means no n-word phrase was copied, 1.0 that every one was. None when `generated` has
    fewer than n words, so there is nothing to measure.
    """
    grams = ngrams(words(generated), n)
    if not grams:
        return None
    seen = index.ngram_set(n)
    return sum(g in seen for g in grams) / len(grams)


def distinct_n(text: str, n: int = 2) -> float:
    """Distinct word n-grams / all word n-grams of `text` (1.0: no phrase repeats); 0.0 if there are none."""
    grams = ngrams(words(text), n)
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_lines(text: str) -> int:
    """How many non-blank lines repeat an earlier line of `text` (ignoring case and outer spaces).

    A line said three times counts 2: every repeat after the first occurrence counts once.
    """
    seen: set[str] = set()
    repeats = 0
    for line in text.splitlines():
        key = line.strip().lower()
        if not key:
            continue
        repeats += key in seen
        seen.add(key)
    return repeats


def sample_metrics(generated: str, index: CorpusIndex | None) -> dict:
    """The metrics shown beside one generated sample, as a flat JSON-ready dict.

    Keys: copied_4gram_share (float rounded to 4, or None), longest_copy (str), longest_copy_chars
    (int, the raw length including any whitespace stripped from longest_copy), distinct_2 (float
    rounded to 4), repeated_lines (int). Without an index (the training text is unknown) the copy
    keys are None, "" and 0.
    """
    if index is None:
        share, copy, copy_chars = None, "", 0
    else:
        share = copied_ngram_share(generated, index, INDEX_N)
        start, copy_chars = longest_copy_span(generated, index)
        copy = generated[start:start + copy_chars].strip()
    return {
        "copied_4gram_share": None if share is None else round(share, 4),
        "longest_copy": copy,
        "longest_copy_chars": copy_chars,
        "distinct_2": round(distinct_n(generated, 2), 4),
        "repeated_lines": repeated_lines(generated),
    }
