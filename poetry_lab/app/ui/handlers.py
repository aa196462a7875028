"""Handlers: named widget values -> one Session call -> named widget values. Plain functions, testable
without a server.

Each takes the Session first (SessionRegistry supplies it). A page handler takes its inputs by name
(keyword arguments, wired to widgets by name in its tab through SessionRegistry.action) and answers
a dict of named outputs; an output it leaves out keeps its value. SessionRegistry.action is the
page's error boundary: a PoetryLabError becomes a toast plus the status line, anything unexpected
is logged and shown as one short sentence. API handlers (`api_*`) answer JSON (the one place where
results become dicts) and turn errors into gr.Error, which a client receives with the same message.
"""

from __future__ import annotations

import functools
import inspect
import logging
import shutil
import tempfile
import time
import typing
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio.data_classes import FileData

from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.sessions import user_message
from poetry_lab.data.catalog import available_corpora
from poetry_lab.errors import PoetryLabError
from poetry_lab.figures import lens as lens_figures
from poetry_lab.figures import themes as themes_figures
from poetry_lab.figures import training as figures
from poetry_lab.themes.methods import METHODS

log = logging.getLogger(__name__)

MAX_BUNDLED_CHARS = 10_000_000  # bigger corpora (gutenberg_poetry, 121 M chars) would stall a small server
SCRATCH_MAX_AGE_S = 3600  # files handed to Gradio for download are kept this long (it copies them at once)
DEFAULT_CHARS, DEFAULT_LINES, SWEEP_SAMPLES = 400, 8, 5  # what an emptied (or 0) length or count field means
SNAPSHOT_KEYS = ("state", "step", "epoch", "train_loss", "val_loss", "best_val_loss", "elapsed_s", "message")


@functools.cache
def _number_params(fn) -> tuple[inspect.Signature, dict[str, type]]:
    """The parameters of an API function annotated as numbers (int or float, maybe None)."""
    numbers = {}
    for name, hint in typing.get_type_hints(fn).items():
        kinds = [t for t in (typing.get_args(hint) or (hint,)) if t in (int, float)]
        if kinds and name != "return":
            numbers[name] = kinds[0]
    return inspect.signature(fn), numbers


def _as_numbers(fn, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """API clients can send anything: numbers given as text are read, anything else gets a plain message."""
    signature, numbers = _number_params(fn)
    bound = signature.bind_partial(*args, **kwargs)
    for name, kind in numbers.items():
        value = bound.arguments.get(name)
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and kind is float):
            continue
        try:
            number = None if isinstance(value, bool) else float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            number = None
        if number is None or (kind is int and not number.is_integer()):
            what = "a whole number" if kind is int else "a number"
            raise PoetryLabError(f"'{name}' must be {what}, not {str(value)[:40]!r}.")
        bound.arguments[name] = int(number) if kind is int else number
    return bound.args, bound.kwargs


