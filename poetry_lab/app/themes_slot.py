"""A session's themes: the theme methods fitted on its corpus (kept, so placing new poems never fits
again), and the themes last shown, by which the comparison view labels the poems it writes.

The theme methods read the session's Store from the context this slot sets (`with store.active():`):
estimators never take it as a parameter. Corpora are known by store.corpus_key, as in every cache."""

from __future__ import annotations

from collections.abc import Callable

from poetry_lab.app.results import PoemTheme, ThemeReport
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store, corpus_key

THEMES_MAX_POEMS = 3_000  # themes use at most this many poems (spread evenly): the embeddings read each poem twice
THEMES_CACHE = 8  # fitted theme methods kept per session (each holds its poems' vectors)
BACKWARD_STEPS = 400  # training of the backward reading model when none ships: ~25 s on a busy 2-core CPU
SLOW_STEP = "the first time, the model learns to read your poems backwards (about 25 seconds)"
ENCODER_STEP = "loading the sentence encoder (for the poems or the theme words), the first time (about 10 seconds)"


class ThemesSlot:
    def __init__(self, store: Store):
        self.store = store
        self._fitted: dict = {}  # themes.methods.compare_methods's fitted methods, oldest first
        self._shown = None  # the pipeline last shown, and the corpus it was fitted on
        self._shown_corpus: str | None = None  # its corpus_key

    def find(self, poems_in: list[str], method: str, n_themes: int | None,
             models: Callable[[], tuple[ModelBundle, ModelBundle | None]], training: bool,
             last_poems: list[tuple[float, str]], progress: Callable[[float, str], None] | None = None,
             backward_steps: int = BACKWARD_STEPS) -> ThemeReport:
        """Themes among `poems_in` by one of themes.methods.METHODS, or "all" to compare them, and where
        `last_poems` ((temperature, text) of the last comparison) fall among them. n_themes None: the
        best K-means silhouette on TF-IDF (2 to 10). `models()` gives the forward model and its shipped
        backward twin, if any (the embedding methods only). The embedding methods are refused while
        the session trains: both would compete for the same processor.
        """
        from poetry_lab.themes import (
            methods as th,  # late: scikit-learn is only needed here
        )
        from poetry_lab.themes.encoder import encoder_missing, encoder_ready
        from poetry_lab.themes.words import has_words

        plan = th.plan_themes(poems_in, method, n_themes, THEMES_MAX_POEMS)
        chosen, poems, n_themes, notes = plan.methods, plan.poems, plan.n_themes, plan.notes
        uses_lm = any(m in th.LM_METHODS for m in chosen)
        if training and (uses_lm or any(m in th.ENCODER_METHODS for m in chosen)):
            raise PoetryLabError("A training is running: the embedding methods would compete with it for the processor. "
                                 "Wait until it finishes or stop it, or use TF-IDF or LDA meanwhile.")
        say = progress or (lambda fraction, message: None)
        if n_themes is None:
            key = ("auto k", corpus_key(poems))
            if key not in self._fitted:
                say(0.0, "Choosing the number of themes")
                self._fitted[key] = th.auto_n_themes(poems)
            n_themes = self._fitted[key]
            notes.append(f"{n_themes} themes: the number that keeps the poems' word profiles best apart (silhouette, 2 to 10).")
        forward, backward = models() if uses_lm else (None, None)

        def step(fraction: float, m: str) -> None:
            slow = m in th.LM_METHODS and backward is None
            first = not encoder_ready(self.store) and encoder_missing() is None  # every method's words use it
            say(fraction, f"{th.METHODS[m]}: {SLOW_STEP if slow else ENCODER_STEP if first else 'fitting'}")

        with self.store.active():
            table, fitted = th.compare_methods(poems, n_themes, forward, backward, 0, chosen, progress=step,
                                               cache=self._fitted, backward_steps=backward_steps)
        while len(self._fitted) > THEMES_CACHE:
            self._fitted.pop(next(iter(self._fitted)))
        shown = method if method != "all" else str(table.loc[(table["coherence_npmi"] - table["coherence_npmi_chance"])
                                                             .fillna(-2.0).idxmax(), "method"])
        pipe, new = fitted[shown], [(t, text) for t, text in last_poems if has_words(text)]
        self._shown, self._shown_corpus = pipe, corpus_key(poems_in)
        say(0.97, "Placing the generated poems")
        texts = [text for _, text in new]
        points = pipe.map_points(texts, [f"{t:g}" for t, _ in new])  # short labels: the stars are often close
        return ThemeReport(shown, n_themes, poems, table, points, pipe.summary(), pipe.top_words_, pipe.topic_words_,
                           pipe.place(texts), [f"temperature {t:g}" for t, _ in new], notes)

    def subject(self, theme: int, corpus_poems: list[str], find: Callable[[], ThemeReport]) -> str:
        """Theme `theme` (1-based) of the themes last shown for `corpus_poems`, as a subject (its top words,
        compose.subject.theme_subject); where none were shown for these poems, `find()` finds them first."""
        from poetry_lab.compose.subject import theme_subject

        if self._shown is None or self._shown_corpus != corpus_key(corpus_poems):
            find()
        themes = self._shown.top_words_
        if not 1 <= theme <= len(themes):
            raise PoetryLabError(f"Choose one of themes 1 to {len(themes)}: your poems are sorted into {len(themes)} themes.")
        return theme_subject([w for w, _ in themes[theme - 1]])

    def place(self, texts: list[str], corpus_poems: list[str]) -> list[PoemTheme] | None:
        """Each text's theme and nearest corpus poem, with the themes last shown for these corpus poems; else None."""
        if self._shown is None or self._shown_corpus != corpus_key(corpus_poems):
            return None
        from poetry_lab.themes.words import has_words

        if not all(has_words(t) for t in texts):
            return None
        return [PoemTheme(theme=p.theme + 1, label=p.theme_label, words=p.theme_words[:4], nearest=p.nearest[0][1] if p.nearest else "")
                for p in self._shown.place(texts)]
