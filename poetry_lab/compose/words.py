"""The words a composed poem may use: a table of known words with their stress and rhyme, and prefix
look-ups over their letters (the decoder's trie).

Known words are the CMU dictionary's words that the Gutenberg Poetry Corpus uses at least
MIN_COUNT times (so "doutt" and "krout", which the dictionary also holds, are left out), the
archaic contractions the corpus uses often ("turn'd", "o'er", read through poetry_lab.analysis.pronounce),
plus, when a corpus is given, every word of that corpus that can be pronounced. The table ships as
`words.tsv.gz` (word, count, stress digits, rhyming parts); `python -m poetry_lab.compose.words
CORPUS.txt.gz` rebuilds it. A name is spelled there as it is written ("Troy", "Rome", "April": a word the
corpus capitalises inside a line at least PROPER_SHARE of the times); the word writer writes it so, and no
line ends on one (a name brought in for its rhyme, "the day was over, Paul", was a blind reader's complaint).

A word set is a sorted list; "which letters can follow this prefix" is a few bisections, cached, so
the decoder never builds a node-per-letter trie for 30,000 words.
"""

from __future__ import annotations

import bisect
import gzip
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pronouncing import rhyming_part

from poetry_lab.analysis.pronounce import in_dictionary, pronunciations, stress
from poetry_lab.data.text import is_heading
from poetry_lab.data.text import words as text_words

TABLE = Path(__file__).with_name("words.tsv.gz")
MIN_COUNT = 10  # uses in the Gutenberg Poetry Corpus for a dictionary word to count as known
MIN_COUNT_DERIVED = 20  # the same for an apostrophe form the dictionary lacks ("turn'd")
MIN_COUNT_END = 200  # the same for a word to end a line on (a rhyme the reader knows: not "gal", "shay", "haus")
PROPER_SHARE = 0.8  # a word capitalised inside a line this share of its uses there is a name ("God" 0.81, "Mars" 0.90)
PROPER_MIN_USES = 20  # ... where it has at least this many such uses
_PLAIN = re.compile(r"[a-z]+(?:'[a-z]+)*")
_CASED = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
# Words of one or two letters are mostly letter names and abbreviations in the dictionary ("b", "ab"): these are the real ones.
SHORT_WORDS = frozenset("""a i o ah am an as at ay be by do eh go ha he hi ho if in is it lo ma me my no of oh on or
ow ox pa so to up us we ye yo""".split())
# Words a line may not end on: they lean on the next word, so a line ending on one breaks off mid-phrase
# ("...and all the ways of his / ..."). The second row: blind readers' pairs of 2026-12-02 ended lines on them.
# The third: the prepositions the Gutenberg Poetry Corpus ends a line on less than 0.15 times as often as it ends
# one on words at large ("in" 0.14, "like" 0.11, "for" 0.09, "unto" 0.08; "the" 0.10), not "upon" (0.22), "through"
# (0.49) or "no" (0.14, but "No, ..." opens lines).
NO_END = frozenset("""a an the and or nor but of to with from by at as if than thy my your our their its
his that when which whose such because unless whether i'm tis twas
for in into unto like toward towards amid""".split())


@dataclass(frozen=True)
class WordInfo:
    stress: str  # the first pronunciation's stress digits: "10" for "heaven"; its length is the syllable count
    rhymes: tuple[str, ...]  # rhyming parts of every pronunciation
    count: int = 0  # uses in the poetry corpus (0: a word of the poet's own corpus)

    @property
    def syllables(self) -> int:
        return len(self.stress)


def word_info(word: str, count: int = 0) -> WordInfo | None:
    """Stress and rhyme of one lowercase word, or None if it cannot be pronounced."""
    phones = pronunciations(word)
    if not phones or not stress(phones[0]):
        return None
    # the rhyming part (pronouncing's): the phones from the last stressed vowel on, "D EY1 L AY2 T" -> "AY2 T"
    return WordInfo(stress(phones[0]), tuple(dict.fromkeys(rhyming_part(p) for p in phones)), count)


class WordSet:
    """A sorted list of words answering prefix questions: the letters that may follow a prefix."""

    def __init__(self, words):
        self.words = sorted(set(words))
        self._members = frozenset(self.words)
        self._next: dict[str, str] = {}

    def __contains__(self, word: str) -> bool:
        return word in self._members

    def __len__(self) -> int:
        return len(self.words)

    def next_letters(self, prefix: str) -> str:
        """Every letter c such that prefix + c starts some word of the set ("" if none)."""
        found = self._next.get(prefix)
        if found is None:
            words, n, out = self.words, len(prefix), []
            i = bisect.bisect_left(words, prefix)
            while i < len(words) and words[i].startswith(prefix):
                if len(words[i]) > n:
                    c = words[i][n]
                    out.append(c)
                    i = bisect.bisect_left(words, prefix + chr(ord(c) + 1), i)
                else:
                    i += 1
            found = self._next[prefix] = "".join(out)
        return found


