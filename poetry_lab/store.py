"""Store: the shared read-only resources of one process, in one place, passed to whoever needs them.

Loaded models, the training texts' copy indexes, poem embeddings: expensive to make, never changed
once made, and safe to share between sessions. The app makes one Store in `create_demo` and hands it
to every session; the command line makes its own. Each kind of resource is a small LRU table.

`get(kind, key, make)` calls `make()` at most once per key, even when several threads ask at the same
moment (the others wait for the first one), so the default model is never loaded twice.

Functions take the Store as an argument. Estimators (the theme methods) never do: scikit-learn's
`clone` copies every constructor parameter, and a Store is shared, not copied. They read the Store the
caller made active instead (`with store.active(): pipeline.fit(poems)`; `active_store()`, None outside).
A context variable holds it, so each thread and each asyncio task sees only the Store it set itself.

`corpus_key(poems)` is the one key of a corpus (or of any list of texts) in every cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

SIZES = {
    "model": 4,  # loaded model files, by path
    "corpus index": 4,  # copy indexes of training texts, by corpus name
    "backward model": 4,  # backward twins trained for the embedding theme methods, by corpus and model
    "embeddings": 8,  # poem vectors already computed, by model, poems and settings
    "lexicon": 1,  # the words a poem in form may use (CMU dictionary + the poetry corpus's words)
    "sentence encoder": 1,  # all-MiniLM-L6-v2, for the minilm theme method and every method's theme words
    "word vectors": 20_000,  # the encoder's vector of one word (1.5 kB), by word: the theme words' sense
}


def corpus_key(texts: str | Iterable[str]) -> str:
    """The sha256 of a text, or of texts joined by NUL (which no text file holds, so ["ab", "c"] and
    ["a", "bc"] differ): the same in every process, unlike Python's built-in hash of a str (salted per process)."""
    joined = texts if isinstance(texts, str) else "\x00".join(texts)
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


class Store:
    def __init__(self, sizes: dict[str, int] | None = None):
        self.sizes = {**SIZES, **(sizes or {})}
        self._tables: dict[str, OrderedDict] = {kind: OrderedDict() for kind in self.sizes}
        self._lock = threading.Lock()
        self._making: dict[tuple[str, Hashable], threading.Lock] = {}

    def get(self, kind: str, key: Hashable, make: Callable[[], T]) -> T:
        """The resource `key` of `kind`, made by `make()` the first time; None results are kept too."""
        table = self._tables[kind]
        with self._lock:
            if key in table:
                table.move_to_end(key)
                return table[key]
            making = self._making.setdefault((kind, key), threading.Lock())
        with making:  # one maker per key; the others wait here and then find it made
            with self._lock:
                if key in table:
                    table.move_to_end(key)
                    return table[key]
            try:
                value = make()
                with self._lock:
                    table[key] = value
                    while len(table) > self.sizes[kind]:
                        table.popitem(last=False)
            finally:
                with self._lock:
                    self._making.pop((kind, key), None)
            return value

    @contextmanager
    def active(self) -> Iterator[Store]:
        """Make this the Store that estimators read (active_store) until the block ends; blocks nest."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def peek(self, kind: str, key: Hashable) -> object | None:
        with self._lock:
            return self._tables[kind].get(key)

    def count(self, kind: str) -> int:
        """How many resources of `kind` are kept."""
        with self._lock:
            return len(self._tables[kind])

    def __len__(self) -> int:
        with self._lock:
            return sum(len(t) for t in self._tables.values())


_ACTIVE: ContextVar[Store | None] = ContextVar("poetry_lab_store", default=None)


def active_store() -> Store | None:
    """The Store of the innermost `with store.active():` around this call (in this thread or task); else None."""
    return _ACTIVE.get()
