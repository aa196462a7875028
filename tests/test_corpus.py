"""Reading a poet's text: decoding, normalising, splitting into poems, statistics, the split, loading."""

from __future__ import annotations

import random
import zipfile
from io import BytesIO

import pytest
from conftest import requires_shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poetry_lab.data.corpus import (
    Corpus,
    decode_bytes,
    load_corpus,
    normalise,
    split_poems,
)
from poetry_lab.errors import PoetryLabError

ACCENTED = "Café – “déjà vu”, the heart’s own song,\nso naïve, façade and élan,\n"
POEM = ACCENTED * 4  # a few lines of poem with accents, a dash and curly quotes


# --- decoding -------------------------------------------------------------------------------------


def test_decode_utf8():
    assert decode_bytes(POEM.encode("utf-8")) == POEM


def test_decode_utf8_with_bom_drops_the_bom():
    text = decode_bytes(b"\xef\xbb\xbf" + POEM.encode("utf-8"))
    assert text == POEM
    assert "\ufeff" not in text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff\xfe" + POEM.encode("utf-16-le"), id="utf16-le-bom"),
        pytest.param(b"\xfe\xff" + POEM.encode("utf-16-be"), id="utf16-be-bom"),
        pytest.param(POEM.encode("utf-16"), id="utf16-native-bom"),
        pytest.param(POEM.encode("utf-16-le"), id="utf16-le-no-bom"),
        pytest.param(POEM.encode("utf-16-be"), id="utf16-be-no-bom"),
    ],
)
def test_decode_utf16(data):
    text = decode_bytes(data)
    assert text == POEM
    assert "\ufeff" not in text and "\x00" not in text


@pytest.mark.parametrize(
    "text, codec",
    [
        pytest.param(POEM, "cp1252", id="cp1252"),
        pytest.param("Café déjà vu, naïve façade à la\nLà où le soleil brille\n" * 4, "latin-1", id="latin-1"),
    ],
)
def test_decode_single_byte_western_encodings(text, codec):
    assert decode_bytes(text.encode(codec)) == text


def test_decode_cp1252_keeps_the_ascii_text_and_the_line_count():
    """Whatever code page is guessed, plain letters and line structure must survive."""
    text = decode_bytes(POEM.encode("cp1252"))
    assert isinstance(text, str)
    assert text.count("\n") == POEM.count("\n")
    assert text.startswith("Caf") and "the heart" in text and "own song," in text


# --- normalising ----------------------------------------------------------------------------------


def test_crlf_and_lone_cr_become_lf():
    raw = b"The rose\r\nis red,\rthe bee\r\nis busy.\r\n"
    assert normalise(decode_bytes(raw)) == "The rose\nis red,\nthe bee\nis busy.\n"


def test_nfc_composes_decomposed_accents():
    decomposed = "Cafe\u0301 de\u0301ja\u0300 vu\n"
    out = normalise(decomposed)
    assert out == "Caf\u00e9 d\u00e9j\u00e0 vu\n"
    assert "\u0301" not in out and "\u0300" not in out


def test_indentation_is_kept_and_trailing_spaces_dropped():
    text = "Sonnet\n  Pity the world,   \n\tor else this glutton be\n"
    assert normalise(text) == "Sonnet\n  Pity the world,\n\tor else this glutton be\n"


def test_lowercase_option():
    assert normalise("The ROSE Is Red\n", lowercase=True) == "the rose is red\n"
    assert normalise("The ROSE Is Red\n") == "The ROSE Is Red\n"


def test_normalise_drops_control_characters_and_extra_blank_lines():
    out = normalise("\n\nA\x00 line\x07\n\n\n\n\n\nB line\n\n\n")
    assert out == "A line\n\n\nB line\n"


# --- what is not text -----------------------------------------------------------------------------


