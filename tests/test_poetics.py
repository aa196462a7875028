"""Rhyme and metre: known poems, archaic forms, unknown words, and the JSON shape."""

from __future__ import annotations

import json

import pytest
from conftest import requires_shared

from poetry_lab.analysis.poetics import (
    PoemAnalysis,
    analyse_poem,
    analyse_text,
    rhyme_scheme,
    rhyme_strength,
    to_json,
    verse_lines,
    word_readings,
)
from poetry_lab.analysis.pronounce import estimate_syllables

SONNET_18 = """XVIII
Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date:
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd,
And every fair from fair sometime declines,
By chance, or nature's changing course untrimm'd:
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st,
Nor shall Death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st,
  So long as men can breathe, or eyes can see,
  So long lives this, and this gives life to thee."""

LIMERICK = """There was a young lady named Bright
Whose speed was far faster than light;
She set out one day
In a relative way
And returned on the previous night."""


def test_sonnet_18_scheme_syllables_and_metre():
    a = analyse_poem(SONNET_18)
    assert len(a.lines) == 14  # the Roman-numeral heading is not a verse line
    assert a.rhyme_scheme == "ABABCDCDEFEFGG"
    assert a.syllables_per_line == [10] * 14
    assert a.metre == "iambic pentameter"
    assert 0.8 < a.metre_score <= 1.0
    first = a.lines[0]
    assert first.text == "Shall I compare thee to a summer's day?"
    assert first.end_word == "day" and first.rhyme == "A"
    assert len(first.stress) == 10 and set(first.stress) <= set("012")
    assert all(not line.unknown_words for line in a.lines)


def test_limerick_is_aabba_and_anapestic():
    a = analyse_poem(LIMERICK)
    assert a.rhyme_scheme == "AABBA"
    assert a.metre.startswith("anapestic")


def test_couplets_and_cross_rhymes():
    assert rhyme_scheme(["day", "may", "night", "light"]) == "AABB"
    assert rhyme_scheme(["day", "night", "may", "light"]) == "ABAB"
    assert rhyme_scheme(["day", "night", "light", "may"]) == "ABBA"
    assert rhyme_scheme(["cat", "dog", "sun"]) == "ABC"
    # a finished quatrain closes its rhymes: the couplet after it gets new letters
    assert rhyme_scheme(["thee", "time", "see", "prime", "be", "me"]) == "ABABCC"


def test_rhyme_strength_levels():
    assert rhyme_strength("day", "may") == 4
    assert rhyme_strength("Day", "day") == 4
    assert rhyme_strength("memory", "die") == 3  # Elizabethan -y
    assert rhyme_strength("love", "prove") >= 1  # an eye rhyme
    assert rhyme_strength("niggarding", "spring") >= 1  # an unknown word: spelling
    assert rhyme_strength("cat", "dog") == 0
    assert rhyme_strength("", "dog") == 0


def test_unknown_words_are_marked_with_an_estimate():
    a = analyse_poem("The zorblax frimbled in the glade")
    line = a.lines[0]
    assert line.unknown_words == ["zorblax", "frimbled"]
    assert "?" in line.stress
    assert line.syllables == 1 + 2 + 2 + 1 + 1 + 1
    assert estimate_syllables("gloam") == 1 and estimate_syllables("niggarding") == 3


@pytest.mark.parametrize("word, syllables", [
    ("lov'd", 1), ("o'er", 1), ("thou", 1), ("doth", 1), ("remember'd", 3), ("feed'st", 1), ("buriest", 3),
    ("tatter'd", 2), ("heaven", 2), ("beauty's", 2),
])
def test_archaic_forms_are_known(word, syllables):
    readings, known = word_readings(word)
    assert known
    assert len(readings[0]) == syllables


def test_elision_fits_the_metre():
    # "heaven" and "every" read short where the line needs ten syllables
    a = analyse_poem("Yet heaven knows it is but as a tomb\nAnd every fair from fair sometime declines,")
    assert a.syllables_per_line == [10, 10]


def test_analyse_text_splits_poems_and_skips_headings(poem_text):
    poems = analyse_text(poem_text)
    assert len(poems) == 16
    assert all(len(p.lines) == 4 for p in poems)
    assert poems[0].lines[0].text == "The rose is red upon the wall,"
    assert poems[0].rhyme_scheme == "AAAA"
    assert poems[0].metre == "iambic tetrameter"


def test_headings_are_skipped_only_at_the_top_of_a_block():
    assert verse_lines("XII\nTHE TITLE\nWhen I do count the clock\nSHOUT IT LOUD\n\nCXXXII\nAnd so\n") == [
        "When I do count the clock", "SHOUT IT LOUD", "And so"]


def test_empty_poem_and_json_shape():
    empty = analyse_poem("\n\nIV\n\n")
    assert empty == PoemAnalysis([], "", None, None, [])
    data = to_json(analyse_text(SONNET_18))
    json.dumps(data)
    assert set(data[0]) == {"lines", "rhyme_scheme", "metre", "metre_score", "syllables_per_line"}
    assert set(data[0]["lines"][0]) >= {"text", "syllables", "stress", "unknown_words", "end_word"}
    assert to_json(analyse_poem(LIMERICK))["rhyme_scheme"] == "AABBA"


def test_regular_verse_scores_higher_than_prose():
    verse = analyse_poem("The woods are lovely, dark and deep,\nBut I have promises to keep,")
    prose = analyse_poem("Notwithstanding considerable difficulties, administrators unanimously\nrecommended postponement.")
    assert 0.0 <= prose.metre_score < verse.metre_score <= 1.0


def test_most_sonnets_are_recovered():
    text = requires_shared("sonnets.txt").read_text(encoding="utf-8")
    poems = analyse_text("\n\n".join(text.split("\n\n")[:30]))  # 30 sonnets keep the test fast
    assert len(poems) == 30
    assert sum(p.rhyme_scheme == "ABABCDCDEFEFGG" for p in poems) >= 25
    lines = [line for p in poems for line in p.lines]
    assert sum(line.syllables == 10 for line in lines) / len(lines) > 0.85
