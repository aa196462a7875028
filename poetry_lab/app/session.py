"""Lab: one user's session as a plain class with typed methods (corpus, training job, comparisons).

The app keeps one Lab per browser or API session; each UI handler calls one method here. Nothing
here knows about widgets: answers are dataclasses and dicts that the UI turns into widget values.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_lab.analysis import lens
from poetry_lab.analysis.metrics import CorpusIndex, sample_metrics
from poetry_lab.analysis.poetics import analyse_poem, to_json
from poetry_lab.app.runs_slot import RunsMixin
from poetry_lab.app.themes_slot import ThemesMixin
from poetry_lab.core.checkpoint import (
    ModelBundle,
    load_model,
    save_model,
)
from poetry_lab.core.sampling import Sample, SampleConfig, sample
from poetry_lab.core.train import TrainConfig
from poetry_lab.data.catalog import load_catalog
from poetry_lab.data.corpus import Corpus, CorpusStats, count_separators, load_corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.jobs import JobSnapshot, TrainingJob
from poetry_lab.runs.prepare import prepare_run
from poetry_lab.runs.presets import (
    FINETUNE_MODEL,
    FINETUNE_TRAIN,
    get_preset,
    model_settings,
)
from poetry_lab.settings import current_limits, default_model_path, home_dir

if TYPE_CHECKING:
    import pandas as pd

SMALL_CORPUS = 100_000  # below this, a poet is warned that training from scratch will do poorly
FINETUNE_BELOW = 500_000  # "automatic" fine-tunes the loaded model below this (benchmarks/bench_transfer.py)
REFERENCE_MAX_CHARS = 5_000_000
TINY_CORPUS = 20_000
ADVANCED_KEYS = {"cell", "layers", "hidden", "dropout", "emb_dim"}, {"seq_len", "batch_size", "lr", "epochs", "patience", "seed"}
LENS_CHARS = 4_000  # generated characters coloured by confidence: each is a span with a tooltip, ~150 bytes of HTML
SWEEP_CHARS = 60_000  # characters one sweep may write in all: about 10 s on a small CPU with the default model
@functools.lru_cache(maxsize=4)
def _load_shared(path: str) -> ModelBundle:
    """Models loaded from disk are shared read-only between sessions (sampling never changes them)."""
    return load_model(path, device="cpu")


@functools.lru_cache(maxsize=4)
def _reference_for(name: str) -> CorpusIndex | None:
    """The training text of a bundled corpus, for the copying checks; None if not on this machine.

    Corpora too large to index in a web server's memory (the 121 M-character pretraining corpus) get None.
    """
    entry = next((e for e in load_catalog() if name.lower() in (e.name, e.file.lower())), None)
    if entry is not None and entry.chars > REFERENCE_MAX_CHARS:
        return None
    try:
        return CorpusIndex(load_corpus([name]).text)
    except PoetryLabError:
        return None


@dataclass
class CorpusReport:
    name: str
    stats: CorpusStats
    warnings: list[str] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)  # the first poems, shortened

    def to_json(self) -> dict:
        return {"name": self.name, **asdict(self.stats), "warnings": list(self.warnings)}


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


class Lab(ThemesMixin, RunsMixin):
    """One user's workspace. Methods raise PoetryLabError for anything the user can fix."""

    def __init__(self, session: str | None = None, home: Path | None = None):
        self.session = session or uuid.uuid4().hex[:12]
        self.root = home or home_dir()  # runs: root/sessions/<session>/runs, or root/visitors/<id>/runs (use_visitor)
        self.home = self.root / "sessions" / re.sub(r"[^A-Za-z0-9_-]", "_", self.session)
        self.corpus: Corpus | None = None
        self.job: TrainingJob | None = None
        self._bundle: ModelBundle | None = None  # None: the shared default model
        self._reference: CorpusIndex | None = None
        self.last_poems: list[tuple[float, str]] = []  # (temperature, text) of the last comparison, for the themes map
        self._themes_cache: dict = {}  # themes.compare_methods's fitted methods, oldest first
        self._theme_pipe = None  # the themes last shown, for the comparison view's theme labels
        self._adopted: TrainingJob | None = None  # the finished job whose model became the loaded model

    # --- models ------------------------------------------------------------------------------
    @property
    def bundle(self) -> ModelBundle:
        """The model used for generation: a running job's best snapshot, else the loaded model."""
        if self.job is not None:
            if not self.job.running:
                self.finish_job()
            elif (best := self.job.best_bundle()) is not None:
                return best
        if self._bundle is None:
            path = default_model_path()
            if not path.is_file():
                raise PoetryLabError("No model is loaded yet: train one on your poems or load a model file.")
            self._bundle = _load_shared(str(path))
            self._reference = _reference_for(self._bundle.facts.get("corpus", "")) if self._bundle.facts.get("corpus") else None
        return self._bundle

    def model_summary(self) -> str:
        b = self.bundle
        c, f = b.model.config, b.facts
        best = f.get("best_val_loss")
        loss = f", validation {best:.3f} nats/char" if isinstance(best, (int, float)) else ""
        return f"{c.cell.upper()} {c.layers}x{c.hidden}, {b.model.num_params():,} parameters, trained on {f.get('corpus', 'unknown text')}{loss}"

    def load_model_file(self, path: str | Path) -> str:
        if self.job is not None and self.job.running:
            raise PoetryLabError("A training is running and its model is the one in use. Stop it first, then load the file.")
        self.finish_job()  # adopt a finished job first, so the file loaded now replaces its model
        self._bundle = load_model(path, device="cpu")
        self._reference = CorpusIndex(self.corpus.text) if self.corpus is not None else None
        return f"Loaded {Path(path).name}: {self.model_summary()}"

    def model_file(self) -> Path:
        """The current model as one .safetensors file (for download)."""
        job = self.job
        in_use = job is not None and (job.running or self.bundle is job.best_bundle())  # not replaced by a loaded file
        saved = job.snapshot().model_path if in_use else None
        if saved:
            return Path(saved)
        b = self.bundle
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(b.facts.get("corpus", "model")))[:40] or "model"
        return save_model(self.home / "downloads" / f"poetry_lab_{name}.safetensors", b)

    # --- corpus ------------------------------------------------------------------------------
    def load_corpus(self, files: list[str] | None = None, text: str | None = None, bundled: str | None = None, lowercase: bool = False) -> CorpusReport:
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
    def start_training(self, preset: str = "quick", minutes: float | None = None, start_from: str = "auto", advanced: dict | None = None) -> str:
        if self.corpus is None:
            raise PoetryLabError("Load a corpus first: upload your poems, paste them, or pick a bundled corpus.")
        if self.job is not None and self.job.running:
            raise PoetryLabError("A training is already running. Stop it first, or wait until it finishes.")
        p = get_preset(preset)
        model_kw, train_kw = model_settings(p, len(self.corpus.text)), dict(p.train)
        for key, value in (advanced or {}).items():
            if value is None or value == "":
                continue
            if key in ADVANCED_KEYS[0]:
                model_kw[key] = value
            elif key in ADVANCED_KEYS[1]:
                train_kw[key] = value
        if train_kw.get("epochs"):
            train_kw["minutes"] = minutes  # whichever limit comes first, if both are given
        elif minutes is not None:
            if not 0 < float(minutes) <= 24 * 60:
                raise PoetryLabError("The time budget must be between a few seconds and 24 hours.")
            train_kw["minutes"] = float(minutes)
        if start_from == "auto":
            start_from = "loaded" if len(self.corpus.text) < FINETUNE_BELOW and default_model_path().is_file() else "scratch"
        if start_from not in ("scratch", "loaded"):
            raise PoetryLabError("Start from must be 'scratch' or 'loaded'.")
        base = self.bundle if start_from == "loaded" else None
        if base is not None:  # a gentler start that keeps what the base model knows, unless asked otherwise
            if not (advanced or {}).get("lr"):
                train_kw.update(FINETUNE_TRAIN)
            if (advanced or {}).get("dropout") in (None, ""):
                model_kw.update(FINETUNE_MODEL)
        run = prepare_run(self.corpus, model_kw, TrainConfig(**train_kw), base=base, limits=current_limits())
        out = self.home / "runs" / uuid.uuid4().hex[:8]
        job = TrainingJob(run, out)
        job.start()
        self.job, self._reference = job, CorpusIndex(self.corpus.text)
        how = "fine-tuning the loaded model" if base is not None else "from scratch"
        return f"Training started ({p.name}, {how}, {train_kw.get('minutes') or '-'} min budget)."

    def training_status(self) -> JobSnapshot:
        return self.job.snapshot() if self.job is not None else JobSnapshot(state="idle", message="No training yet.")

    def stop_training(self) -> str:
        if self.job is None or not self.job.running:
            return "No training is running."
        self.job.stop()
        return "Stopping: the best model so far is kept."

    def finish_job(self) -> None:
        """Adopt a finished job's model as the loaded model, once: a model loaded later replaces it."""
        if self.job is not None and not self.job.running and self._adopted is not self.job:
            best = self.job.best_bundle()
            if best is not None:
                self._bundle = best
            self._adopted = self.job

    # --- generation --------------------------------------------------------------------------
    def compare(self, prompt: str = "", temperatures: str | list[float] = "0.2,0.5,1.0,1.2", chars: int | None = 400,
                seed: int | None = 0, top_k: int | None = None, top_p: float | None = None, lines: int | None = None) -> list[dict]:
        _, samples = self._sample(prompt, temperatures, chars, seed, top_k, top_p, lines)
        return [self._numbers(s) for s in samples]

    def _sample(self, prompt, temperatures, chars, seed, top_k, top_p, lines) -> tuple[ModelBundle, list[Sample]]:
        """compare()'s poems and the model that wrote them (while training, the best snapshot can change)."""
        temps = parse_temperatures(temperatures)
        if not 1 <= len(temps) <= 6:
            raise PoetryLabError("Compare between 1 and 6 temperatures at once.")
        self.finish_job()
        bundle = self.bundle
        cfg = SampleConfig(temperatures=temps, max_chars=int(chars or 400) if not lines else min(int(chars or 2000), 20_000),
                           lines=int(lines) if lines else None, top_k=int(top_k) if top_k else None,
                           top_p=float(top_p) if top_p else None, seed=None if seed is None or seed == "" else int(seed))
        prompt = (prompt or "")[-current_limits().max_prompt_chars:]  # its end: what the model remembers anyway
        samples = sample(bundle.model, bundle.vocab, prompt, cfg)
        self.last_poems = [(s.temperature, s.text) for s in samples]
        return bundle, samples

    def _numbers(self, s: Sample) -> dict:
        return {"temperature": s.temperature, "text": s.text, "bits_per_char": round(s.bits_per_char, 4),
                **sample_metrics(s.continuation, self._reference), "unknown_chars": "".join(s.unknown_chars)}

    def compare_lens(self, prompt: str = "", temperatures: str | list[float] = "0.2,0.5,1.0,1.2", chars: int | None = 400,
                     seed: int | None = 0, top_k: int | None = None, top_p: float | None = None,
                     lines: int | None = None) -> list[dict]:
        """compare()'s poems, each with what the poet's lens shows besides its numbers:

        - "analysis": poetics.to_json of the whole text, prompt included (rhyme scheme, metre and
          its regularity, syllables and stress per line);
        - "confidence": lens.char_confidence of the first LENS_CHARS generated characters, under
          the model that wrote them (items after the prompt: char, prob, top alternatives);
        - "copies": lens.copy_highlights of the whole text (the prompt can be a quotation), or
          None when the training text is unknown;
        - "prompt_len": where the generated text starts.
        """
        bundle, samples = self._sample(prompt, temperatures, chars, seed, top_k, top_p, lines)
        results = []
        for s in samples:
            n = len(s.prompt)
            results.append({**self._numbers(s), "prompt_len": n, "analysis": to_json(analyse_poem(s.text)),
                            "confidence": lens.char_confidence(bundle.model, bundle.vocab, s.text[:n + LENS_CHARS], n),
                            "copies": None if self._reference is None else lens.copy_highlights(s.text, self._reference)})
        self._add_themes(results)
        return results

    def sweep(self, temperatures: str | list[float] = lens.SWEEP_TEMPERATURES, samples: int | None = 5, chars: int | None = 400,
              seed: int | None = 0, prompt: str = "") -> pd.DataFrame:
        """Several poems at each temperature and their numbers: lens.sweep's DataFrame (one row per poem).

        Copying is measured against the model's training text when it is known. At most
        SWEEP_CHARS characters in all, so a sweep stays a matter of seconds.
        """
        temps = parse_temperatures(temperatures)
        if not 1 <= len(temps) <= 12:
            raise PoetryLabError("Sweep between 1 and 12 temperatures at once.")
        if not samples or int(samples) < 1 or not chars or int(chars) < 1:
            raise PoetryLabError("Ask for at least one poem per temperature, each at least one character long.")
        total = len(temps) * int(samples) * int(chars)
        if total > SWEEP_CHARS:
            raise PoetryLabError(f"That sweep would write {total:,} characters; the limit is {SWEEP_CHARS:,} "
                                 "(temperatures x poems x length). Ask for fewer or shorter poems.")
        self.finish_job()
        bundle = self.bundle
        return lens.sweep(bundle.model, bundle.vocab, temps, int(samples), int(chars),
                          None if seed is None or seed == "" else int(seed), self._reference, prompt or "")

    def close(self) -> None:
        """End of the session: stop its job. Its run directory (config, metrics, model) is kept."""
        if self.job is not None:
            self.job.stop()
            self.job.join(timeout=10)


def parse_temperatures(value: str | list[float]) -> list[float]:
    if isinstance(value, str):
        try:
            return [float(t) for t in re.split(r"[,\s;]+", value.strip()) if t]
        except ValueError:
            raise PoetryLabError(f"Temperatures should be numbers separated by commas, like 0.2, 0.5, 1.0 (got '{value}').") from None
    return [float(t) for t in value]