def _zip_bytes() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("poems.txt", "The rose is red\n" * 20)
    return buf.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n\t \r\n  ", id="whitespace"),
        pytest.param(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >>\nendobj\n", id="pdf"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(64), id="png"),
        pytest.param(_zip_bytes(), id="zip"),
        pytest.param(random.Random(1).randbytes(4096), id="random-binary"),
        pytest.param(bytes(range(256)) * 8, id="all-byte-values"),
    ],
)
def test_non_text_raises_poetry_lab_error_with_a_message(data):
    with pytest.raises(PoetryLabError) as info:
        decode_bytes(data, name="'poems.txt'")
    assert str(info.value).strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_decode_arbitrary_bytes_gives_text_or_poetry_lab_error(data):
    try:
        text = decode_bytes(data)
    except PoetryLabError as e:
        assert str(e)
        return
    assert isinstance(text, str)
    clean = normalise(text)
    assert "\r" not in clean
    assert "\x00" not in clean


# --- splitting into poems -------------------------------------------------------------------------

BODY_1 = "The rose is red upon the wall,\nThe bee is busy in the hall."
BODY_2 = "The moon is white above the sea,\nThe wind is singing soft to me."


@pytest.mark.parametrize("sep", ["\n\n", "\n"], ids=["blank-line", "no-blank-line"])
def test_split_poems_keeps_roman_heading_with_its_poem(sep):
    text = f"I{sep}{BODY_1}\n\nII{sep}{BODY_2}\n"
    poems = split_poems(text)
    assert poems == [f"I\n{BODY_1}", f"II\n{BODY_2}"]


@pytest.mark.parametrize("sep", ["\n\n", "\n"], ids=["blank-line", "no-blank-line"])
def test_split_poems_keeps_capitalised_title_with_its_poem(sep):
    text = f"THE GARDEN{sep}{BODY_1}\n\nTHE SEA AT NIGHT{sep}{BODY_2}\n"
    poems = split_poems(text)
    assert poems == [f"THE GARDEN\n{BODY_1}", f"THE SEA AT NIGHT\n{BODY_2}"]


def test_split_poems_plain_blocks():
    assert split_poems(f"{BODY_1}\n\n\n{BODY_2}\n") == [BODY_1, BODY_2]


def test_sonnets_split_into_154_poems():
    path = requires_shared("sonnets.txt")
    corpus = load_corpus([path])
    assert len(corpus.poems) == 154
    assert corpus.stats.poems == 154
    assert corpus.poems[0].startswith("I\n")
    assert corpus.poems[-1].startswith("CLIV\n")
    assert corpus.is_verse


# --- statistics -----------------------------------------------------------------------------------


def test_stats_on_a_hand_counted_text():
    # 14+1 + 13+1 + 1 + 2+1 + 22+1 = 56 characters; 5 newlines.
    # Words: Roses are red Violets blue II I can't rhyme words (the digit is not a word) = 10.
    # Distinct: R o s e ' ' a r d , \n V i l t b u . I c n ' h y m 2 w = 26.
    text = "Roses are red,\nViolets blue.\n\nII\nI can't rhyme 2 words.\n"
    st_ = Corpus(text).stats
    assert st_.chars == 56
    assert st_.distinct_chars == 26
    assert st_.words == 10
    assert st_.lines == 5
    assert st_.poems == 2


# --- the train/validation split -------------------------------------------------------------------


def _verse(numbered_sep: str, n: int = 10) -> str:
    numerals = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
    poems = [
        f"{numerals[i]}{numbered_sep}The rose of morning, number {i}, is red,\n"
        f"and all the bees are busy overhead;\nthe garden sleeps when evening comes instead."
        for i in range(n)
    ]
    return "\n\n".join(poems) + "\n"


def _assert_cut_at_poem_boundary(corpus: Corpus, fraction: float) -> None:
    train, val = corpus.split(fraction)
    assert train + val == corpus.text
    assert train.strip() and val.strip()
    train_poems, val_poems = split_poems(train), split_poems(val)
    # No poem straddles the cut, and validation starts with the first line of a poem.
    assert train_poems + val_poems == corpus.poems, f"fraction {fraction}: the cut is inside a poem"
    assert val.lstrip("\n").startswith(val_poems[0].split("\n")[0] + "\n")
    assert val_poems[0] in corpus.poems


@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45])
def test_verse_split_cuts_at_a_poem_boundary(fraction):
    corpus = Corpus(_verse("\n"))
    assert corpus.is_verse
    _assert_cut_at_poem_boundary(corpus, fraction)