def api_errors(fn):
    """API boundary: errors reach the client as gr.Error with a plain message, never a traceback."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            args, kwargs = _as_numbers(fn, args, kwargs)
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(user_message(exc, fn.__name__), print_exception=False) from None
    return run


def bundled_corpora() -> list[tuple[str, str]]:
    """(label, name) of the bundled corpora found on this machine that are small enough to train on here."""
    return [(f"{e.title} ({e.chars:,} characters)", e.name) for e, path in available_corpora()
            if path is not None and e.chars <= MAX_BUNDLED_CHARS]


def _bundled(name: str | None) -> str | None:
    """Only names from the dropdown: the library would also accept any file path, which a client must not pass."""
    if not name:
        return None
    names = [n for _, n in bundled_corpora()]
    if name not in names:
        raise PoetryLabError(f"There is no bundled corpus called '{name}' here. Choose one of: {', '.join(names) or 'none'}.")
    return name


def scratch_path(name: str) -> Path:
    """A new path called `name`, in a folder of its own under the temp dir (Gradio serves copies of files there).

    Gradio copies a returned file into its cache (emptied hourly: delete_cache), so the original is
    only needed for a moment; folders older than SCRATCH_MAX_AGE_S are removed here, or every
    download and every comparison would leave a file on the server's disk for good.
    """
    root = Path(tempfile.gettempdir()) / "poetry_lab_scratch"
    root.mkdir(exist_ok=True)
    cutoff = time.time() - SCRATCH_MAX_AGE_S
    for old in root.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # removed meanwhile by another process
            pass
    return Path(tempfile.mkdtemp(dir=root)) / name


def _optional(value, kind=float):
    """Empty widgets and zeros mean 'not set' (Gradio 6 shows an emptied gr.Number as 0 and sends 0).

    Every optional number field says so in its help text; where 0 would be a real choice (dropout),
    the widget is a dropdown with an explicit "preset's choice" instead.
    """
    return None if value in (None, "") or kind(value) == 0 else kind(value)


# --- model ----------------------------------------------------------------------------------
def _current_model(session: Session) -> str:
    return f"**Current model:** {session.model_summary()}"


def model_summary(session: Session) -> dict:
    return {"summary": _current_model(session)}


def load_model(session: Session, *, path: str | None) -> dict:
    if not path:
        raise PoetryLabError("Choose a .safetensors model file first (one downloaded from Poetry Lab).")
    return {"status": session.load_model_file(path), "summary": _current_model(session)}


def download_model(session: Session) -> dict:
    """A copy of the model file in a fresh temp folder, which Gradio serves (it refuses other folders)."""
    source = session.model_file()
    target = scratch_path(source.name)
    shutil.copyfile(source, target)
    return {"file": str(target), "status": f"Ready: {target.name} ({target.stat().st_size / 1e6:.1f} MB). Load it back here later."}


# --- corpus ---------------------------------------------------------------------------------
def load_corpus(session: Session, *, files: list[str] | None, text: str | None, bundled: str | None) -> dict:
    report = session.load_corpus(files=list(files or []), text=text or None, bundled=_bundled(bundled))
    return {"stats": render.corpus_stats_markdown(report.to_json(), report.name),
            "warnings": render.warnings_markdown(report.warnings), "preview": render.preview_html(report.preview),
            "status": f"Loaded {report.name}. Next: the **Train** tab."}


# --- training -------------------------------------------------------------------------------
def start_training(session: Session, *, preset: str, minutes: float | None, start_from: str, cell: str | None = None,
                   layers: float | None = None, hidden: float | None = None, dropout: str | float | None = None,
                   seq_len: float | None = None, batch_size: float | None = None, lr: float | None = None,
                   epochs: float | None = None, patience: float | None = None, seed: float | None = None) -> dict:
    advanced = {"cell": cell or None, "layers": _optional(layers, int), "hidden": _optional(hidden, int),
                "dropout": _dropout(dropout), "seq_len": _optional(seq_len, int), "batch_size": _optional(batch_size, int),
                "lr": _optional(lr), "epochs": _optional(epochs), "patience": _optional(patience, int), "seed": _optional(seed, int)}
    status = session.start_training(preset, _optional(minutes), start_from or "auto", advanced=advanced)
    return {"status": status, "timer": gr.Timer(active=True)}


def _dropout(value: str | float | None) -> float | None:
    """The dropout dropdown: "" is the preset's choice; 0 is no dropout."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise PoetryLabError(f"Dropout must be a number from 0 to 0.5, not {value!r}.") from None


def stop_training(session: Session) -> dict:
    return {"status": session.stop_training()}


def poll_training(session: Session) -> dict:
    """Timer tick -> loss plot, progress line, samples, timer, model summary.

    When the job is no longer running, the session adopts its model and the timer switches itself off.
    A tick never toasts: a problem is said once in the progress line, and the timer stops.
    """
    try:
        snap = session.training_status()
        running = snap.state == "running"
        out = {"plot": figures.loss_curve(snap.train_points, snap.eval_points, title="Loss while training (lower is better)"),
               "status": render.progress_markdown(snap), "samples": render.samples_html(snap.samples),
               "timer": gr.Timer(active=running)}
        if not running:
            session.finish_job()
            out["summary"] = _current_model(session)
        return out
    except Exception as exc:  # noqa: BLE001 - a tick must not toast every second: say it once and stop
        return {"status": render.problem(user_message(exc, "poll_training")), "timer": gr.Timer(active=False)}


# --- runs kept on disk ----------------------------------------------------------------------
RUN_COLUMNS = ["run", "status", "steps", "best loss (nats/char)", "minutes left", "corpus", "started"]


