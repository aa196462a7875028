"""Handlers: widget values -> one Lab call -> widget values. Plain functions, testable without a server.

Each takes the session's Lab first (SessionRegistry.bind supplies it). UI handlers never raise: a
PoetryLabError becomes a toast plus a status line, and anything unexpected is logged with its
traceback and shown as one short sentence. API handlers (`api_*`) answer JSON and turn errors into
gr.Error, which a client receives as an error carrying the same plain message.
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

from poetry_lab.app.session import Lab
from poetry_lab.app.ui import render
from poetry_lab.data.catalog import available_corpora
from poetry_lab.errors import PoetryLabError
from poetry_lab.figures import lens as lens_figures
from poetry_lab.figures import themes as themes_figures
from poetry_lab.figures import training as figures
from poetry_lab.themes.methods import METHODS

log = logging.getLogger(__name__)

MAX_BUNDLED_CHARS = 10_000_000  # bigger corpora (gutenberg_poetry, 121 M chars) would stall a small server
SCRATCH_MAX_AGE_S = 3600  # files handed to Gradio for download are kept this long (it copies them at once)
INTERNAL_ERROR = "Something went wrong on our side, sorry. Please try again; if it keeps happening, reload the page."
DEFAULT_CHARS, DEFAULT_LINES, SWEEP_SAMPLES = 400, 8, 5  # what an emptied (or 0) length or count field means
SNAPSHOT_KEYS = ("state", "step", "epoch", "train_loss", "val_loss", "best_val_loss", "elapsed_s", "message")


def _message(exc: Exception, where: str) -> str:
    if isinstance(exc, PoetryLabError):
        return str(exc)
    log.exception("unexpected error in %s", where)
    return INTERNAL_ERROR


def shows_errors(outputs: int, status: int):
    """UI boundary: on any error, warn, put the message in output `status`, leave the others unchanged."""
    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the boundary: nothing may reach the page as a traceback
                message = _message(exc, fn.__name__)
            gr.Warning(message)
            out = [gr.skip()] * outputs
            out[status] = render.problem(message)
            return tuple(out) if outputs > 1 else out[0]
        return run
    return decorate


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
            raise gr.Error(_message(exc, fn.__name__), print_exception=False) from None
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
@shows_errors(outputs=1, status=0)
def model_summary(lab: Lab) -> str:
    return f"**Current model:** {lab.model_summary()}"


@shows_errors(outputs=2, status=0)
def load_model(lab: Lab, path: str | None) -> tuple[str, str]:
    if not path:
        raise PoetryLabError("Choose a .safetensors model file first (one downloaded from Poetry Lab).")
    return lab.load_model_file(path), f"**Current model:** {lab.model_summary()}"


@shows_errors(outputs=2, status=1)
def download_model(lab: Lab) -> tuple[str, str]:
    """A copy of the model file in a fresh temp folder, which Gradio serves (it refuses other folders)."""
    source = lab.model_file()
    target = scratch_path(source.name)
    shutil.copyfile(source, target)
    return str(target), f"Ready: {target.name} ({target.stat().st_size / 1e6:.1f} MB). Load it back here later."


# --- corpus ---------------------------------------------------------------------------------
@shows_errors(outputs=4, status=3)
def load_corpus(lab: Lab, files: list[str] | None, text: str | None, bundled: str | None) -> tuple[str, str, str, str]:
    """-> stats Markdown, warnings Markdown, preview HTML, status."""
    report = lab.load_corpus(files=list(files or []), text=text or None, bundled=_bundled(bundled))
    data = report.to_json()
    return (render.corpus_stats_markdown(data, report.name), render.warnings_markdown(report.warnings),
            render.preview_html(report.preview), f"Loaded {report.name}. Next: the **Train** tab.")


# --- training -------------------------------------------------------------------------------
@shows_errors(outputs=2, status=0)
def start_training(lab: Lab, preset: str, minutes: float | None, start_from: str, cell: str | None, layers: float | None,
                   hidden: float | None, dropout: str | float | None, seq_len: float | None, batch_size: float | None,
                   lr: float | None, epochs: float | None, patience: float | None, seed: float | None) -> tuple[str, gr.Timer]:
    """-> status, timer (switched on)."""
    advanced = {"cell": cell or None, "layers": _optional(layers, int), "hidden": _optional(hidden, int),
                "dropout": _dropout(dropout), "seq_len": _optional(seq_len, int), "batch_size": _optional(batch_size, int),
                "lr": _optional(lr), "epochs": _optional(epochs), "patience": _optional(patience, int), "seed": _optional(seed, int)}
    status = lab.start_training(preset, _optional(minutes), start_from or "auto", advanced=advanced)
    return status, gr.Timer(active=True)


def _dropout(value: str | float | None) -> float | None:
    """The dropout dropdown: "" is the preset's choice; 0 is no dropout."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise PoetryLabError(f"Dropout must be a number from 0 to 0.5, not {value!r}.") from None


@shows_errors(outputs=1, status=0)
def stop_training(lab: Lab) -> str:
    return lab.stop_training()


