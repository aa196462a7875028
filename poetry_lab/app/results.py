"""What a session answers, as types: the UI renders from these, and only the JSON API turns them into dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from poetry_lab.analysis.lens import CharConfidence, CopiedPassage
from poetry_lab.analysis.poetics import PoemAnalysis
from poetry_lab.data.corpus import CorpusStats

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class CorpusReport:
    """Session.load_corpus's answer."""

    name: str
    stats: CorpusStats
    warnings: list[str] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)  # the first poems, shortened

    def to_json(self) -> dict:
        return {"name": self.name, **asdict(self.stats), "warnings": list(self.warnings)}


@dataclass
class PoemTheme:
    """Where a written poem falls among the corpus's themes (after the Themes tab found them)."""

    theme: int  # 1-based, as shown
    label: str  # its two or three most distinctive words
    words: list[str]
    nearest: str  # the first line of the nearest corpus poem


@dataclass
class PoemNumbers:
    """One poem of a comparison with its numbers: the /compare API's item."""

    temperature: float
    text: str  # prompt + continuation
    bits_per_char: float  # the model's own surprise at the continuation, at temperature 1
    copied_4gram_share: float | None  # None: the training text is unknown
    longest_copy: str
    longest_copy_chars: int
    distinct_2: float
    repeated_lines: int
    unknown_chars: str  # prompt characters the model never saw

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class PoemView(PoemNumbers):
    """A poem as the comparison view shows it: its numbers, and what the poet's lens adds."""

    prompt_len: int = 0  # where the generated text starts
    analysis: PoemAnalysis | None = None  # rhyme scheme, metre and its regularity, per line of the whole text
    confidence: list[CharConfidence] = field(default_factory=list)  # of the generated letters (the first LENS_CHARS)
    copies: list[CopiedPassage] | None = None  # None when the training text is unknown
    theme: PoemTheme | None = None


@dataclass
class ThemeReport:
    """Session.themes's answer, as plain data for poetry_lab.figures.themes and the app's render helpers."""

    method: str  # the method on the map; with "all", the one whose words are most coherent above chance
    n_themes: int
    poems: list[str]  # the corpus poems used (indices below refer to them)
    table: pd.DataFrame  # themes.methods.compare_methods's table: one row per method fitted
    points: pd.DataFrame  # ThemePipeline.map_points: the corpus poems, and the last comparison's labelled by temperature
    summary: pd.DataFrame  # ThemePipeline.summary: theme, size, top_words, typical (indices), typical_lines
    top_words: list[list[tuple[str, float]]]
    topic_words: list[list[tuple[str, float]]] | None  # LDA's topics, for the mixtures (None without LDA)
    placements: list  # themes.methods.Placement of each poem of the last comparison, in the order of labels
    labels: list[str]
    notes: list[str] = field(default_factory=list)