def test_verse_split_never_separates_a_heading_from_its_poem():
    corpus = Corpus(_verse("\n\n"))
    assert corpus.is_verse and len(corpus.poems) == 10
    for fraction in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3):  # 0.05 cuts before 'The rose of morning, number 9'
        _assert_cut_at_poem_boundary(corpus, fraction)


def test_prose_split_is_a_contiguous_tail():
    sentence = "It was the best of times, it was the worst of times, it was the age of wisdom, "
    lines = [(sentence * 2)[i : i + 70].strip() for i in range(0, 2000, 70)]
    text = "\n".join(lines[:15]) + "\n\n" + "\n".join(lines[15:]) + "\n"
    corpus = Corpus(text)
    assert not corpus.is_verse
    train, val = corpus.split(0.2)
    assert train + val == text
    assert val == text[len(train) :]
    assert 0.1 * len(text) < len(val) < 0.3 * len(text)
    assert train.endswith("\n")  # cut at the start of a line


def test_split_rejects_bad_fractions():
    corpus = Corpus(_verse("\n"))
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(PoetryLabError):
            corpus.split(bad)


# --- loading --------------------------------------------------------------------------------------


def test_load_corpus_concatenates_files_and_pasted_text(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_bytes("First poem,\r\nfirst file.\r\n".encode("utf-8"))
    b.write_bytes(b"\xff\xfe" + "Second poem, caf\u00e9,\nsecond file.\n".encode("utf-16-le"))
    corpus = load_corpus([a, str(b)], text="Pasted poem\n  indented line\n")
    assert corpus.text == (
        "First poem,\nfirst file.\n\nSecond poem, caf\u00e9,\nsecond file.\n\nPasted poem\n  indented line\n"
    )
    assert corpus.name == "a.txt, b.txt, pasted text"
    assert len(corpus.poems) == 3


def test_load_corpus_lowercase(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("The ROSE\n", encoding="utf-8")
    assert load_corpus([a], lowercase=True).text == "the rose\n"


def test_load_corpus_without_any_text_raises():
    with pytest.raises(PoetryLabError) as info:
        load_corpus()
    assert str(info.value)
    with pytest.raises(PoetryLabError):
        load_corpus([], text="   \n\t\n")


def test_load_corpus_of_a_png_named_txt_raises(tmp_path):
    fake = tmp_path / "poems.txt"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(PoetryLabError, match="PNG"):
        load_corpus([fake])


SEPARATED = ("I\nThe rose is red upon the wall,\nthe bee is busy in the hall.\n\n* * *\n\n"
             "II\nThe moon is white above the sea,\nthe wind is singing soft to me.\n\n________\n\n"
             "III\nThe lark is high above the hill,\nthe mill is turning by the rill.\n\n~ ~ ~\n")


def test_separator_blocks_are_no_poems_but_stay_in_the_text():
    from poetry_lab.data.corpus import count_separators

    corpus = Corpus(normalise(SEPARATED))
    assert corpus.stats.poems == 3 and [p.split("\n")[0] for p in corpus.poems] == ["I", "II", "III"]
    assert count_separators(corpus.text) == 3 and "* * *" in corpus.text


def test_validation_leaves_out_copies_of_training_poems():
    from poetry_lab.data.corpus import without_repeats

    poems = [f"Poem {i}\nthe line of a poem number {i},\nand a second line that rhymes with {i}." for i in range(12)]
    text = normalise("\n\n".join(poems + [poems[2], poems[5]]) + "\n")  # a file pasted twice, in part
    train, val = Corpus(text).split(0.2)
    assert "Poem 11" in val and "Poem 2\n" not in val and "Poem 5\n" not in val
    assert "Poem 2\n" in train  # training keeps every copy
    # Nothing but copies: the validation text stays as it was rather than vanish.
    assert without_repeats("A\nb c d\n", "A\nb   c d\n") == "A\nb   c d\n"
    assert without_repeats("A\nb c d\n", "A\nb c d\n\nE\nf g h\n\nE\nf g h\n") == "E\nf g h\n"
