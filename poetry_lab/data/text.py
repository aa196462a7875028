"""What counts as a word and what counts as a heading: one rule each, used by every part that reads poems.

- A word is a run of letters, joined by inner apostrophes (o'er, ne’er, love's); digits and
  underscores are no letters. Pronunciation also keeps an elision mark at either end ('tis, th').
- A heading is a line that names the poem below it rather than belonging to it: a Roman or Arabic
  number (with an optional full stop) or a title in capitals of at most 80 characters.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
WORD_WITH_ELISIONS = re.compile(rf"['’]?{WORD.pattern}['’]?")  # 'tis, th', o'er: as a pronouncing dictionary spells them
_NUMBER = re.compile(r"\s*(?:[IVXLCDM]+|\d+)\.?\s*")
HEADING_MAX_CHARS = 80


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased."""
    return WORD.findall(text.lower())


def is_heading(line: str) -> bool:
    """A Roman or Arabic number, or a title in capitals (more than one letter, at most 80 characters)."""
    if _NUMBER.fullmatch(line):
        return True
    letters = [c for c in line if c.isalpha()]
    return len(letters) > 1 and len(line.strip()) <= HEADING_MAX_CHARS and all(c.isupper() for c in letters)
