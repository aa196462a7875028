"""A session's poems in form: the composer for its current model, and the poems it last wrote (one per
temperature column), which the poet works on: keep lines, edit them, write one line again, read the
next best candidates for a line."""

from __future__ import annotations

from dataclasses import replace

from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.compose import ComposeConfig, Composer, Poem, load_lexicon
from poetry_lab.compose.poem import Candidate
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.core.defaults import MAX_TEMPERATURES
from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store


class ComposeSlot:
    def __init__(self, store: Store):
        self.store = store
        self._built: tuple[ModelBundle, CorpusIndex | None, Composer] | None = None
        self.config: ComposeConfig | None = None  # the settings of the last poems (temperature: the first column's)
        self.poems: list[Poem] = []

    def composer(self, bundle: ModelBundle, reference: CorpusIndex | None) -> Composer:
        """One Composer per model and training text; the word list is shared by every session (Store)."""
        if self._built is None or self._built[0] is not bundle or self._built[1] is not reference:
            lexicon = self.store.get("lexicon", "cmu+poetry", load_lexicon)
            self._built = (bundle, reference, Composer(bundle, lexicon=lexicon, corpus=reference))
        return self._built[2]

    def write(self, composer: Composer, config: ComposeConfig, temperatures: list[float]) -> list[Poem]:
        if not 1 <= len(temperatures) <= MAX_TEMPERATURES:
            raise PoetryLabError(f"Write between 1 and {MAX_TEMPERATURES} poems at once (one per temperature).")
        self.poems = composer.columns(config, tuple(temperatures))
        self.config = config
        return self.poems

    def poem(self, column: int) -> Poem:
        if not self.poems:
            raise PoetryLabError("Write a poem first: press “Write poems”.")
        if not 0 <= column < len(self.poems):
            raise PoetryLabError(f"Choose one of the {len(self.poems)} poems.")
        return self.poems[column]

    def _config(self, column: int) -> ComposeConfig:
        return replace(self.config, temperature=self.poem(column).temperature, prompt="")

    def _in_form(self, column: int) -> Poem:
        poem = self.poem(column)
        if poem.raw:
            raise PoetryLabError("Raw letters are the bare model, with no lines to keep or write again: untick "
                                 "Raw letters to work on a poem in form, or write them again with another seed.")
        return poem

    def rewrite(self, composer: Composer, column: int, keep: list[int], lines: list[str] | None) -> Poem:
        """The poem of `column` written again around the lines the poet keeps (`keep`: 0-based), taken
        from `lines` (the poet's edited lines, one per line of the poem) or else from the poem."""
        poem = self._in_form(column)
        texts = [line.text for line in poem.lines] if lines is None else lines
        if len(texts) != len(poem.lines):
            raise PoetryLabError(f"The poem has {len(poem.lines)} lines, and the text you edited has {len(texts)}: "
                                 "keep one line of text for each line of the poem.")
        if any(not 0 <= k < len(texts) for k in keep):
            raise PoetryLabError(f"The lines to keep must be among lines 1 to {len(texts)}.")
        given = {k: texts[k].strip() for k in keep if texts[k].strip()}
        config = self._config(column)
        attempts = {k: config.attempts.get(k, 0) + 1 for k in range(len(texts)) if k not in given}
        new = composer.compose(replace(config, given=given, attempts={**config.attempts, **attempts}))
        # A kept line as the model wrote it stays the model's (its numbers and drafts); an edited one is the poet's.
        _restore(poem, new, [k for k in given if given[k] == poem.lines[k].text.strip()])
        self.poems[column] = new
        self.config = replace(self.config, attempts={**self.config.attempts, **attempts})
        return new

    def rewrite_line(self, composer: Composer, column: int, index: int) -> Poem:
        """The poem of `column` with line `index` (0-based) written again and every other line kept."""
        poem = self._in_form(column)
        new = composer.regenerate(self._config(column), poem, index)
        _restore(poem, new, [k for k in range(len(poem.lines)) if k != index])
        self.poems[column] = new
        c = self.config  # the next try at this line draws anew and avoids every line it wrote there before
        self.config = replace(c, attempts={**c.attempts, index: c.attempts.get(index, 0) + 1},
                              avoid={**c.avoid, index: [*c.avoid.get(index, []), poem.lines[index].text]})
        return new

    def candidates(self, column: int, index: int) -> list[Candidate]:
        """The next best drafts for line `index` of the poem in `column`, best first."""
        poem = self.poem(column)
        if not 0 <= index < len(poem.lines):
            raise PoetryLabError(f"This poem has {len(poem.lines)} lines: choose one of lines 1 to {len(poem.lines)}.")
        return poem.lines[index].candidates


def _restore(old: Poem, new: Poem, kept: list[int]) -> None:
    """The composer reads every line it keeps as the poet's: lines kept unchanged get back their own
    record (who wrote them, their numbers and their drafts)."""
    for k in kept:
        new.lines[k] = old.lines[k]
