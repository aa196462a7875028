"""Rhyme and metre of a poem, from the pronunciations in poetry_lab.analysis.pronounce (the CMU dictionary).

Per line: syllables, lexical stress ("1" stressed, "0" unstressed, "2" secondary stress, "?" a
syllable of a word the dictionary lacks; monosyllabic function words such as "the", "thy", "and"
show as "0"), the words not found and the end word. Per poem: the end-rhyme scheme as a string
("ABABCDCDEFEFGG"), the nearest common metre and how regular the lines are (0..1).

Words the dictionary lacks are derived from their modern stems (see pronounce); anything still
unknown gets a vowel-group syllable estimate and is listed in `unknown_words`. A line is read with
the pronunciation variants that fit the poem's metre best (pronounce.variants, plus elision across
words: "th' expense"). Rhymes, strongest first: the same sounds from the last stressed vowel on
(day / may), the same last syllable (memory / die), the same spelled ending (love / prove, and the
fallback for unknown words), the same final consonants (field / held).
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from itertools import product

import pronouncing

from poetry_lab.analysis.pronounce import (
    FUNCTION_WORDS,
    estimate_syllables,
    pronunciations,
    stress,
    variants,
)
from poetry_lab.data.corpus import split_poems
from poetry_lab.data.text import WORD_WITH_ELISIONS, is_heading

_VOWELS = re.compile(r"[aeiouy]+")
RHYME_WINDOW = 4  # a line rhymes with one of the 4 lines before it (couplets, ABAB, ABBA, AABBA)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MAX_READINGS = 128  # pronunciation combinations tried per line
INDEL = 1.25  # an extra or missing syllable costs more than a misplaced stress: counts are surer

_VOWEL_PHONES = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
_METRES = {"iambic": "01", "trochaic": "10", "anapestic": "001", "dactylic": "100"}
_COUNTS = {5: "pentameter", 4: "tetrameter", 3: "trimeter", 6: "hexameter"}
# Substitution cost of a syllable in a template position ("0" weak, "1" strong). Classes: S a word's
# stressed syllable, u its unstressed one, s secondary stress, M a stressed monosyllable, f a
# monosyllabic function word, ? a syllable of an unknown word. An unstressed syllable in a strong
# position (promotion) and a stressed monosyllable in a weak one (a spondee) are half faults; a
# function word takes either stress, a beat on it a quarter fault.
_SUB = {"S": (1.0, 0.0), "u": (0.0, 0.5), "s": (0.0, 0.0), "M": (0.5, 0.0), "f": (0.0, 0.25), "?": (0.5, 0.5)}
_SHOW = {"S": "1", "u": "0", "s": "2", "M": "1", "f": "0", "?": "?"}


@dataclass
class LineAnalysis:
    text: str
    syllables: int
    stress: str  # one character per syllable, see the module docstring
    unknown_words: list[str]
    end_word: str
    rhyme: str = ""  # this line's letter in the rhyme scheme
    metre_score: float = 0.0  # 1 - weighted edit distance to the poem's metre / template length


@dataclass
class PoemAnalysis:
    lines: list[LineAnalysis]
    rhyme_scheme: str  # one letter per line: "ABABCDCDEFEFGG"
    metre: str | None  # "iambic pentameter", ...; None for a poem without verse lines
    metre_score: float | None  # mean of the lines' scores, in [0, 1]
    syllables_per_line: list[int] = field(default_factory=list)


@functools.lru_cache(maxsize=20_000)
def word_readings(token: str) -> tuple[tuple[str, ...], bool]:
    """(syllable-class strings, the preferred first; known) for one word as written."""
    w = token.lower().replace("’", "'")
    bare = w.strip("'")
    phones = pronunciations(w)
    if not phones:
        return ("?" * estimate_syllables(w),), False
    readings: list[str] = []
    for p in phones + [v for q in phones for v in variants(bare, q)]:
        s = stress(p)
        if not s:
            cls = ""  # th': no vowel of its own
        elif len(s) == 1:
            cls = "f" if bare in FUNCTION_WORDS or w in FUNCTION_WORDS or s == "0" else "M"
        else:
            cls = "".join("S" if d == "1" else "s" if d == "2" else "u" for d in s)
        if cls not in readings:
            readings.append(cls)
    return tuple(readings), True


@functools.lru_cache(maxsize=200_000)
def _distance(syls: str, template: str) -> float:
    """Weighted edit distance between syllable classes and a 0/1 template."""
    prev = [j * INDEL for j in range(len(template) + 1)]
    for i, c in enumerate(syls, 1):
        sub, cur = _SUB[c], [i * INDEL]
        for j, t in enumerate(template, 1):
            cur.append(min(prev[j] + INDEL, cur[j - 1] + INDEL, prev[j - 1] + sub[t == "1"]))
        prev = cur
    return prev[-1]


def _templates(foot: str, feet: int) -> tuple[tuple[str, float], ...]:
    """The metre's line shapes and their cost: a feminine ending, catalexis or a headless foot is a small licence."""
    base = foot * feet
    if foot == "01":  # with a trochee for the first foot, the commonest licence
        return (base, 0.0), (base + "0", 0.25), ("10" + base[2:], 0.25), ("10" + base[2:] + "0", 0.5), (base[1:], 0.75)
    if foot == "10":
        return (base, 0.0), (base[:-1], 0.0), (base + "0", 0.5)
    if foot == "001":
        return (base, 0.0), (base[1:], 0.0), (base + "0", 0.25), (base[1:] + "0", 0.25)
    return (base, 0.0), (base[:-1], 0.0), (base[:-2], 0.0)


