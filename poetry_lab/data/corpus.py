"""Reading a poet's text: decoding, normalising, splitting into poems, statistics and the split.

Everything here works on plain strings; nothing knows about models or the UI.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from charset_normalizer import from_bytes

from poetry_lab.data.text import PROSE_LINE_CHARS, WORD, is_heading, median_line_chars
from poetry_lab.errors import PoetryLabError

# Signatures of file types a poet might upload by mistake (renamed to .txt or not).
_BINARY_MAGIC = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (or a Word/OpenOffice document)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"{\\rtf": "an RTF document",
    b"\xd0\xcf\x11\xe0": "an old Word/Excel document",
    b"7z\xbc\xaf": "a 7-zip archive",
    b"Rar!": "a RAR archive",
}
# What Western European text in cp1252/Latin-1 holds beyond ASCII. On short texts the charset
# detector often guesses a Baltic or Arabic code page; bytes that read as only these in cp1252 are cp1252.
_WESTERN = set("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžßÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŸŒŠŽ"
               "‘’‚“”„–—…«»‹›°·•§¶©®™¡¿ªº€£¥¢´¨¸\xa0")
_CENTRAL_EUROPEAN = {"cp1250", "iso8859_2", "mac_latin2", "cp852"}  # Polish, Czech, ...: trust the detector
# Control characters other than tab and newline carry no poetry; they are dropped.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\ufeff]")


def decode_bytes(data: bytes, name: str = "the file") -> str:
    """Decode an uploaded file to text: UTF-8 (with or without BOM), UTF-16, Latin-1/cp1252, ...

    Raises PoetryLabError for empty, binary or undecodable input.
    """
    if not data.strip():
        raise PoetryLabError(f"{name} is empty: there is no text in it.")
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise PoetryLabError(f"{name} looks like {what}, not plain text. Save your poems as a .txt file.")
    text = _decode(data)
    if text is None or _looks_binary(text):
        raise PoetryLabError(f"{name} is not readable text (it may be a binary file). Save your poems as plain text.")
    return text


def _decode(data: bytes) -> str | None:
    # BOMs are unambiguous; charset detection is for everything else.
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                break
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return utf16
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    matches = list(from_bytes(data))
    # On short texts the detector often ranks a Baltic or Central European code page first for what
    # is Western European text; cp1252 (a superset of Latin-1) wins when it reads about as cleanly.
    western = [m for m in matches if m.encoding in ("cp1252", "latin_1", "iso8859_15")]
    if western and western[0].chaos <= matches[0].chaos + 0.1:
        return data.decode("cp1252", errors="replace") if western[0].encoding != "iso8859_15" else str(western[0])
    if not matches or matches[0].encoding not in _CENTRAL_EUROPEAN:
        plain = _plainly_western(data)
        if plain is not None:
            return plain
    return str(matches[0]) if matches else None


def _plainly_western(data: bytes) -> str | None:
    """The cp1252 reading of `data` when every non-ASCII character in it is common in Western European text."""
    try:
        text = data.decode("cp1252")  # strict: the five bytes cp1252 leaves undefined fail here
    except UnicodeDecodeError:
        return None
    return text if all(c < "\x80" or c in _WESTERN for c in text) else None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as a zero byte in every other position for Latin text."""
    sample = data[:4096]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    codec = "utf-16-le" if odd > 3 * even else "utf-16-be" if even > 3 * odd else None
    if codec is None:
        return None
    try:
        return data[: len(data) // 2 * 2].decode(codec)
    except UnicodeDecodeError:
        return None


def _looks_binary(text: str) -> bool:
    if not text:
        return True
    bad = sum(1 for c in text[:20000] if unicodedata.category(c) in ("Cc", "Co", "Cn") and c not in "\n\r\t")
    return bad > 0.05 * min(len(text), 20000)


def normalise(text: str, lowercase: bool = False) -> str:
    """Unify line endings, apply NFC, drop control characters and trailing spaces; keep indentation."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{4,}", "\n\n\n", text).strip("\n")
    if lowercase:
        text = text.lower()
    return text + "\n" if text else ""


def _is_heading(block: str) -> bool:
    """A one- or two-line block that names the poem below it: a Roman numeral or a title in capitals."""
    lines = block.split("\n")
    if len(lines) > 2:
        return False
    return all(is_heading(line) for line in lines if line.strip())


def is_separator(block: str) -> bool:
    """A block with no letter or digit: a row of asterisks, a line of underscores, an ornament."""
    return not any(c.isalnum() for c in block)


def _blocks(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", text)]


def count_separators(text: str) -> int:
    """How many blank-line blocks of `text` are separators (not poems; they stay in the training text)."""
    return sum(is_separator(text[a:b]) for a, b in _blocks(text))


def poem_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each poem: blank-line blocks, a heading block joined to the next block.

    Separator blocks (no letter or digit: '* * *', '______') are no poem and are left out.
    """
    spans: list[tuple[int, int]] = []
    pending: int | None = None
    blocks = [(a, b) for a, b in _blocks(text) if not is_separator(text[a:b])]
    for start, end in blocks:
        if _is_heading(text[start:end].strip("\n")):
            pending = start if pending is None else pending
            continue
        spans.append((start if pending is None else pending, end))
        pending = None
    if pending is not None:
        spans.append((pending, blocks[-1][1]))
    return spans


def split_poems(text: str) -> list[str]:
    """The poems of a text; a heading and its poem are joined by one line break."""
    return [
        "\n".join(block.strip("\n") for block in re.split(r"\n\s*\n", text[a:b]) if block.strip() and not is_separator(block))
        for a, b in poem_spans(text)
    ]


@dataclass(frozen=True)
class CorpusStats:
    chars: int
    distinct_chars: int
    words: int
    lines: int
    poems: int


@dataclass
class Corpus:
    """A normalised text with its poems. `is_verse` decides how the validation split is cut."""

    text: str
    name: str = "pasted text"
    poems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.poems:
            self.poems = split_poems(self.text)

    @property
    def stats(self) -> CorpusStats:
        return CorpusStats(
            chars=len(self.text),
            distinct_chars=len(set(self.text)),
            words=len(WORD.findall(self.text)),
            lines=self.text.count("\n"),
            poems=len(self.poems),
        )

    @property
    def is_verse(self) -> bool:
        """Short lines and several blocks: poems. Hard-wrapped prose has long, even lines."""
        lines = [ln for ln in self.text.split("\n") if ln.strip()]
        if len(self.poems) < 4 or not lines:
            return False
        return median_line_chars(lines) <= PROSE_LINE_CHARS

    def split(self, val_fraction: float = 0.1) -> tuple[str, str]:
        """Train and validation texts: the last whole poems (verse) or a contiguous tail (prose).

        The cut is never inside a poem, so validation text is unseen text, not shuffled characters.
        """
        if not 0.0 < val_fraction < 1.0:
            raise PoetryLabError("The validation share must be between 0 and 1.")
        target = int(len(self.text) * (1.0 - val_fraction))
        if self.is_verse:
            starts = [a for a, _ in poem_spans(self.text)[1:]]
            cut = min(starts, key=lambda s: abs(s - target)) if starts else target
        else:
            nl = self.text.rfind("\n", 0, target)
            cut = nl + 1 if nl > target * 0.9 else target
        train, val = self.text[:cut], self.text[cut:]
        if not train.strip() or not val.strip():
            train, val = self.text[:target], self.text[target:]
        elif self.is_verse:
            val = without_repeats(train, val)
        return train, val


def without_repeats(train: str, val: str) -> str:
    """`val` without the poems that copy a poem of `train` or an earlier one of `val` (whitespace aside).

    A poem pasted twice would otherwise be scored on text the model has learnt by heart. When nothing
    would be left, `val` is returned as it is.
    """
    seen = {" ".join(p.split()) for p in split_poems(train)}
    kept, dropped = [], 0
    for a, b in poem_spans(val):
        key = " ".join(split_poems(val[a:b])[0].split()) if val[a:b].strip() else ""
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(val[a:b].rstrip("\n") + "\n")
    return "\n".join(kept) if dropped and kept else val


def read_sources(paths: list[str | Path] | tuple = (), text: str | None = None, max_bytes: int | None = None,
                 max_files: int | None = None) -> list[tuple[str, str]]:
    """(name, raw text) for each file and for pasted text. Catalog names work where paths do.

    `max_bytes` and `max_files` bound what a user may send (the app sets them; the CLI does not).
    """
    # Late: the catalog is optional for pasted text.
    from poetry_lab.data.catalog import resolve_corpus

    if max_files is not None and len(paths) > max_files:
        raise PoetryLabError(f"{len(paths)} files is too many at once: upload at most {max_files}.")
    parts: list[tuple[str, str]] = []
    for p in paths:
        from_catalog = not Path(p).is_file()
        path = resolve_corpus(p)
        size = path.stat().st_size
        if max_bytes is not None and not from_catalog and size > max_bytes:
            raise PoetryLabError(f"'{path.name}' is {_mb(size)} MB: files may be at most {_mb(max_bytes)} MB.")
        if from_catalog and path.suffix == ".gz":  # only the catalog's own archives are unpacked
            import gzip

            data = gzip.decompress(path.read_bytes())
        else:
            data = path.read_bytes()
        parts.append((path.name, decode_bytes(data, name=f"'{path.name}'")))
    if text is not None and text.strip():
        if max_bytes is not None and len(text) > max_bytes:
            raise PoetryLabError(f"The pasted text is too long: at most {_mb(max_bytes)} MB of text, please.")
        parts.append(("pasted text", text))
    if not parts:
        raise PoetryLabError("There is no text yet: upload a .txt or .md file, or paste some poems.")
    return parts


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.3g}"  # MiB, as Gradio's max_file_size counts them


def load_corpus(paths: list[str | Path] | tuple = (), text: str | None = None, lowercase: bool = False,
                max_bytes: int | None = None, max_files: int | None = None) -> Corpus:
    """Read files and/or pasted text into one Corpus; files are separated by a blank line."""
    parts = read_sources(paths, text, max_bytes=max_bytes, max_files=max_files)
    normalised = [normalise(t, lowercase) for _, t in parts]
    joined = "\n".join(t for t in normalised if t)
    if not joined.strip():
        raise PoetryLabError("The text is empty once blank space and control characters are removed.")
    name = ", ".join(n for n, _ in parts)
    return Corpus(text=joined, name=name)