def _runs_widgets(session: Session, selected: str | None = None) -> dict:
    """-> the runs table and the run chooser (keeping `selected` if it is still listed)."""
    infos = session.list_runs()
    rows = [[r.id, r.status + (f" ({r.problem})" if r.problem else ""), r.steps,
             None if r.best_val_loss is None else round(r.best_val_loss, 3), r.minutes_left, r.corpus,
             r.started[:16].replace("T", " ")] for r in infos]
    choices = [(f"{r.id} · {r.corpus} · {r.status}", r.id) for r in infos]
    ids = [r.id for r in infos]
    value = selected if selected in ids else (ids[0] if ids else None)
    return {"table": pd.DataFrame(rows, columns=RUN_COLUMNS), "chooser": gr.Dropdown(choices=choices, value=value)}


def identify_visitor(session: Session, *, visitor: str | None) -> dict:
    """Page load: key the session's runs on the id the browser keeps (a new one if none)."""
    return {"visitor": session.use_visitor(visitor), **_runs_widgets(session), "status": ""}


def refresh_runs(session: Session, *, chooser: str | None) -> dict:
    return _runs_widgets(session, chooser)


def load_run(session: Session, *, chooser: str | None) -> dict:
    return {"status": session.load_run(chooser), "summary": _current_model(session)}


def resume_run(session: Session, *, chooser: str | None) -> dict:
    """The live plot takes over as for a new training."""
    return {"status": session.resume_run(chooser), "timer": gr.Timer(active=True)}


def poll_training_and_runs(session: Session, *, chooser: str | None) -> dict:
    """poll_training's outputs, then the runs table and chooser, refreshed once the job has ended."""
    out = poll_training(session)
    if out["timer"].active is not False:  # still running: leave the runs as they are
        return out
    try:
        return {**out, **_runs_widgets(session, chooser)}
    except Exception as exc:  # noqa: BLE001 - a tick must not toast
        user_message(exc, "poll_training_and_runs")
        return out


# --- comparison -----------------------------------------------------------------------------
def compare(session: Session, *, prompt: str, temperatures: str, length: float | None, unit: str, seed: float | None,
            top_k: float | None, top_p: float | None) -> dict:
    """The poems in three views (plain, confidence, copied passages), rendered at once so that switching
    between them never writes the poems again; their numbers as bars; a Markdown download."""
    by_lines = unit == "lines"
    n = _optional(length, int) or (DEFAULT_LINES if by_lines else DEFAULT_CHARS)
    seed, top_k, top_p = _optional(seed, int), _optional(top_k, int), _optional(top_p)
    poems = session.compare_lens(prompt or "", temperatures, chars=None if by_lines else n, seed=seed,
                                 top_k=top_k, top_p=top_p, lines=n if by_lines else None)
    settings = (f"{n} {'lines' if by_lines else 'characters'}, seed {'random' if seed is None else seed}"
                f", top-k {top_k or 'off'}, top-p {top_p or 'off'}")
    prompt, kept = prompt or "", poems[0].prompt_len  # the session keeps only the end of a very long prompt
    cut = f" Your prompt has {len(prompt):,} characters: the poems continue its last {kept:,}." if len(prompt) > kept else ""
    path = scratch_path("poems.md")
    path.write_text(render.compare_markdown(poems, prompt[len(prompt) - kept:], settings), encoding="utf-8")
    return {"plain": render.compare_html(poems), "confidence": render.confidence_columns(poems),
            "copies": render.copies_columns(poems), "bars": figures.temperature_bars(render.numbers_frame(poems)),
            "download": gr.DownloadButton(value=str(path), visible=True),
            "status": f"Wrote {len(poems)} poems ({settings}).{cut}"}


def sweep(session: Session, *, temperatures: str, samples: float | None, chars: float | None, seed: float | None) -> dict:
    started = time.monotonic()
    df = session.sweep(temperatures, _optional(samples, int) or SWEEP_SAMPLES, _optional(chars, int) or DEFAULT_CHARS,
                       _optional(seed, int))
    path = scratch_path("temperature_sweep.csv")
    df.to_csv(path, index=False)
    temps = df["temperature"].nunique()
    return {"plot": lens_figures.sweep_figure(df, title="Each number per temperature: the line is the mean, the band the range"),
            "download": gr.DownloadButton(value=str(path), visible=True),
            "status": f"Wrote {len(df)} poems ({temps} temperatures x {len(df) // max(temps, 1)}) in {time.monotonic() - started:.1f} s."}