METRES = {f"{name} {_COUNTS[n]}": _templates(foot, n) for name, foot in _METRES.items() for n in _COUNTS}


def _fit(options: list[tuple[str, ...]], templates: tuple[tuple[str, float], ...]) -> tuple[float, str, int]:
    """(distance, syllable classes, template length) of the line reading that fits the metre best.

    Ties go to the reading that needs no extra or missing syllable, then to the fewest variants.
    """
    best, best_key = (float("inf"), "", 1), (float("inf"), 0, 0)
    pools, total = [], 1
    for opts in options:  # beyond MAX_READINGS combinations, later words keep their first reading
        pools.append(opts if total * len(opts) <= MAX_READINGS else opts[:1])
        total *= len(pools[-1])
    for choice in product(*(list(enumerate(p)) for p in pools)):
        syls = "".join(c for _, c in choice)
        changed = sum(k > 0 for k, _ in choice)
        for t, penalty in templates:
            if abs(len(syls) - len(t)) * INDEL + penalty > best_key[0]:
                continue
            d = _distance(syls, t) + penalty
            key = (d, len(syls) != len(t), changed)
            if key < best_key:
                best, best_key = (d, syls, len(t)), key
    return best


def _sound(phones: str) -> str:
    """Phones compared for rhyme: stress dropped; near sounds merged (on/gone, were/bear, tir'd/expired, is/amiss)."""
    out: list[str] = []
    for p in re.sub(r"\d", "", phones).split():
        p = {"AO": "AA", "Z": "S"}.get(p, p)
        if p == "ER":
            out += ["R"] if out and out[-1] in _VOWEL_PHONES else ["EH", "R"]
        else:
            out.append(p)
    return " ".join(out)


@functools.lru_cache(maxsize=20_000)
def _rhyme_keys(word: str) -> tuple[frozenset, frozenset, frozenset, str]:
    """(full-rhyme, last-syllable, consonance and spelling keys) of an end word."""
    w = word.lower().replace("’", "'")
    phones = pronunciations(w)
    perfect, weak, coda = set(), set(), set()
    for p in phones:
        part = _sound(pronouncing.rhyming_part(p)).split()
        perfect.add(" ".join(part))
        raw = p.split()
        last = max((i for i, x in enumerate(raw) if x[-1].isdigit()), default=0)
        if raw[last][-1] in "12" or last == len(raw) - 1:  # a stressed or an open last syllable
            weak.add(_sound(" ".join(raw[last:])))
        if p.endswith("IY0"):
            weak.add("AY")  # Elizabethan: memory / die, majesty / eye
        if len(part) > 1:
            coda.add(" ".join(part[1:]))  # field / held, come / tomb: the consonants after the vowel
        if raw[last] in ("AH0", "IH0") and last < len(raw) - 1:
            coda.add(_sound(" ".join(raw[last + 1:])))  # excellence / expense: a weak last vowel
    return frozenset(perfect), frozenset(weak), frozenset(coda), _spelling_key(w.strip("'"))


def _spelling_key(w: str) -> str:
    """The written ending from the last sounded vowel: 'prove' -> 'ove', 'niggarding' -> 'ing'."""
    w = re.sub(r"'d$", "ed", w)
    core = w[:-1] if re.search(r"[^aeiou]e$", w) and len(_VOWELS.findall(w)) > 1 else w
    groups = list(re.finditer(r"[aeiou]+|y(?![aeiou])", core))
    if not groups:
        return ""
    key = w[groups[-1].start():]
    return key if len(key) >= 2 else ""


FULL_RHYME = 4  # rhyme_strength of a full rhyme (or the same word)


def rhyme_strength(a: str, b: str) -> int:
    """4 a full rhyme or the same word, 3 the last syllables match, 2 the spellings, 1 the final consonants."""
    if not a or not b:
        return 0
    if a.lower() == b.lower():
        return FULL_RHYME
    (pa, wa, ca, sa), (pb, wb, cb, sb) = _rhyme_keys(a), _rhyme_keys(b)
    if pa & pb:
        return FULL_RHYME
    if wa & wb:
        return 3
    return 2 if sa and sa == sb else 1 if ca & cb else 0


