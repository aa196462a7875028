"""The themes part of a Lab session: themes of the loaded corpus, and where generated poems fall.

A mixin of poetry_lab.lab.Lab (it uses the Lab's corpus, bundle, job and last comparison).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from poetry_lab.checkpoint import ModelBundle
from poetry_lab.embeddings import backward_twin
from poetry_lab.errors import PoetryLabError

if TYPE_CHECKING:
    import pandas as pd

THEMES_MAX_POEMS = 3_000  # themes use at most this many poems (spread evenly): the embeddings read each poem twice
THEMES_CACHE = 8  # fitted theme methods kept per session (each holds its poems' vectors)
BACKWARD_STEPS = 400  # training of the backward reading model when none ships: ~25 s on a busy 2-core CPU
SLOW_STEP = "the first time, the model learns to read your poems backwards (about 25 seconds)"


class ThemesMixin:
    """Lab methods for themes; the Lab's __init__ sets _themes_cache, _theme_pipe and last_poems."""

    def themes(self, method: str = "tfidf", n_themes: int | None = 5, progress: Callable[[float, str], None] | None = None,
               backward_steps: int = BACKWARD_STEPS) -> ThemeReport:
        """Themes in the loaded corpus by one of themes.METHODS, or "all" to compare them, and where the
        poems of the last comparison fall among them. n_themes None: the best K-means silhouette on
        TF-IDF (2 to 10). progress(fraction, message) hears of each slower step. Fitted methods are
        kept per corpus, settings and model, so placing new poems never fits again. The embedding
        methods are refused while this session trains: both would compete for the same processor.
        """
        from poetry_lab import themes as th  # late: scikit-learn is only needed here

        if self.corpus is None:
            raise PoetryLabError("Load your poems first (tab Your poems, or a bundled corpus such as the Sonnets): "
                                 "themes are found among the poems of a corpus.")
        plan = th.plan_themes(self.corpus.poems, method, n_themes, THEMES_MAX_POEMS)
        methods, poems, n_themes, notes = plan.methods, plan.poems, plan.n_themes, plan.notes
        uses_lm = any(m in th.LM_METHODS for m in methods)
        if uses_lm and self.job is not None and self.job.running:
            raise PoetryLabError("A training is running: the embedding methods would compete with it for the processor. "
                                 "Wait until it finishes or stop it, or use TF-IDF or LDA meanwhile.")
        say = progress or (lambda fraction, message: None)
        if n_themes is None:
            key = ("auto k", hash(tuple(poems)))
            if key not in self._themes_cache:
                say(0.0, "Choosing the number of themes")
                self._themes_cache[key] = th.suggest_k(th.make_theme_pipeline("tfidf", 2).fit(poems).X_)
            n_themes = self._themes_cache[key]
            notes.append(f"{n_themes} themes: the number that keeps the poems' word profiles best apart (silhouette, 2 to 10).")
        forward, backward = (self.bundle, self._backward_model()) if uses_lm else (None, None)

        def step(fraction: float, m: str) -> None:
            slow = m in th.LM_METHODS and backward is None
            say(fraction, f"{th.METHODS[m]}: {SLOW_STEP if slow else 'fitting'}")

        table, fitted = th.compare_methods(poems, n_themes, forward, backward, 0, methods, progress=step,
                                           cache=self._themes_cache, backward_steps=backward_steps)
        while len(self._themes_cache) > THEMES_CACHE:
            self._themes_cache.pop(next(iter(self._themes_cache)))
        shown = method if method != "all" else str(table.loc[(table["coherence_npmi"] - table["coherence_npmi_chance"])
                                                             .fillna(-2.0).idxmax(), "method"])
        pipe, new = fitted[shown], [(t, text) for t, text in self.last_poems if th.has_words(text)]
        self._theme_pipe, pipe.corpus_key_ = pipe, hash(self.corpus.text)  # the comparison view places its poems too
        say(0.97, "Placing the generated poems")
        texts = [text for _, text in new]
        points = pipe.map_points(texts, [f"{t:g}" for t, _ in new])  # short labels: the stars are often close
        return ThemeReport(shown, n_themes, poems, table, points, pipe.summary(), pipe.top_words_, pipe.topic_words_,
                           pipe.place(texts), [f"temperature {t:g}" for t, _ in new], notes)

    def _backward_model(self) -> ModelBundle | None:
        """The shipped backward twin of the default model while it is the current one; else None (one is trained)."""
        from poetry_lab.lab import (  # late: lab imports this module
            _load_shared,
            default_model_path,
        )

        path = default_model_path()
        twin = backward_twin(path)
        return _load_shared(str(twin)) if twin is not None and self.bundle is _load_shared(str(path)) else None

    def _add_themes(self, results: list[dict]) -> None:
        """With themes fitted on the loaded corpus (the Themes tab), each poem gets its theme and nearest poem."""
        pipe = self._theme_pipe
        if pipe is None or self.corpus is None or pipe.corpus_key_ != hash(self.corpus.text):
            return
        from poetry_lab import themes as th

        texts = [r["text"] for r in results]
        if not all(th.has_words(t) for t in texts):
            return
        for r, p in zip(results, pipe.place(texts)):
            r["theme"] = {"theme": p.theme + 1, "words": p.theme_words[:4], "nearest": p.nearest[0][1] if p.nearest else ""}



@dataclass
class ThemeReport:
    """Lab.themes's answer, as plain data for poetry_lab.themes_figures and the app's render helpers."""

    method: str  # the method on the map; with "all", the one whose words are most coherent above chance
    n_themes: int
    poems: list[str]  # the corpus poems used (indices below refer to them)
    table: pd.DataFrame  # themes.compare_methods's table: one row per method fitted
    points: pd.DataFrame  # ThemePipeline.map_points: the corpus poems, and the last comparison's labelled by temperature
    summary: pd.DataFrame  # ThemePipeline.summary: theme, size, top_words, typical (indices), typical_lines
    top_words: list[list[tuple[str, float]]]
    topic_words: list[list[tuple[str, float]]] | None  # LDA's topics, for the mixtures (None without LDA)
    placements: list  # themes.Placement of each poem of the last comparison, in the order of labels
    labels: list[str]
    notes: list[str] = field(default_factory=list)
