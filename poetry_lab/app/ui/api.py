"""The JSON API: one endpoint per action (gr.api), per session like the page. The one place where a
Session's typed answers become dicts; errors reach a client as gr.Error with the same plain message
the page shows. Numbers sent as text are read; anything else that should be a number is refused."""

from __future__ import annotations

import functools
import inspect
import typing

import gradio as gr
from gradio.data_classes import FileData

from poetry_lab.app.session import Session
from poetry_lab.app.ui.sessions import user_message
from poetry_lab.app.ui.shared import (
    bundled_name,
)
from poetry_lab.compose.forms import DEFAULT_FORM, FORMS
from poetry_lab.core.defaults import (
    COMPARE_TEMPERATURES,
    DEFAULT_SEED,
    temperatures_text,
)
from poetry_lab.errors import PoetryLabError

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


@api_errors
def api_load_corpus(session: Session, files: list[FileData] | None = None, text: str | None = None, bundled: str | None = None) -> dict:
    """Load a corpus from uploaded files, pasted text and/or a bundled corpus name; answer its statistics.

    `files`: gradio_client.handle_file(path) objects. They arrive here as the paths of this session's
    uploads (SessionRegistry.bind vets them); the annotation tells clients to upload them.
    """
    return session.load_corpus(files=list(files or []), text=text or None, bundled=bundled_name(bundled)).to_json()


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
def api_compare(session: Session, prompt: str = "", temperatures: str = temperatures_text(COMPARE_TEMPERATURES),
                chars: int | None = 400, seed: int | None = DEFAULT_SEED, top_k: int | None = None, top_p: float | None = None) -> list[dict]:
    """One poem per temperature from the same prompt and seed, each with its numbers (a long prompt keeps its end)."""
    return [p.to_json() for p in session.compare(prompt or "", temperatures, chars=chars, seed=seed, top_k=top_k, top_p=top_p)]


@api_errors
def api_compose(session: Session, form: str = DEFAULT_FORM, lines: int | None = None, prompt: str = "", temperature: float = 0.8,
                seed: int | None = DEFAULT_SEED, raw: bool = False, letters: bool = False, about: str = "",
                theme: int | None = None) -> dict:
    """A poem in a form ({forms}), from the poet's opening
    lines if any (`prompt`, one per line): {"form", "text", "lines": [{"text", "syllables", "rhyme", "end_word",
    "score", ...}], "seconds", "writer", ...}, as `python -m poetry_lab compose --json` prints it. Same seed, same poem.
    "writer" says what wrote it: "words" (the model's word-level writer) or "letters" (the character model;
    `letters`: ask for it). `about`: the poem's subject, a word or a short phrase ("the sea at night"); the poem's
    "about" repeats it and "related" gives the words that steered the writer, with their weights. `theme`: write on
    theme K (1 to the number of themes) of the loaded poems instead, as the Themes tab last showed them (or the
    default method's, found now): its top words are the subject (0 or none: no theme)."""
    (poem,) = session.compose(form or DEFAULT_FORM, lines, prompt or "", [temperature], seed, bool(raw), bool(letters),
                              str(about or ""), int(theme) if theme else None)
    return poem.to_json()


api_compose.__doc__ = api_compose.__doc__.replace("{forms}", ", ".join(FORMS))  # the forms named from their one table