def poll_training(lab: Lab):
    """Timer tick -> loss plot, progress line, samples HTML, timer, model summary.

    When the job is no longer running, the Lab adopts its model and the timer switches itself off.
    """
    try:
        snap = lab.training_status()
        running = snap.state == "running"
        summary = gr.skip()
        if not running:
            lab.finish_job()
            summary = f"**Current model:** {lab.model_summary()}"
        return (figures.loss_curve(snap.train_points, snap.eval_points, title="Loss while training (lower is better)"),
                render.progress_markdown(snap), render.samples_html(snap.samples), gr.Timer(active=running), summary)
    except Exception as exc:  # noqa: BLE001 - a tick must not toast every second: say it once and stop
        return gr.skip(), render.problem(_message(exc, "poll_training")), gr.skip(), gr.Timer(active=False), gr.skip()


# --- runs kept on disk ----------------------------------------------------------------------
RUN_COLUMNS = ["run", "status", "steps", "best loss (nats/char)", "minutes left", "corpus", "started"]


def _runs_widgets(lab: Lab, selected: str | None = None) -> tuple[pd.DataFrame, gr.Dropdown]:
    """-> the runs table and the run chooser (keeping `selected` if it is still listed)."""
    infos = lab.list_runs()
    rows = [[r.id, r.status + (f" ({r.problem})" if r.problem else ""), r.steps,
             None if r.best_val_loss is None else round(r.best_val_loss, 3), r.minutes_left, r.corpus,
             r.started[:16].replace("T", " ")] for r in infos]
    choices = [(f"{r.id} · {r.corpus} · {r.status}", r.id) for r in infos]
    ids = [r.id for r in infos]
    value = selected if selected in ids else (ids[0] if ids else None)
    return pd.DataFrame(rows, columns=RUN_COLUMNS), gr.Dropdown(choices=choices, value=value)


@shows_errors(outputs=4, status=3)
def identify_visitor(lab: Lab, visitor_id: str | None):
    """Page load: key the session's runs on the id the browser keeps (a new one if none) -> id, table, chooser, status."""
    visitor_id = lab.use_visitor(visitor_id)
    table, chooser = _runs_widgets(lab)
    return visitor_id, table, chooser, ""


@shows_errors(outputs=3, status=2)
def refresh_runs(lab: Lab, selected: str | None):
    """-> runs table, run chooser, status."""
    return (*_runs_widgets(lab, selected), gr.skip())


@shows_errors(outputs=2, status=0)
def load_run(lab: Lab, run_id: str | None) -> tuple[str, str]:
    """-> status, model summary."""
    return lab.load_run(run_id), f"**Current model:** {lab.model_summary()}"


@shows_errors(outputs=2, status=0)
def resume_run(lab: Lab, run_id: str | None):
    """-> status, timer (switched on: the live plot takes over as for a new training)."""
    return lab.resume_run(run_id), gr.Timer(active=True)


def poll_training_and_runs(lab: Lab, selected: str | None):
    """poll_training's outputs, then the runs table and chooser, refreshed once the job has ended."""
    out = poll_training(lab)
    if out[3].active is not False:  # still running (or the tick failed): leave the runs as they are
        return (*out, gr.skip(), gr.skip())
    try:
        return (*out, *_runs_widgets(lab, selected))
    except Exception as exc:  # noqa: BLE001 - a tick must not toast
        _message(exc, "poll_training_and_runs")
        return (*out, gr.skip(), gr.skip())


# --- comparison -----------------------------------------------------------------------------
@shows_errors(outputs=6, status=5)
def compare(lab: Lab, prompt: str, temperatures: str, length: float | None, unit: str, seed: float | None,
            top_k: float | None, top_p: float | None):
    """-> plain columns HTML, confidence HTML, copied-passages HTML, metrics figure, download button, status.

    The three views are rendered at once, so switching between them never writes the poems again.
    """
    by_lines = unit == "lines"
    n = _optional(length, int) or (DEFAULT_LINES if by_lines else DEFAULT_CHARS)
    seed, top_k, top_p = _optional(seed, int), _optional(top_k, int), _optional(top_p)
    results = lab.compare_lens(prompt or "", temperatures, chars=None if by_lines else n, seed=seed,
                               top_k=top_k, top_p=top_p, lines=n if by_lines else None)
    settings = (f"{n} {'lines' if by_lines else 'characters'}, seed {'random' if seed is None else seed}"
                f", top-k {top_k or 'off'}, top-p {top_p or 'off'}")
    prompt, kept = prompt or "", results[0]["prompt_len"]  # the Lab keeps only the end of a very long prompt
    cut = f" Your prompt has {len(prompt):,} characters: the poems continue its last {kept:,}." if len(prompt) > kept else ""
    path = scratch_path("poems.md")
    path.write_text(render.compare_markdown(results, prompt[len(prompt) - kept:], settings), encoding="utf-8")
    return (render.compare_html(results), render.confidence_columns(results), render.copies_columns(results),
            figures.temperature_bars(results), gr.DownloadButton(value=str(path), visible=True),
            f"Wrote {len(results)} poems ({settings}).{cut}")


