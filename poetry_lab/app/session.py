"""Session: one user's workspace, composed of a model slot, a training slot, a themes slot and a compose slot.

The app keeps one Session per browser tab or API client; each UI handler calls one method here.
Nothing here knows about widgets: answers are typed (poetry_lab.app.results), and methods raise
PoetryLabError for anything the user can fix.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_lab.analysis import lens
from poetry_lab.analysis.metrics import CorpusIndex, sample_metrics
from poetry_lab.analysis.poetics import analyse_poem
from poetry_lab.app.compose_slot import ComposeSlot
from poetry_lab.app.model_slot import ModelSlot, model_summary, shared_model
from poetry_lab.app.results import CorpusReport, PoemNumbers, PoemView, ThemeReport
from poetry_lab.app.themes_slot import BACKWARD_STEPS, ThemesSlot
from poetry_lab.app.training_slot import TrainingSlot
from poetry_lab.compose import Candidate, ComposeConfig, Poem
from poetry_lab.compose.forms import DEFAULT_FORM
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.core.defaults import (
    COMPARE_TEMPERATURES,
    COMPOSE_TEMPERATURES,
    DEFAULT_SEED,
    DEFAULT_THEMES,
    MAX_TEMPERATURES,
    SWEEP_MAX_TEMPERATURES,
    SWEEP_TEMPERATURES,
)
from poetry_lab.core.sampling import Sample, SampleConfig, sample
from poetry_lab.core.train import TrainConfig
from poetry_lab.data.catalog import load_catalog
from poetry_lab.data.corpus import Corpus, count_separators, load_corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.jobs import JobSnapshot, TrainingJob
from poetry_lab.runs.listing import RunInfo
from poetry_lab.runs.prepare import prepare_run
from poetry_lab.runs.presets import (
    FINETUNE_BELOW,
    FINETUNE_MODEL,
    SMALL_CORPUS,
    TINY_CORPUS,
    get_preset,
    model_settings,
    patience_settings,
    train_settings,
)
from poetry_lab.settings import current_limits, default_model_path, home_dir
from poetry_lab.store import Store
from poetry_lab.themes.embeddings import backward_twin
from poetry_lab.themes.methods import DEFAULT_METHOD as DEFAULT_THEME_METHOD

if TYPE_CHECKING:
    import pandas as pd

MODEL_KEYS = {"cell", "layers", "hidden", "dropout", "emb_dim"}  # advanced settings that shape the model
TRAIN_KEYS = {"seq_len", "batch_size", "lr", "epochs", "patience", "seed"}  # ... and those that shape the training
LENS_CHARS = 4_000  # generated characters coloured by confidence: each is a span with a tooltip, ~150 bytes of HTML
SWEEP_CHARS = 60_000  # characters one sweep may write in all: about 10 s on a small CPU with the default model


def corpus_warnings(corpus: Corpus, model: ModelBundle | None) -> list[str]:
    """What a poet should know about a corpus before training on it: plain notes, in the app's own terms."""
    st, out = corpus.stats, []
    if st.chars < TINY_CORPUS:
        out.append(f"Only {st.chars:,} characters: a new model would mostly memorise them, so training "
                   "(Start from: automatic) fine-tunes the loaded model on them instead.")
    elif st.chars < SMALL_CORPUS:
        out.append(f"{st.chars:,} characters is a small corpus: training (Start from: automatic) fine-tunes the loaded "
                   "model, which gives better poems than starting from scratch.")
    if st.distinct_chars > 200:
        out.append(f"The text uses {st.distinct_chars} different characters; rare ones will be hard for a small model to learn.")
    if not corpus.is_verse and len(corpus.poems) < 4:  # too few poems to hold whole ones out
        out.append(f"Only {len(corpus.poems)} poem{'' if len(corpus.poems) == 1 else 's'}: validation uses the last 10% "
                   "of the text, cut at a line break.")
    elif not corpus.is_verse:
        out.append("This looks like prose (long lines): fine for training; validation uses the last 10% of the text.")
    separators = count_separators(corpus.text)
    if separators:
        many = separators > 1
        out.append(f"{separators} block{'s' if many else ''} without letters (such as * * * or a line of underscores) "
                   f"{'are not counted as poems' if many else 'is not counted as a poem'}; the model still reads {'them' if many else 'it'}.")
    repeated = len(corpus.poems) - len({" ".join(p.split()) for p in corpus.poems})
    if repeated:  # Corpus.split keeps such copies out of the validation text
        out.append(f"{repeated} poem{'s' if repeated > 1 else ''} appear{'' if repeated > 1 else 's'} more than once "
                   "(a file added twice?): copies are left out of the validation text, so its score stays honest.")
    if model is not None:
        missing = model.vocab.unknown_chars(corpus.text)
        if missing:
            shown = "".join(missing[:20]).replace("\n", "⏎")
            out.append(f"The loaded model has never seen {len(missing)} of these characters ({shown}); fine-tuning adds them.")
    return out