def rhyme_scheme(end_words: list[str]) -> str:
    """One letter per line, joining lines that rhyme within RHYME_WINDOW lines, strongest pairs first.

    First lines pair up with lines still alone, then lines join rhymes already formed; two formed
    rhymes merge only through a full rhyme. A finished cross rhyme (two interleaved pairs, ABAB) is
    closed, so later lines start new letters even where the sound comes back, as a reader hears
    the quatrains of a sonnet. Letters follow first appearance.
    """
    n = len(end_words)
    pairs = sorted((-rhyme_strength(end_words[i], end_words[j]), j - i, i, j)
                   for j in range(n) for i in range(max(0, j - RHYME_WINDOW), j))
    group = list(range(n))  # each line's group, named by one of its lines
    members = {k: [k] for k in range(n)}
    closed: set[int] = set()
    for singles_only in (True, False):
        for neg, _, i, j in pairs:
            gi, gj = group[i], group[j]
            if neg == 0 or gi == gj or gi in closed or gj in closed:
                continue
            if (singles_only and len(members[gi]) + len(members[gj]) > 2) or (
                    len(members[gi]) > 1 and len(members[gj]) > 1 and neg > -4):
                continue
            for k in members[gj]:
                group[k] = gi
            members[gi] = sorted(members[gi] + members.pop(gj))
            if len(members[gi]) == 2:  # a new pair closes itself and any pair it interleaves (ABAB)
                a, b = members[gi]
                for h, (c, d) in ((h, m) for h, m in members.items() if len(m) == 2 and h != gi):
                    if c < a < d < b or a < c < b < d:
                        closed.update((gi, h))
    letters = {g: LETTERS[k] if k < len(LETTERS) else "#" for k, g in enumerate(dict.fromkeys(group))}
    return "".join(letters[g] for g in group)


def verse_lines(text: str) -> list[str]:
    """The lines of `text` that are verse: not blank, with letters, and not a heading (a Roman
    numeral, a number or a line in capitals) at the top of a blank-line block."""
    out, block_start = [], True
    for line in text.splitlines():
        letters = [c for c in line if c.isalpha()]
        heading = is_heading(line)
        if letters and not (block_start and heading):
            out.append(line.rstrip())
        block_start = not line.strip() or (block_start and bool(heading))
    return out


def _line_options(tokens: list[str], readings: list[tuple]) -> list[tuple[str, ...]]:
    """Each word's readings, plus elision across words: th' and t' before a vowel, 'many a' as two syllables."""
    out = []
    for k, (tok, (opts, _)) in enumerate(zip(tokens, readings)):
        low, nxt = tok.lower(), tokens[k + 1].lower().lstrip("'’") if k + 1 < len(tokens) else ""
        if (low in ("the", "to") and nxt[:1] in tuple("aeiou")) or (low == "a" and k and tokens[k - 1].lower().endswith("y")):
            opts = opts + ("",)
        out.append(opts)
    return out


def analyse_poem(text: str) -> PoemAnalysis:
    """Rhyme scheme, metre and per-line syllables and stress of one poem (blank lines are ignored)."""
    lines = verse_lines(text)
    tokens = [WORD_WITH_ELISIONS.findall(line) for line in lines]
    readings = [[word_readings(t) for t in toks] for toks in tokens]
    options = [_line_options(toks, rs) for toks, rs in zip(tokens, readings)]
    if not lines:
        return PoemAnalysis([], "", None, None, [])
    fits = {name: [_fit(o, templates) for o in options] for name, templates in METRES.items()}
    metre = min(fits, key=lambda name: sum(f[0] for f in fits[name]))  # ties: the first in METRES
    scheme = rhyme_scheme([t[-1].strip("'’") if t else "" for t in tokens])
    out = []
    for line, toks, rs, (d, syls, n), letter in zip(lines, tokens, readings, fits[metre], scheme):
        unknown = [t.strip("'’") for t, r in zip(toks, rs) if not r[1]]
        out.append(LineAnalysis(text=line, syllables=len(syls), stress="".join(_SHOW[c] for c in syls),
                                unknown_words=unknown, end_word=toks[-1].strip("'’") if toks else "",
                                rhyme=letter, metre_score=round(max(0.0, 1.0 - d / n), 4)))
    score = sum(line.metre_score for line in out) / len(out)
    return PoemAnalysis(out, scheme, metre, round(score, 4), [line.syllables for line in out])


def scan_line(text: str, metre: str) -> tuple[int, float]:
    """(syllables, metre score in [0, 1]) of one line read against one of METRES, as analyse_poem reads it."""
    tokens = WORD_WITH_ELISIONS.findall(text)
    if not tokens:
        return 0, 0.0
    d, syls, n = _fit(_line_options(tokens, [word_readings(t) for t in tokens]), METRES[metre])
    return len(syls), round(max(0.0, 1.0 - d / n), 4)


def analyse_text(text: str) -> list[PoemAnalysis]:
    """One analysis per poem: blank-line blocks, as `poetry_lab.data.corpus.split_poems` cuts them."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [a for a in (analyse_poem(p) for p in split_poems(text)) if a.lines]


def to_json(analysis: PoemAnalysis | list[PoemAnalysis]) -> dict | list[dict]:
    """Plain dicts and lists (json.dumps-ready) of one analysis or a list of them."""
    if isinstance(analysis, list):
        return [asdict(a) for a in analysis]
    return asdict(analysis)
