"""A corpus of many short poems from the Gutenberg Poetry Corpus, for the theme benchmark.

    python -m benchmarks.make_gutenberg_poems --out /tmp/poetry_lab_bench   # -> gutenberg_excerpts.txt

The shared copy (`shared/corpora/gutenberg_poetry.txt.gz`, see its README) is one line of verse per
row in the original corpus order, with no book ids and no poem breaks, so poems cannot be cut out
exactly. This takes `--poems` runs of `--lines` consecutive lines, one from each of as many equal
slices of the corpus (so every excerpt comes from a different stretch of books), starting at a
seeded random line within its slice and skipping runs that are mostly not verse (lines under 3
words, or with control characters). Excerpts are written separated by blank lines, as poems are.
Same arguments, same file (its sha256 is printed); nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import random
from pathlib import Path

from poetry_lab.data.catalog import search_dirs
from poetry_lab.errors import PoetryLabError  # noqa: E402

SOURCE_NAME = "gutenberg_poetry.txt.gz"


def source_path() -> Path:
    """The shared Gutenberg Poetry Corpus, found where the bundled corpora are looked for."""
    for folder in search_dirs():
        if (folder / SOURCE_NAME).is_file():
            return folder / SOURCE_NAME
    raise PoetryLabError(f"{SOURCE_NAME} is not in any corpus folder ({', '.join(map(str, search_dirs()))}).")


def _verse(line: str) -> bool:
    return len(line.split()) >= 3 and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in line)


def gutenberg_excerpts(source: Path, poems: int = 600, lines: int = 8, seed: int = 0) -> list[str]:
    """`poems` excerpts of `lines` verse lines, one per equal slice of the corpus (see the module doc)."""
    with gzip.open(source, "rt", encoding="utf-8") as f:
        rows = f.read().split("\n")
    rng, size, out = random.Random(seed), len(rows) // poems, []
    for i in range(poems):
        lo = i * size
        for _ in range(50):  # a few tries to land on verse within this slice
            start = rng.randrange(lo, lo + size - lines)
            run = [r.strip() for r in rows[start : start + lines]]
            if all(_verse(r) for r in run):
                out.append("\n".join(run))
                break
    return out


def build(out_dir: Path, poems: int = 600, lines: int = 8, seed: int = 0) -> Path:
    source = source_path()
    path = out_dir / "gutenberg_excerpts.txt"
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(gutenberg_excerpts(source, poems, lines, seed)) + "\n", encoding="utf-8")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/poetry_lab_bench"))
    ap.add_argument("--poems", type=int, default=600)
    ap.add_argument("--lines", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = build(args.out, args.poems, args.lines, args.seed)
    text = path.read_bytes()
    blocks = text.count(b"\n\n") + 1
    print(f"{path}: {blocks} excerpts, {len(text):,} bytes, sha256 {hashlib.sha256(text).hexdigest()}")
    return 0



def corpus_file(name: str, out: Path) -> str:
    """What load_corpus reads for a benchmark's corpus `name`: "gutenberg" is the excerpts file, built into
    `out` first where it is not there yet; any other name or file as it is."""
    if name != "gutenberg":
        return name
    path = out / "gutenberg_excerpts.txt"
    if not path.is_file():
        build(out)
    return str(path)

if __name__ == "__main__":
    raise SystemExit(main())