# --- themes ---------------------------------------------------------------------------------
def themes(session: Session, *, method: str, n_themes: str | None, progress=gr.Progress()) -> dict:
    """n_themes: a whole number, or "auto" (the best silhouette). The slower steps report to `progress`."""
    started = time.monotonic()
    k = str(n_themes if n_themes not in (None, "") else "auto").strip()
    if k != "auto" and not k.isdigit():
        raise PoetryLabError(f"The number of themes must be a whole number, or auto, not {n_themes}.")
    report = session.themes(method or "tfidf", None if k == "auto" else int(k), progress=lambda f, text: progress(f, desc=text))
    name = METHODS[report.method]
    return {"map": themes_figures.theme_map(report.points, title=f"Your poems by theme ({name}) · ★ the poems you wrote, by temperature"),
            "themes": render.themes_html(report), "placed": render.placements_html(report),
            "table": render.methods_table(report.table), "compared": themes_figures.comparison_figure(report.table),
            "words": themes_figures.top_words_figure(report.top_words, report.summary["size"].tolist(), title=f"Top words per theme ({name})"),
            "status": render.themes_status(report, name, time.monotonic() - started)}


# --- API (JSON answers) ---------------------------------------------------------------------
@api_errors
def api_load_corpus(session: Session, files: list[FileData] | None = None, text: str | None = None, bundled: str | None = None) -> dict:
    """Load a corpus from uploaded files, pasted text and/or a bundled corpus name; answer its statistics.

    `files`: gradio_client.handle_file(path) objects. They arrive here as the paths of this session's
    uploads (SessionRegistry.bind vets them); the annotation tells clients to upload them.
    """
    return session.load_corpus(files=list(files or []), text=text or None, bundled=_bundled(bundled)).to_json()


@api_errors
def api_load_model(session: Session, file: FileData) -> str:
    """Make an uploaded Poetry Lab model file (.safetensors, a gradio_client.handle_file object) the current model."""
    if not file:
        raise PoetryLabError("Send a .safetensors model file (one downloaded from Poetry Lab).")
    return session.load_model_file(file)


@api_errors
def api_start_training(session: Session, preset: str = "quick", minutes: float | None = None, start_from: str = "auto") -> str:
    """Start training in the background on the loaded corpus; answer a status line."""
    return session.start_training(preset, minutes, start_from or "auto")


@api_errors
def api_training_status(session: Session) -> dict:
    """The training job's progress: state (idle, running, done, stopped, error), step, epoch, losses in nats/char."""
    snap = session.training_status()
    return {k: getattr(snap, k) for k in SNAPSHOT_KEYS}


@api_errors
def api_stop_training(session: Session) -> str:
    """Stop the training; the best model so far is kept."""
    return session.stop_training()


@api_errors
def api_list_runs(session: Session) -> list[dict]:
    """This session's training runs kept on disk: id, status (running, interrupted, stopped, done, error,
    damaged), corpus, started, steps and best validation loss (nats/char) at the last checkpoint, minutes left."""
    return [r.to_json() for r in session.list_runs()]


@api_errors
def api_resume_run(session: Session, run_id: str) -> str:
    """Continue an interrupted or stopped run (an id from /list_runs) from its last checkpoint; answer a status line."""
    return session.resume_run(run_id)


@api_errors
def api_load_run(session: Session, run_id: str) -> str:
    """Make a run's best model (an id from /list_runs) the model that /compare writes with."""
    return session.load_run(run_id)


@api_errors
def api_compare(session: Session, prompt: str = "", temperatures: str = "0.2,0.5,1.0,1.2", chars: int | None = 400,
                seed: int | None = 0, top_k: int | None = None, top_p: float | None = None) -> list[dict]:
    """One poem per temperature from the same prompt and seed, each with its numbers (a long prompt keeps its end)."""
    return [p.to_json() for p in session.compare(prompt or "", temperatures, chars=chars, seed=seed, top_k=top_k, top_p=top_p)]
