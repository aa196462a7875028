"""What counts as a word and what counts as a heading: one rule each, used by every part that reads poems.

- A word is a run of letters, joined by inner apostrophes (o'er, ne’er, love's); digits and
  underscores are no letters. Pronunciation also keeps an elision mark at either end ('tis, th').
- A heading is a line that names the poem below it rather than belonging to it: a Roman or Arabic
  number (with an optional full stop) or a title in capitals of at most 80 characters.
- A speaker's name opens a line of a play in verse ("Sam: ...", "Chor. ...", "Eld. Bro: ..."): one or
  two short capitalised words, the last ending in a colon or a full stop. It is no word of the verse.
- Prose is hard-wrapped running text: its median line is longer than PROSE_LINE_CHARS and its lines run
  on in lower case (verse lines start with a capital); a block of three lines or fewer needs only the length.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
WORD_WITH_ELISIONS = re.compile(rf"['’]?{WORD.pattern}['’]?")  # 'tis, th', o'er: as a pronouncing dictionary spells them
_NUMBER = re.compile(r"\s*(?:[IVXLCDM]+|\d+)\.?\s*")
HEADING_MAX_CHARS = 80
SPEAKER = re.compile(r"^(\s*)(?:\d\.\s*)?(?:[A-Z][a-z]{0,5}\.\s+)?[A-Z][a-z]{0,5}[.:]\s+(?=\S)", re.MULTILINE)
PROSE_LINE_CHARS = 56  # hard-wrapped prose runs to 60-70 characters a line; most verse's median line is shorter
PROSE_RUN_ON = 1 / 3  # the share of lines (after the first) that go on in lower case, in prose


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased."""
    return WORD.findall(text.lower())


def is_heading(line: str) -> bool:
    """A Roman or Arabic number, or a title in capitals (more than one letter, at most 80 characters)."""
    if _NUMBER.fullmatch(line):
        return True
    letters = [c for c in line if c.isalpha()]
    return len(letters) > 1 and len(line.strip()) <= HEADING_MAX_CHARS and all(c.isupper() for c in letters)


def without_speakers(text: str) -> str:
    """The text with the speakers' names at line starts taken out (indentation kept)."""
    return SPEAKER.sub(r"\1", text)


def median_line_chars(lines: list[str]) -> int:
    """The median length of the non-blank lines (0 for none)."""
    lengths = sorted(len(ln) for ln in lines if ln.strip())
    return lengths[len(lengths) // 2] if lengths else 0


def reads_as_prose(lines: list[str]) -> bool:
    """Whether lines are hard-wrapped prose (a preface, a note, a stage direction), not verse."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    if median_line_chars(lines) <= PROSE_LINE_CHARS:
        return False
    run_on = sum(ln[0].islower() for ln in lines[1:])
    return len(lines) <= 3 or run_on >= PROSE_RUN_ON * (len(lines) - 1)