@dataclass
class Lexicon:
    """Known words with stress and rhyme, grouped the ways the decoder asks for them."""

    info: dict[str, WordInfo]
    by_rhyme: dict[str, list[str]] = field(default_factory=dict)  # rhyming part -> words
    proper: frozenset[str] = frozenset()  # the names, lower-case ("troy"): written capitalised, never a line's end
    _sets: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_syl: dict[int, list[str]] = {}  # syllables -> words, sorted
        for w, inf in sorted(self.info.items()):
            for r in inf.rhymes:
                self.by_rhyme.setdefault(r, []).append(w)
            self._by_syl.setdefault(inf.syllables, []).append(w)

    def __contains__(self, word: str) -> bool:
        return word.lower().replace("’", "'") in self.info

    def syllables(self, word: str) -> int:
        return self.info[word].syllables

    def cached_set(self, key, make) -> WordSet:
        """One WordSet per key, built on first use by make() -> iterable of words."""
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = WordSet(make())
        return found

    def up_to(self, n: int) -> WordSet:
        """Words of 1..n syllables."""
        return self.cached_set(("up_to", n), lambda: (w for k in range(1, n + 1) for w in self._by_syl.get(k, ())))

    def of_length(self, lo: int, hi: int, rhymeable: int = 0, weak_last: bool = False) -> WordSet:
        """Line-ending words of lo..hi syllables; with rhymeable=k only words with at least k true rhymes
        among the known words; with weak_last, words of hi syllables only if their last is unstressed."""
        def make():
            for k in range(lo, hi + 1):
                for w in self._by_syl.get(k, ()):
                    if (self.ends_line(w) and (not rhymeable or self.rhyme_count(w) >= rhymeable)
                            and not (weak_last and k == hi and not self.info[w].stress.endswith("0"))):
                        yield w
        return self.cached_set(("len", lo, hi, rhymeable, weak_last), make)

    def ends_line(self, word: str) -> bool:
        """Whether a line may end on `word`: a word of the poet's corpus or one the poetry corpus uses
        often, and neither a word that leans on the next ("the", "and", "their") nor a name ("Troy")."""
        inf = self.info.get(word)
        return inf is not None and (inf.count == 0 or inf.count >= MIN_COUNT_END) and word not in NO_END and word not in self.proper

    def rhymes_of(self, word: str) -> set[str]:
        """Line-ending words that truly rhyme with `word` (the same phones from the stressed vowel on), itself excluded."""
        inf = self.info.get(word) or word_info(word)
        if inf is None:
            return set()
        return {w for r in inf.rhymes for w in self.by_rhyme.get(r, ())
                if w != word and not _same_stem(w, word) and self.ends_line(w)}

    def rhyme_count(self, word: str) -> int:
        """About how many line-ending words rhyme with `word` (its own spellings not told apart)."""
        counts = self._sets.get("rhyme_counts")
        if counts is None:
            counts = self._sets["rhyme_counts"] = Counter(r for w, i in self.info.items() if self.ends_line(w) for r in i.rhymes)
        return max((counts[r] for r in self.info[word].rhymes), default=1) - 1

    def with_corpus(self, text: str) -> Lexicon:
        """A copy that also knows every pronounceable word of the poet's corpus."""
        extra = {w: inf for w in set(text_words(text.replace("’", "'"))) - self.info.keys()
                 if _PLAIN.fullmatch(w) and (inf := word_info(w)) is not None}
        return Lexicon({**self.info, **extra}, proper=self.proper) if extra else self


def _same_stem(a: str, b: str) -> bool:
    """night / knight rhyme; light / delight and stay / stay'd count as the same word repeated, not a rhyme."""
    bare_a, bare_b = re.sub("['e]", "", a), re.sub("['e]", "", b)  # heav'n / heaven, lov'd / loved
    return a.endswith(b) or b.endswith(a) or a.split("'")[0] == b.split("'")[0] or bare_a == bare_b


def load_lexicon(path: Path = TABLE) -> Lexicon:
    """The shipped table of known words."""
    info, proper = {}, set()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            written, count, digits, rhymes = line.rstrip("\n").split("\t")
            word = written.lower()
            info[word] = WordInfo(digits, tuple(rhymes.split("|")), int(count))
            if written != word:
                proper.add(word)
    return Lexicon(info, proper=frozenset(proper))


def mid_line_case(line: str) -> list[tuple[str, bool]]:
    """(word lower-cased, written with a capital) for each word of a line of verse that is neither its first nor
    after a mark (. , ; " ( and the like: where any word may take a capital); none from a heading in capitals."""
    if is_heading(line):
        return []
    out, end = [], None
    for m in _CASED.finditer(line):
        w, between = m.group(), line[end : m.start()] if end is not None else None
        end = m.end()
        if between is not None and between.isspace() and not (w.isupper() and len(w) > 1):
            out.append((w.lower(), w[0].isupper()))
    return out


def build_table(corpus_gz: Path, out: Path = TABLE) -> int:
    """Count the words of a gzipped poetry corpus and write the table of known words; returns its size."""
    counts: Counter = Counter()
    cased: Counter = Counter()  # (word, capitalised) inside lines
    with gzip.open(corpus_gz, "rt", encoding="utf-8") as f:
        while chunk := f.read(8_000_000):
            chunk = chunk.replace("’", "'")
            counts.update(text_words(chunk))
            cased.update(pair for line in chunk.splitlines() for pair in mid_line_case(line))
    rows = []
    for w, n in counts.most_common():
        keep = n >= MIN_COUNT and in_dictionary(w) or n >= MIN_COUNT_DERIVED and "'" in w.strip("'")
        keep = keep and (len(w) > 2 or w in SHORT_WORDS)
        if keep and _PLAIN.fullmatch(w) and (inf := word_info(w)) is not None:
            up, uses = cased[w, True], cased[w, True] + cased[w, False]
            name = uses >= PROPER_MIN_USES and up >= PROPER_SHARE * uses and w not in SHORT_WORDS and not w.startswith("i'")
            written = w.capitalize() if name else w
            rows.append(f"{written}\t{n}\t{inf.stress}\t{'|'.join(inf.rhymes)}\n")
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as f:
        f.writelines(sorted(rows, key=str.lower))
    return len(rows)


if __name__ == "__main__":
    import sys

    print(build_table(Path(sys.argv[1])), "words")
