"""What the theme methods read: the blocks of a corpus that are poems, long ones as passages.

A poet's file holds more than poems: a title page, headings on lines of their own, an editor's or
printer's prose (prefaces, letters, notes, stage directions), poems in another language. Each would
make a theme of its own ("shakespeare, william", "psal, aug", "che, di, il"), so `theme_passages`
leaves them out, each kind with one plain note:

    no words      only numbers, punctuation or very common words (words.usable_poems)
    prose         the lines read as hard-wrapped prose (poetry_lab.data.text.reads_as_prose)
    title         a title page (most lines centred) or a block of at least half heading lines
    short         where the corpus's poems run longer: at most SHORT_LINES lines below a heading (a title
                  such as "PSAL. I. Done into Verse, 1653.", a byline, a single line of dialogue)
    language      too few of the commonest English words, in a corpus that is English as a whole
                  (the word lists are English-only; a corpus wholly in another language is kept, with a note)

A block longer than MAX_PASSAGE_LINES (a scene of a masque, a long ode) ranges over several subjects;
it is read as passages of about equal length, each cut after a line that ends a sentence where one is near.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from poetry_lab.data.text import is_heading, reads_as_prose
from poetry_lab.themes.words import ENGLISH_SHARE, english_share, first_line, language_note, poem_body, usable_poems

MAX_PASSAGE_LINES = 24  # a sonnet and a stanza stay whole; a 150-line scene is read as 7 passages
SHORT_LINES = 2  # at most this many lines below a heading: a title or a fragment, where poems are longer
LONGER_POEMS = 4  # the median lines per block from which short blocks are titles, not the poet's form
CENTRED_INDENT = 10  # leading spaces of a centred (title-page) line
SENTENCE_END = (".", "!", "?", ";", ":")
KINDS = {
    "prose": "read as prose (prefaces, letters, notes, stage directions)",
    "title": "are titles, headings or a title page",
    "short": "have one or two lines (titles, bylines, single lines of dialogue)",
    "language": "do not look English (the theme words are English-only)",
}


@dataclass
class ThemeReading:
    """The passages the theme methods read, and one plain note per kind of block left out or cut."""

    poems: list[str]
    notes: list[str] = field(default_factory=list)


def _lines(poem: str) -> list[str]:
    return [ln for ln in poem.split("\n") if ln.strip()]


def _title(poem: str) -> bool:
    lines = _lines(poem)
    centred = sum(len(ln) - len(ln.lstrip()) >= CENTRED_INDENT for ln in lines)
    headings = sum(is_heading(ln) for ln in lines)
    return 2 * centred >= len(lines) or (len(lines) <= 6 and 2 * headings >= len(lines))


def block_kind(poem: str, short_is_title: bool, english: bool) -> str | None:
    """Why a block is no poem to find themes in (a key of KINDS), or None for a poem.
    short_is_title: the corpus's poems run longer (LONGER_POEMS); english: the corpus is English."""
    if reads_as_prose(_lines(poem_body(poem))):
        return "prose"
    if _title(poem):
        return "title"
    if short_is_title and len(_lines(poem_body(poem))) <= SHORT_LINES:
        return "short"
    share = english_share(poem_body(poem))
    if english and share is not None and share < ENGLISH_SHARE:
        return "language"
    return None


def passages(poem: str, max_lines: int = MAX_PASSAGE_LINES) -> list[str]:
    """The poem in passages of at most about max_lines lines (itself when it is no longer); a heading
    stays with the first passage. Each cut is moved to a sentence end up to a quarter of a passage away."""
    lines = poem.strip("\n").split("\n")
    head = 1 if len(lines) > 1 and is_heading(lines[0]) else 0
    body = lines[head:]
    parts = -(-len(body) // max_lines)
    if parts <= 1:
        return [poem]
    size, reach, cuts = len(body) / parts, max(1, max_lines // 4), [0]
    for k in range(1, parts):
        target = round(k * size)
        near = [c for c in range(target - reach, target + reach + 1)
                if cuts[-1] < c < len(body) and body[c - 1].rstrip().endswith(SENTENCE_END)]
        cuts.append(min(near, key=lambda c: abs(c - target)) if near else target)
    cuts.append(len(body))
    out = ["\n".join(body[a:b]) for a, b in zip(cuts, cuts[1:])]
    return ["\n".join(lines[:head] + [out[0]]), *out[1:]] if head else out


def _note(kind: str, blocks: list[str]) -> str:
    shown = ", ".join(repr(first_line(p)[:30]) for p in blocks[:4])
    many = "s" if len(blocks) > 1 else ""
    return f"Left out {len(blocks)} block{many} that {KINDS[kind]}: {shown}{', ...' if len(blocks) > 4 else ''}."


def theme_passages(poems: list[str], max_lines: int = MAX_PASSAGE_LINES) -> ThemeReading:
    """The poems to find themes in (see the module doc), with a note for each kind left out and the passages."""
    kept, skipped = usable_poems(list(poems))
    notes = [skipped] if skipped else []
    sizes = sorted(len(_lines(poem_body(p))) for p in kept)
    short_is_title = bool(sizes) and sizes[len(sizes) // 2] >= LONGER_POEMS
    english = language_note(kept) is None
    left: dict[str, list[str]] = {kind: [] for kind in KINDS}
    poems_kept = []
    for p in kept:
        kind = block_kind(p, short_is_title, english)
        (left[kind] if kind else poems_kept).append(p)
    notes += [_note(kind, blocks) for kind, blocks in left.items() if blocks]
    out = [part for p in poems_kept for part in passages(p, max_lines)]
    if len(out) > len(poems_kept):
        cut = sum(len(passages(p, max_lines)) > 1 for p in poems_kept)
        notes.append(f"Read {cut} poem{'s' if cut > 1 else ''} longer than {max_lines} lines as passages of about "
                     f"{max_lines} lines ({len(out)} poems and passages in all).")
    return ThemeReading(out, notes)