class Session:
    """One user's workspace. Methods raise PoetryLabError for anything the user can fix."""

    def __init__(self, session: str | None = None, home: Path | None = None, store: Store | None = None):
        self.session = session or uuid.uuid4().hex[:12]
        self.store = store if store is not None else Store()  # not `or`: an empty Store is falsy (it has a len)
        self.model = ModelSlot(self.store)
        self.training = TrainingSlot(home or home_dir(), self.session)
        self.themes_slot = ThemesSlot(self.store)
        self.compose_slot = ComposeSlot(self.store)
        self.corpus: Corpus | None = None
        self.last_poems: list[tuple[float, str]] = []  # (temperature, text) of the last comparison, for the themes map

    @property
    def job(self) -> TrainingJob | None:
        return self.training.job

    @property
    def home(self) -> Path:
        return self.training.home

    # --- models ------------------------------------------------------------------------------
    @property
    def bundle(self) -> ModelBundle:
        """The model used for generation (see _current). Only reads: finish_job is what takes a model up."""
        return self._current()[0]

    def _current(self) -> tuple[ModelBundle, CorpusIndex | None]:
        """The current model and the copy index of its training text, read together: a running job's best
        snapshot, else a finished job's best model (the same whether finish_job has taken it up yet or not),
        else the model slot's."""
        trained = self.training.live_model()
        if trained is None:
            trained = self.training.unadopted_model()
        if trained is not None:
            return trained, self.training.reference
        return self.model.bundle, self.model.reference

    def finish_job(self) -> None:
        """Adopt a finished job's model as the loaded model, once: a model loaded later replaces it.

        Called wherever the job or the model is about to be replaced (a new, resumed or found training,
        a file loaded, a download) and by the page's poll once the job ends; reading never calls it."""
        best = self.training.take_finished()
        if best is not None:
            self.model.use(best, self.training.reference)

    def model_summary(self) -> str:
        return model_summary(self.bundle)

    def load_model_file(self, path: str | Path) -> str:
        self.training.refuse_if_running("A training is running and its model is the one in use. Stop it first, then load the file.")
        self.finish_job()  # adopt a finished job first, so the file loaded now replaces its model
        self.model.load_file(path, self.corpus.text if self.corpus is not None else None)
        return f"Loaded {Path(path).name}: {self.model_summary()}"

    def model_file(self) -> Path:
        """The current model as one .safetensors file (for download)."""
        self.finish_job()  # a finished job's model is the loaded model from here on
        job = self.training.job
        in_use = job is not None and (job.running or self.bundle is job.best_bundle())  # not replaced by a loaded file
        saved = job.snapshot().model_path if in_use else None
        if saved:
            return Path(saved)
        return self.model.save_copy(self.home / "downloads")

    # --- corpus ------------------------------------------------------------------------------
    def load_corpus(self, files: list[str] | None = None, text: str | None = None, bundled: str | None = None,
                    lowercase: bool = False) -> CorpusReport:
        if bundled and bundled.lower() not in {e.name for e in load_catalog()}:
            # A bundled name must never be a path: API clients must not read the server's files.
            raise PoetryLabError(f"There is no bundled corpus called '{bundled}'.")
        sources = list(files or []) + ([bundled] if bundled else [])
        limits = current_limits()
        corpus = load_corpus(sources, text=text, lowercase=lowercase, max_bytes=limits.max_upload_bytes, max_files=limits.max_files)
        self.corpus = corpus
        try:
            model = self.bundle
        except PoetryLabError:
            model = None
        preview = [p if len(p) <= 600 else p[:600] + " ..." for p in corpus.poems[:3]]
        return CorpusReport(name=corpus.name, stats=corpus.stats, warnings=corpus_warnings(corpus, model), preview=preview)

    # --- training ----------------------------------------------------------------------------
    def start_training(self, preset: str = "quick", minutes: float | None = None, start_from: str = "auto",
                       advanced: dict | None = None) -> str:
        """Train on the loaded corpus in the background. `advanced`: settings that override the preset's
        (MODEL_KEYS and TRAIN_KEYS); None or "" keeps the preset's choice."""
        if self.corpus is None:
            raise PoetryLabError("Load a corpus first: upload your poems, paste them, or pick a bundled corpus.")
        self.training.refuse_if_running("A training is already running. Stop it first, or wait until it finishes.")
        self.finish_job()  # the last training's model stays the loaded model when the new job replaces it
        p, chars = get_preset(preset), len(self.corpus.text)
        advanced = {k: v for k, v in (advanced or {}).items() if v is not None and v != ""}
        unknown = set(advanced) - MODEL_KEYS - TRAIN_KEYS
        if unknown:
            raise PoetryLabError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
        if minutes is not None and not 0 < float(minutes) <= 24 * 60:
            raise PoetryLabError("The time budget must be between a few seconds and 24 hours.")
        if start_from == "auto":
            start_from = "loaded" if chars < FINETUNE_BELOW and default_model_path().is_file() else "scratch"
        if start_from not in ("scratch", "loaded"):
            raise PoetryLabError("Start from must be 'scratch' or 'loaded'.")
        base = self.bundle if start_from == "loaded" else None
        model_kw = model_settings(p, chars)
        # A fine-tune gets a gentler start that keeps what the base model knows, unless a learning rate is asked for.
        train_kw = train_settings(p, chars, finetune=base is not None and "lr" not in advanced, minutes=minutes)
        if base is not None and "dropout" not in advanced:
            model_kw.update(FINETUNE_MODEL)
        model_kw.update({k: v for k, v in advanced.items() if k in MODEL_KEYS})
        train_kw.update({k: v for k, v in advanced.items() if k in TRAIN_KEYS and k != "patience"})
        train_kw.update(patience_settings(advanced.get("patience")))
        if train_kw.get("epochs") and minutes is None:
            train_kw["minutes"] = None  # epochs alone: the server's time limit still applies (check_limits)
        run = prepare_run(self.corpus, model_kw, TrainConfig(**train_kw), base=base, limits=current_limits())
        self.training.start(run)
        how = "fine-tuning the loaded model" if base is not None else "from scratch"
        budget = f"{train_kw['minutes']:g} min budget" if train_kw.get("minutes") else f"{train_kw['epochs']:g} epochs"
        sized = "" if minutes is not None or not train_kw.get("minutes") else f" for {chars:,} characters"
        stops = "; it stops sooner once it stops improving" if train_kw.get("patience") else ""
        return f"Training started ({p.name}, {how}, {budget}{sized}{stops})."

    def training_status(self) -> JobSnapshot:
        return self.training.status()

    def stop_training(self) -> str:
        return self.training.stop()

    # --- runs kept on disk -------------------------------------------------------------------
    def use_visitor(self, visitor_id: str | None) -> str:
        self.finish_job()  # a training found running under the visitor's folder may replace the job
        return self.training.use_visitor(visitor_id)

    def list_runs(self) -> list[RunInfo]:
        return self.training.list_runs()

    def load_run(self, run_id: str | None) -> str:
        """Make the run's best model the loaded model."""
        info, bundle, reference = self.training.load_run(run_id)
        self.model.use(bundle, reference)
        loss = "" if info.best_val_loss is None else f" (validation loss {info.best_val_loss:.3f} nats/char)"
        return f"Loaded the best model of run {info.id}{loss}."

    def resume_run(self, run_id: str | None) -> str:
        """Continue an interrupted or stopped run as this session's training job."""
        self.finish_job()  # the resumed job replaces the finished one
        info, _ = self.training.resume_run(run_id)
        left = "" if info.minutes_left is None else f", {info.minutes_left:g} min of its budget left"
        return f"Training resumed: run {info.id} goes on from step {info.steps}{left}."

    # --- generation --------------------------------------------------------------------------
    def compare(self, prompt: str = "", temperatures: str | list[float] = COMPARE_TEMPERATURES, chars: int | None = 400,
                seed: int | None = DEFAULT_SEED, top_k: int | None = None, top_p: float | None = None,
                lines: int | None = None) -> list[PoemNumbers]:
        """One poem per temperature, from the same prompt and seed, each with its numbers."""
        _, samples, reference = self._sample(prompt, temperatures, chars, seed, top_k, top_p, lines)
        return [PoemNumbers(**self._numbers(s, reference)) for s in samples]

    def _sample(self, prompt, temperatures, chars, seed, top_k, top_p, lines) -> tuple[ModelBundle, list[Sample], CorpusIndex | None]:
        """compare()'s poems, the model that wrote them (while training, the best snapshot can change)
        and the copy index of its training text."""
        temps = parse_temperatures(temperatures)
        if not 1 <= len(temps) <= MAX_TEMPERATURES:
            raise PoetryLabError(f"Compare between 1 and {MAX_TEMPERATURES} temperatures at once.")
        bundle, reference = self._current()
        cfg = SampleConfig(temperatures=temps, max_chars=int(chars or 400) if not lines else min(int(chars or 2000), 20_000),
                           lines=int(lines) if lines else None, top_k=int(top_k) if top_k else None,
                           top_p=float(top_p) if top_p else None, seed=None if seed is None or seed == "" else int(seed))
        prompt = (prompt or "")[-current_limits().max_prompt_chars:]  # its end: what the model remembers anyway
        samples = sample(bundle.model, bundle.vocab, prompt, cfg)
        self.last_poems = [(s.temperature, s.text) for s in samples]
        return bundle, samples, reference

    @staticmethod
    def _numbers(s: Sample, reference: CorpusIndex | None) -> dict:
        return {"temperature": s.temperature, "text": s.text, "bits_per_char": round(s.bits_per_char, 4),
                **sample_metrics(s.continuation, reference), "unknown_chars": "".join(s.unknown_chars)}

    def compare_lens(self, prompt: str = "", temperatures: str | list[float] = COMPARE_TEMPERATURES, chars: int | None = 400,
                     seed: int | None = DEFAULT_SEED, top_k: int | None = None, top_p: float | None = None,
                     lines: int | None = None) -> list[PoemView]:
        """compare()'s poems, each with what the poet's lens shows besides its numbers: the rhyme and
        metre of the whole text (prompt included), the model's confidence in the first LENS_CHARS
        generated letters, the passages copied from the training text (None when it is unknown), and,
        once the Themes tab has found themes in the loaded corpus, each poem's theme.
        """
        bundle, samples, reference = self._sample(prompt, temperatures, chars, seed, top_k, top_p, lines)
        views = []
        for s in samples:
            n = len(s.prompt)
            views.append(PoemView(**self._numbers(s, reference), prompt_len=n, analysis=analyse_poem(s.text),
                                  confidence=lens.char_confidence(bundle.model, bundle.vocab, s.text[:n + LENS_CHARS], n),
                                  copies=None if reference is None else lens.copy_highlights(s.text, reference)))
        placed = self.themes_slot.place([v.text for v in views], self.corpus.poems) if self.corpus is not None else None
        for view, theme in zip(views, placed or []):
            view.theme = theme
        return views

    def sweep(self, temperatures: str | list[float] = SWEEP_TEMPERATURES, samples: int | None = 5, chars: int | None = 400,
              seed: int | None = DEFAULT_SEED, prompt: str = "") -> pd.DataFrame:
        """Several poems at each temperature and their numbers: lens.sweep's DataFrame (one row per poem).

        Copying is measured against the model's training text when it is known. At most
        SWEEP_CHARS characters in all, so a sweep stays a matter of seconds.
        """
        temps = parse_temperatures(temperatures)
        if not 1 <= len(temps) <= SWEEP_MAX_TEMPERATURES:
            raise PoetryLabError(f"Sweep between 1 and {SWEEP_MAX_TEMPERATURES} temperatures at once.")
        if not samples or int(samples) < 1 or not chars or int(chars) < 1:
            raise PoetryLabError("Ask for at least one poem per temperature, each at least one character long.")
        total = len(temps) * int(samples) * int(chars)
        if total > SWEEP_CHARS:
            raise PoetryLabError(f"That sweep would write {total:,} characters; the limit is {SWEEP_CHARS:,} "
                                 "(temperatures x poems x length). Ask for fewer or shorter poems.")
        bundle, reference = self._current()
        return lens.sweep(bundle.model, bundle.vocab, temps, int(samples), int(chars),
                          None if seed is None or seed == "" else int(seed), reference, prompt or "")

    # --- poems in form ------------------------------------------------------------------------
    def compose(self, form: str = DEFAULT_FORM, lines: int | None = None, prompt: str = "",
                temperatures: str | list[float] = COMPOSE_TEMPERATURES, seed: int | None = DEFAULT_SEED, raw: bool = False,
                letters: bool = False, about: str = "", theme: int | None = None) -> list[Poem]:
        """One poem in `form` per temperature, with one shared seed (None: a fresh one), starting from the
        poet's own opening lines (`prompt`, one per line). `raw`: plain letter-by-letter sampling instead;
        `letters`: the character model writes in form even where the model has a word-level writer;
        `about`: the poem's subject ("the sea at night"), kept when a line or the poem is written again;
        `theme`: theme K (1-based) of the loaded poems instead (theme_subject: its top words are the subject)."""
        if theme is not None:
            if (about or "").strip():
                raise PoetryLabError("Name a subject or choose a theme, not both.")
            about = self.theme_subject(theme)
        config = ComposeConfig(form=form, lines=lines, temperature=0.8, seed=seed, prompt=(prompt or "")[-current_limits().max_prompt_chars:],
                               raw=raw, letters=letters, about=about or "")
        poems = self.compose_slot.write(self._composer(), config, parse_temperatures(temperatures))
        self.last_poems = [(p.temperature, p.text) for p in poems]  # the themes map places them as stars
        return poems

    def _composer(self):
        return self.compose_slot.composer(*self._current())

    def rewrite_poem(self, column: int, keep: list[int], lines: list[str] | None = None) -> Poem:
        """The poem in `column` written again around the lines kept (0-based; their text from `lines`, the
        poet's edit, if given)."""
        return self.compose_slot.rewrite(self._composer(), column, keep, lines)

    def rewrite_line(self, column: int, line: int) -> Poem:
        """Line `line` (0-based) of the poem in `column` written again; every other line stays."""
        return self.compose_slot.rewrite_line(self._composer(), column, line)

    def line_candidates(self, column: int, line: int) -> list[Candidate]:
        return self.compose_slot.candidates(column, line)

    # --- themes ------------------------------------------------------------------------------
    def theme_subject(self, theme: int) -> str:
        """Theme `theme` (1-based) of the loaded poems as a subject: of the themes last shown for them, or
        else of the default method's DEFAULT_THEMES themes, found now."""
        if self.corpus is None:
            raise PoetryLabError("Load your poems first (tab Your poems, or a bundled corpus such as the Sonnets): "
                                 "a theme is one of the themes of your poems.")
        return self.themes_slot.subject(int(theme), self.corpus.poems, lambda: self.themes(DEFAULT_THEME_METHOD, DEFAULT_THEMES))

    def themes(self, method: str = DEFAULT_THEME_METHOD, n_themes: int | None = DEFAULT_THEMES, progress: Callable[[float, str], None] | None = None,
               backward_steps: int = BACKWARD_STEPS) -> ThemeReport:
        """Themes in the loaded corpus (see ThemesSlot.find), and where the last comparison's poems fall."""
        if self.corpus is None:
            raise PoetryLabError("Load your poems first (tab Your poems, or a bundled corpus such as the Sonnets): "
                                 "themes are found among the poems of a corpus.")
        return self.themes_slot.find(self.corpus.poems, method, n_themes, self._theme_models,
                                     self.training.running, self.last_poems, progress, backward_steps)

    def _theme_models(self) -> tuple[ModelBundle, ModelBundle | None]:
        """The current model, and the shipped backward twin of the default model while it is the current one."""
        forward = self.bundle
        twin = backward_twin(default_model_path()) if self.model.is_default() else None
        return forward, (shared_model(self.store, twin) if twin is not None else None)

    def close(self) -> None:
        """End of the session: stop its job. Its run directory (config, metrics, model) is kept."""
        self.training.close()


def parse_temperatures(value: str | list[float]) -> list[float]:
    if isinstance(value, str):
        try:
            return [float(t) for t in re.split(r"[,\s;]+", value.strip()) if t]
        except ValueError:
            raise PoetryLabError(f"Temperatures should be numbers separated by commas, like 0.2, 0.5, 1.0 (got '{value}').") from None
    return [float(t) for t in value]