@shows_errors(outputs=3, status=2)
def sweep(lab: Lab, temperatures: str, samples: float | None, chars: float | None, seed: float | None):
    """-> sweep figure, CSV download button, status."""
    started = time.monotonic()
    df = lab.sweep(temperatures, _optional(samples, int) or SWEEP_SAMPLES, _optional(chars, int) or DEFAULT_CHARS,
                   _optional(seed, int))
    path = scratch_path("temperature_sweep.csv")
    df.to_csv(path, index=False)
    temps = df["temperature"].nunique()
    return (lens_figures.sweep_figure(df, title="Each number per temperature: the line is the mean, the band the range"),
            gr.DownloadButton(value=str(path), visible=True),
            f"Wrote {len(df)} poems ({temps} temperatures x {len(df) // max(temps, 1)}) in {time.monotonic() - started:.1f} s.")


# --- themes ---------------------------------------------------------------------------------
@shows_errors(outputs=7, status=6)
def themes(lab: Lab, method: str, n_themes: str | None, progress=gr.Progress()):
    """-> map figure, themes HTML, placed poems HTML, methods table, methods figure, top-words figure, status.

    n_themes: a whole number, or "auto" (the best silhouette). The slower steps report to `progress`.
    """
    started = time.monotonic()
    k = str(n_themes if n_themes not in (None, "") else "auto").strip()
    if k != "auto" and not k.isdigit():
        raise PoetryLabError(f"The number of themes must be a whole number, or auto, not {n_themes}.")
    report = lab.themes(method or "tfidf", None if k == "auto" else int(k), progress=lambda f, text: progress(f, desc=text))
    name = METHODS[report.method]
    return (themes_figures.theme_map(report.points, title=f"Your poems by theme ({name}) · ★ the poems you wrote, by temperature"),
            render.themes_html(report), render.placements_html(report), render.methods_table(report.table),
            themes_figures.comparison_figure(report.table),
            themes_figures.top_words_figure(report.top_words, report.summary["size"].tolist(), title=f"Top words per theme ({name})"),
            render.themes_status(report, name, time.monotonic() - started))


# --- API (JSON answers) ---------------------------------------------------------------------
@api_errors
def api_load_corpus(lab: Lab, files: list[FileData] | None = None, text: str | None = None, bundled: str | None = None) -> dict:
    """Load a corpus from uploaded files, pasted text and/or a bundled corpus name; answer its statistics.

    `files`: gradio_client.handle_file(path) objects. They arrive here as the paths of this session's
    uploads (SessionRegistry.bind vets them); the annotation tells clients to upload them.
    """
    return lab.load_corpus(files=list(files or []), text=text or None, bundled=_bundled(bundled)).to_json()


@api_errors
def api_load_model(lab: Lab, file: FileData) -> str:
    """Make an uploaded Poetry Lab model file (.safetensors, a gradio_client.handle_file object) the current model."""
    if not file:
        raise PoetryLabError("Send a .safetensors model file (one downloaded from Poetry Lab).")
    return lab.load_model_file(file)


@api_errors
def api_start_training(lab: Lab, preset: str = "quick", minutes: float | None = None, start_from: str = "auto") -> str:
    """Start training in the background on the loaded corpus; answer a status line."""
    return lab.start_training(preset, minutes, start_from or "auto")


@api_errors
def api_training_status(lab: Lab) -> dict:
    """The training job's progress: state (idle, running, done, stopped, error), step, epoch, losses in nats/char."""
    snap = lab.training_status()
    return {k: getattr(snap, k) for k in SNAPSHOT_KEYS}


@api_errors
def api_stop_training(lab: Lab) -> str:
    """Stop the training; the best model so far is kept."""
    return lab.stop_training()


@api_errors
def api_list_runs(lab: Lab) -> list[dict]:
    """This session's training runs kept on disk: id, status (running, interrupted, stopped, done, error,
    damaged), corpus, started, steps and best validation loss (nats/char) at the last checkpoint, minutes left."""
    return [r.to_json() for r in lab.list_runs()]


@api_errors
def api_resume_run(lab: Lab, run_id: str) -> str:
    """Continue an interrupted or stopped run (an id from /list_runs) from its last checkpoint; answer a status line."""
    return lab.resume_run(run_id)


@api_errors
def api_load_run(lab: Lab, run_id: str) -> str:
    """Make a run's best model (an id from /list_runs) the model that /compare writes with."""
    return lab.load_run(run_id)


@api_errors
def api_compare(lab: Lab, prompt: str = "", temperatures: str = "0.2,0.5,1.0,1.2", chars: int | None = 400,
                seed: int | None = 0, top_k: int | None = None, top_p: float | None = None) -> list[dict]:
    """One poem per temperature from the same prompt and seed, each with its numbers (a long prompt keeps its end)."""
    return lab.compare(prompt or "", temperatures, chars=chars, seed=seed, top_k=top_k, top_p=top_p)
