"""The character vocabulary: the one owner of encode/decode, with an unknown symbol at index 0."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

UNKNOWN = "\ufffd"  # the replacement character: what Unicode itself uses for "a character we cannot show"


class Vocab:
    """Maps characters to ids. Index 0 is UNKNOWN; every other character has exactly one id."""

    def __init__(self, chars: Iterable[str]):
        seen = [UNKNOWN]
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"vocabulary entries are single characters, got {c!r}")
            if c not in seen:
                seen.append(c)
        self.chars: list[str] = seen
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(seen)}
        # Sorted code points and their ids, for vectorised encoding of long texts.
        order = sorted(range(len(seen)), key=lambda i: ord(seen[i]))
        self._codes = np.array([ord(seen[i]) for i in order], dtype=np.int64)
        self._ids = np.array(order, dtype=np.int64)

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """Every distinct character of the text, in sorted order, after UNKNOWN."""
        return cls(sorted(set(text) - {UNKNOWN}))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __contains__(self, char: str) -> bool:
        return char in self.stoi

    @property
    def unknown_id(self) -> int:
        return 0

    def encode(self, text: str) -> np.ndarray:
        """Character ids (int64); characters outside the vocabulary become UNKNOWN (id 0)."""
        if not text:
            return np.zeros(0, dtype=np.int64)
        # surrogatepass: a lone surrogate (from a bad command-line byte) becomes UNKNOWN, not a crash
        raw = text.encode("utf-32-le", errors="surrogatepass")
        codes = np.frombuffer(raw, dtype=np.uint32).astype(np.int64)
        pos = np.searchsorted(self._codes, codes).clip(0, len(self._codes) - 1)
        found = self._codes[pos] == codes
        return np.where(found, self._ids[pos], 0)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        chars = self.chars
        n = len(chars)
        return "".join(chars[i] if 0 <= i < n else UNKNOWN for i in (int(i) for i in ids))

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of `text` that this vocabulary lacks, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def extended(self, chars: Iterable[str]) -> Vocab:
        """A vocabulary with new characters appended; existing ids are unchanged (for fine-tuning)."""
        return Vocab(self.chars[1:] + [c for c in chars if c not in self.stoi])

    def to_list(self) -> list[str]:
        return list(self.chars[1:])

    @classmethod
    def from_list(cls, chars: Sequence[str]) -> Vocab:
        return cls(chars)
