"""The forms a poem can be written in: line count, syllables per line, rhyme scheme, stanzas.

A scheme letter names a rhyme group ("ABAB"); a letter used once in a stanza (the ballad's A and C)
and "-" (the haiku, free verse) are lines that rhyme with nothing. The limerick is counted 8-8-5-5-8 (its lines are
anapestic, "da da DUM", so the count varies in the wild from 8-8-5-5-8 to 9-9-6-6-9; the shorter
count is the commoner one in the older limericks and keeps the short lines short).
"""

from __future__ import annotations

from dataclasses import dataclass

from poetry_lab.analysis.poetics import METRES
from poetry_lab.errors import PoetryLabError

FEMININE = 1  # an unstressed syllable a metred line may add at its end ("the fairest creatures")


@dataclass(frozen=True)
class Form:
    """One form, all its rules as data: adding a form is one entry in FORMS (the page's choices, the
    CLI's help and the API's docstring are made from the table)."""

    name: str
    title: str  # what a person calls it: "Sonnet", "Free verse"
    description: str  # a short description for people: "14 lines of 10 syllables, ABAB CDCD EFEF GG"
    syllables: tuple[int, ...]  # per line of one stanza; a free line has a range (FREE_RANGE)
    scheme: str  # per line of one stanza: rhyme letters, "-" for none
    stanzas: int = 1  # stanzas in a default poem; --lines N repeats the stanza as needed
    foot: str | None = None  # "iambic", "anapestic": each line is scanned against that metre of its length
    feminine: bool = True  # the extra unstressed syllable is allowed at a line end
    stanza_breaks: bool = True  # stanzas are set apart by a blank line (False: one block, as couplets run on)
    any_length: bool = False  # any number of lines (False: a whole number of stanzas)
    closes: tuple[int, ...] = ()  # lines of a stanza that end a sentence (. ! ?), besides the poem's last line

    @property
    def stanza_lines(self) -> int:
        return len(self.scheme)


FREE_RANGE = (6, 11)  # syllables of a free-verse line
DEFAULT_FORM = "sonnet"  # the form of a poem when none is asked for (the page, the CLI, the API)
# In the order people are offered them (the page's choices, the CLI's help).
FORMS = {form.name: form for form in (
    Form("sonnet", "Sonnet", "14 lines of 10 syllables, ABAB CDCD EFEF GG", (10,) * 14, "ABABCDCDEFEFGG", foot="iambic",
         stanza_breaks=False, closes=(3, 7, 11, 13)),
    Form("quatrain", "Quatrain", "4 lines of 8 syllables, ABAB", (8, 8, 8, 8), "ABAB", foot="iambic", closes=(3,)),
    Form("couplets", "Couplets", "pairs of 10-syllable lines, AABB…", (10, 10), "AA", stanzas=4, foot="iambic",
         stanza_breaks=False, any_length=True, closes=(1,)),
    Form("ballad", "Ballad stanza", "8, 6, 8, 6 syllables, ABCB", (8, 6, 8, 6), "ABCB", foot="iambic", closes=(3,)),
    Form("limerick", "Limerick", "8, 8, 5, 5, 8 syllables, AABBA", (8, 8, 5, 5, 8), "AABBA", foot="anapestic", closes=(4,)),
    Form("haiku", "Haiku", "5, 7, 5 syllables, no rhyme", (5, 7, 5), "---", feminine=False, stanza_breaks=False),
    Form("free", "Free verse", "lines of 6 to 11 syllables, no rhyme", (0,), "-", stanzas=8, feminine=False,
         stanza_breaks=False, any_length=True),
)}


def get_form(name: str) -> Form:
    """The form called `name`; an unknown name is a user error that lists the known ones."""
    form = FORMS.get(name)
    if form is None:
        raise PoetryLabError(f"Unknown form '{name}': choose one of {', '.join(FORMS)}.")
    return form


@dataclass(frozen=True)
class LinePlan:
    """What one line of a poem must be: its syllable range, its rhyme group and its stanza."""

    lo: int
    hi: int
    group: str | None  # lines with the same group must rhyme; None rhymes with nothing
    letter: str  # the letter shown in the scheme
    stanza: int
    feminine: bool = False  # hi = lo + 1 is the extra unstressed syllable, not a free range
    metre: str | None = None  # the poetry_lab.analysis.poetics METRES name the line is scanned against; None: counted plainly
    closes: bool = False  # the line ends a sentence (. ! ?): a stanza's close, or the poem's last line


def plan(form_name: str, lines: int | None = None) -> list[LinePlan]:
    """The plan of every line of a poem in `form_name`, `lines` long (default: the form's own length)."""
    form = get_form(form_name)
    k = form.stanza_lines
    n = lines if lines is not None else k * form.stanzas
    if not 1 <= n <= 100:
        raise PoetryLabError("A poem can have from 1 to 100 lines.")
    if not form.any_length and lines is not None and n % k:
        raise PoetryLabError(f"A {form.name} has {k} lines a stanza: ask for a multiple of {k} lines.")
    out, letters = [], {}
    for i in range(n):
        stanza, j = divmod(i, k)
        syl, mark = form.syllables[j], form.scheme[j]
        lo, hi = FREE_RANGE if syl == 0 else (syl, syl + (FEMININE if form.feminine else 0))
        key = f"{stanza}{mark}"
        if mark != "-" and key not in letters:
            letters[key] = chr(ord("A") + len(letters) % 26)
        group = key if form.scheme.count(mark) > 1 and mark != "-" else None
        stanza_no = stanza if form.stanza_breaks else 0
        out.append(LinePlan(lo, hi, group, letters.get(key, "-"), stanza_no, form.feminine and syl != 0, _metre(form.foot, syl),
                            j in form.closes or i == n - 1))
    return out


def _metre(foot: str | None, syllables: int) -> str | None:
    """The METRES name for a line of this foot and length ("iambic", 10 -> "iambic pentameter"), if there is one."""
    feet = {"iambic": 2, "anapestic": 3}.get(foot or "")
    names = {3: "trimeter", 4: "tetrameter", 5: "pentameter", 6: "hexameter"}
    name = f"{foot} {names.get(round(syllables / feet), '')}" if feet else ""
    return name if name in METRES else None
