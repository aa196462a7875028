"""A poem's subject ("the sea at night") as words the word writer is nudged towards (issue #22).

The subject's content words (function words dropped) are looked up among the writer's own output
vectors (WordLSTM.word_vectors: the direction of the features that make it predict a word); the known
words nearest their mean, by cosine, are the related words, each weighted by its similarity (the
subject's own words 1.0). The decoder adds strength * weight to a related word's log-probability when
it samples (the line's likelihood is still the model's own), until the line holds one, and a candidate
line gains a little in the ranking for the heaviest related word it holds; a related word the poem already
holds keeps REUSE of its pull.

Measured blind (benchmarks/bench_readability, about=@named: 24 sonnet quatrains on 24 named subjects
beside the same writer without one, two readers a pass, 2026-12-02): strength 2 with the first line
of each rhyme group ending on a related word (Hafez's way) cost 0.40 and 0.35 in readability (2.17 and
2.23 against 2.56 and 2.58); without the rhyme ends 0.27; without them at strength 1, 0.06, but readers
then named only 0.33 of the named subjects (chance 0.25) and 0.63 of the themes. Ranking a line by its
heaviest related word (not their sum, which favours lists: "the sun, the dew, the vine, the song") at
strength 3 without rhyme ends cost 0.02 (2.44 against 2.46), and readers named 0.90 of the named
subjects and 1.00 of the themes; rhyme ends at each stanza's first line (strength 2) cost 0.10 for
0.88 / 0.94, at the poem's first line only 0.15 for 0.90 / 0.92.

Why the output side: the input embeddings put words of one shape together ("sea": wood, storm, west,
larch, gas, grape), the output vectors words said in the same places ("sea": sky, flood, seas, bay,
tide, shore, wave, main, foam, ocean); a prompt-shift measure (the writer's next-word distribution after
"o sea!" against a neutral line) is ruled by syntax ("whence", "whither", "which").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poetry_lab.analysis.pronounce import FUNCTION_WORDS
from poetry_lab.data.text import words
from poetry_lab.errors import PoetryLabError

MAX_SUBJECT_CHARS = 100  # "a word or a short phrase": longer is a prompt, not a subject (and blurs the mean)
RELATED = 40  # neighbours kept beside the subject's own words
# The bias, strength * weight, added to a related word's log-probability. 10 sonnets (5 subjects x 2 seeds, with rhyme ends then):
# strength -, 1, 2, 3, 4 -> bits per character 1.05, 1.13, 1.13, 1.15, 1.21; lines holding a related word
# 0.21, 0.84, 0.94, 0.98, 1.00; related words a line 0.31, 1.27, 1.72, 2.06, 2.53 (past 2: lists of them).
# Blind (above): strength 3 with the heaviest-word ranking costs 0.02 in readability; subjects named 0.90-1.00.
# The rhymed writer (2026-12-03) follows a subject less at 3 (lines holding a related word 9.4 of 14 against
# 10.9, seeds 1-18 on "the sea"; one sonnet 2): blind readers named 0.79, 0.86 and 0.88 of its subjects at 3, 1.00
# and 0.86 at 4; readability with a subject 2.40 at 4 against 2.46 at 3 (2.68 without one), in one pass (README).
STRENGTH = 4.0
FAVOURED_PER_LINE = 1  # the bias stops once a line holds this many related words: past it lines turn to lists ("the sky, the sea, the sun")
REUSE = 0.0  # how much of its pull (bias and ranking) a related word keeps once the poem holds it: the pull moves on to the others
MAX_STRENGTH = 8.0  # past this the subject's words crowd out the voice
RANK_WEIGHT = 0.1  # a candidate's ranking gains RANK_WEIGHT * strength * the weight of its heaviest related word
THEME_WORDS = 5  # a theme of the poet's poems as a subject: its top words, as many as the word-intrusion readers see


def subject_words(about: str) -> list[str]:
    """The content words of a subject, each once, in order; a PoetryLabError for a subject too long or
    without one ("" has none and asks for no subject: [])."""
    about = " ".join(about.split())
    if len(about) > MAX_SUBJECT_CHARS:
        raise PoetryLabError(f"A subject is a word or a short phrase: keep it under {MAX_SUBJECT_CHARS} characters.")
    found = list(dict.fromkeys(w for w in words(about.replace("’", "'")) if w not in FUNCTION_WORDS))
    if about and not found:
        raise PoetryLabError(f"The subject '{about}' has no word to write about: name a thing, as in 'the sea at night'.")
    return found


def theme_subject(theme_words) -> str:
    """A theme of the poet's own poems as a subject: its first THEME_WORDS top words that are not function
    words, with commas ("fire, mistress, black, cure, fair"), as short as a subject must be; a
    PoetryLabError for a theme without such a word."""
    chosen: list[str] = []
    for w in theme_words:
        if w in FUNCTION_WORDS or w in chosen or not words(w):
            continue
        if len(", ".join([*chosen, w])) > MAX_SUBJECT_CHARS or len(chosen) == THEME_WORDS:
            break
        chosen.append(w)
    if not chosen:
        raise PoetryLabError("This theme has no word to write about: choose another theme.")
    return ", ".join(chosen)


@dataclass(frozen=True)
class Subject:
    """A subject as the writer reads it: its own words and the related words, each with its weight."""

    about: str
    words: tuple[str, ...]  # the subject's content words the writer knows
    related: dict[str, float]  # word -> weight (cosine similarity to the subject; its own words 1.0), heaviest first

    def held(self, line_words, used: frozenset[str] = frozenset(), reuse: float = REUSE) -> float:
        """The weight of the heaviest related word a line holds (0.0 for none), one the poem already holds (`used`)
        counting `reuse` of its own: one word of the subject a line, as the bias favours, so a list of them gains nothing."""
        return max((self.related.get(w, 0.0) * (reuse if w in used else 1.0) for w in line_words), default=0.0)

    def used(self, texts) -> frozenset[str]:
        """The related words these lines hold."""
        return frozenset(w for t in texts for w in words(t.replace("’", "'")) if w in self.related)


class Neighbours:
    """Related words over one writer's vocabulary: its output vectors, normalised once."""

    def __init__(self, vectors: np.ndarray, tokens: list[str], allowed: np.ndarray):
        """vectors (V, emb); tokens the vocabulary; allowed (V,) bool: the words that may be related (known, not function words)."""
        self.unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        self.tokens, self.allowed = tokens, allowed
        self.stoi = {w: i for i, w in enumerate(tokens)}

    def subject(self, about: str, size: int = RELATED) -> Subject:
        """The subject `about` with its `size` nearest allowed words; a PoetryLabError if the writer knows none of its words."""
        own = [w for w in subject_words(about) if w in self.stoi]
        if not own:
            raise PoetryLabError(f"The writer knows none of the words of '{' '.join(about.split())}': "
                                 "name the subject in commoner words.")
        ids = [self.stoi[w] for w in own]
        centre = self.unit[ids].mean(0)
        sim = self.unit @ (centre / max(float(np.linalg.norm(centre)), 1e-9))  # (V,)
        sim[~self.allowed] = -np.inf
        sim[ids] = -np.inf
        near = np.argsort(-sim)[:size]
        related = {w: 1.0 for w in own} | {self.tokens[i]: round(float(sim[i]), 4) for i in near if sim[i] > 0}
        return Subject(" ".join(about.split()), tuple(own), related)

    def bias(self, subject: Subject, strength: float) -> np.ndarray:
        """(V,): strength * weight at each related word, 0 elsewhere: what the decoder adds to the log-probabilities."""
        out = np.zeros(len(self.tokens), np.float32)
        for w, weight in subject.related.items():
            out[self.stoi[w]] = strength * weight
        return out
