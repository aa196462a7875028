"""The training tab: choose how long to train, start it in the background, and watch it learn."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
import pandas as pd

from poetry_lab import settings
from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.sessions import SessionRegistry, user_message, visitor_state
from poetry_lab.app.ui.shared import (
    current_model,
    optional,
)
from poetry_lab.core.model import CELLS
from poetry_lab.errors import PoetryLabError
from poetry_lab.figures import training as figures
from poetry_lab.runs.presets import DEFAULT_PRESET, PATIENCE_NEVER, PRESETS

INTRO = """
Training teaches a model to continue your poems one letter at a time. It runs in the background: you can
keep writing poems on the first tab meanwhile (they use the best model so far). The curve shows the
**loss**, how surprised the model is by text it has not trained on (the validation text): lower is better.
The left axis counts it in nats per character, the right axis in bits per character (2 bits means the
model is as unsure as if it had to pick among 4 equally likely letters; 1 bit, among 2). When a model
that has a poem **writer** (the pretrained one does) has learnt your letters, its writer, which writes
the poems in form word by word, then reads your poems for a minute more, so the poems take up your words.
"""

RUNS_INTRO = """
Every training is kept on this server: its settings, its curve and its best model. A run
that was cut short (stopped, or the server restarted) can go on from its last checkpoint, saved every
half minute. Your runs are tied to this browser; nobody else sees them. A training goes on when you close
the page: come back in this browser and it is here.
"""


def storage_note(config: settings.Settings) -> str:
    """Where runs live, truthfully: a Space keeps them only on a mounted storage bucket."""
    if config.runs_outlive_restarts:
        return "Runs are kept in this Space's storage bucket: they outlive restarts." if config.on_space else ""
    return ("**This Space keeps runs only until it restarts** (it has no storage bucket): download a model you "
            "want to keep from the *Model file* tab.")

START_FROM = [("Automatic (fine-tune for small corpora, otherwise a new model)", "auto"),
              ("The loaded model: fine-tune it on these poems", "loaded"),
              ("Scratch: a new model that knows nothing yet", "scratch")]


def _advanced() -> dict[str, gr.components.Component]:
    """The settings a preset chooses; an empty field keeps the preset's choice."""
    gr.Markdown("Leave a field empty (or 0) to keep the preset's choice.")
    with gr.Row():
        cell = gr.Radio([("preset's choice", "")] + [(kind.label, name) for name, kind in CELLS.items()], value="", label="Cell",
                        info="Two kinds of memory unit; GRU is a little smaller and faster.")
        layers = gr.Number(label="Layers", precision=0, info="Stacked memory layers (1-3).")
        hidden = gr.Number(label="Hidden size", precision=0, info="Memory width; bigger learns more, slower.")
        # A dropdown, not a number: 0 is a real dropout, and an emptied gr.Number would send 0.
        dropout = gr.Dropdown([("preset's choice", ""), "0", "0.1", "0.2", "0.3", "0.4", "0.5"], value="", label="Dropout",
                              allow_custom_value=True, elem_id="train-dropout",
                              info="Randomly forgets a share while training, against memorising (0 to 0.5).")
    with gr.Row():
        seq_len = gr.Number(label="Sequence length", precision=0, info="Letters the model reads before each update.")
        batch_size = gr.Number(label="Batch size", precision=0, info="Passages read at once per update.")
        lr = gr.Number(label="Learning rate", info="Size of each update step, e.g. 0.003.")
    with gr.Row():
        epochs = gr.Number(label="Epochs", info="Passes over the whole text (whichever limit comes first).")
        # A dropdown, not a number: "never" is a choice, and an emptied gr.Number would send 0 (the preset's).
        patience = gr.Dropdown([("preset's choice", ""), ("never stop early", PATIENCE_NEVER), "2", "3", "6", "10"], value="",
                               label="Early-stopping patience", allow_custom_value=True, elem_id="train-patience",
                               info="Stop after this many checks without improvement; never: train the whole budget.")
        seed = gr.Number(label="Seed", precision=0, info="Same seed and settings, same model.")
    return dict(cell=cell, layers=layers, hidden=hidden, dropout=dropout, seq_len=seq_len, batch_size=batch_size, lr=lr,
                epochs=epochs, patience=patience, seed=seed)


def _runs_section(sessions: SessionRegistry, model_md: gr.Markdown, timer: gr.Timer):
    """The visitor's runs: a table, a chooser, load and resume. Returns (table, chooser, status)."""
    with gr.Accordion("Your runs", open=True, elem_id="runs"):
        gr.Markdown(RUNS_INTRO + storage_note(settings.current()), elem_id="runs-intro")
        table = gr.Dataframe(headers=RUN_COLUMNS, interactive=False, wrap=True, elem_id="runs-table")
        with gr.Row():
            chooser = gr.Dropdown(label="Run", choices=[], scale=2, elem_id="runs-choice")
            load = gr.Button("Load its best model", elem_id="runs-load", scale=1)
            resume = gr.Button("Resume training", elem_id="runs-resume", scale=1)
            refresh = gr.Button("Refresh", size="sm", elem_id="runs-refresh", scale=0)
        status = gr.Markdown(elem_id="runs-status")
    runs = dict(table=table, chooser=chooser, status=status)
    refresh.click(**sessions.action(refresh_runs, inputs=dict(chooser=chooser), outputs=runs),
                  api_name="ui_refresh_runs", api_visibility="undocumented")
    load.click(**sessions.action(load_run, inputs=dict(chooser=chooser), outputs=dict(status=status, summary=model_md)),
               api_name="ui_load_run", api_visibility="undocumented")
    resume.click(**sessions.action(resume_run, inputs=dict(chooser=chooser), outputs=dict(status=status, timer=timer)),
                 api_name="ui_resume_run", api_visibility="undocumented").then(
        **sessions.action(refresh_runs, inputs=dict(chooser=chooser), outputs=runs), api_visibility="private")
    return runs



# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
def start_training(session: Session, *, preset: str, minutes: float | None, start_from: str, cell: str | None = None,
                   layers: float | None = None, hidden: float | None = None, dropout: str | float | None = None,
                   seq_len: float | None = None, batch_size: float | None = None, lr: float | None = None,
                   epochs: float | None = None, patience: str | float | None = None, seed: float | None = None) -> dict:
    advanced = {"cell": cell or None, "layers": optional(layers, int), "hidden": optional(hidden, int),
                "dropout": _dropout(dropout), "seq_len": optional(seq_len, int), "batch_size": optional(batch_size, int),
                "lr": optional(lr), "epochs": optional(epochs), "patience": patience, "seed": optional(seed, int)}
    status = session.start_training(preset, optional(minutes), start_from or "auto", advanced=advanced)
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
            out["summary"] = current_model(session)
        return out
    except Exception as exc:  # noqa: BLE001 - a tick must not toast every second: say it once and stop
        return {"status": render.problem(user_message(exc, "poll_training")), "timer": gr.Timer(active=False)}


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
    """Page load: key the session's runs on the id the browser keeps (a new one if none). A training this
    visitor left running (the tab closed, the phone slept) is this session's again: the live plot goes on."""
    out = {"visitor": session.use_visitor(visitor), **_runs_widgets(session), "status": ""}
    if session.training_status().state == "running":
        out |= {"status": "Your training is still running: its curve is on the Train tab.", "timer": gr.Timer(active=True)}
    return out


def refresh_runs(session: Session, *, chooser: str | None) -> dict:
    return _runs_widgets(session, chooser)


def load_run(session: Session, *, chooser: str | None) -> dict:
    return {"status": session.load_run(chooser), "summary": current_model(session)}


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


def create_train_tab(sessions: SessionRegistry, model_md: gr.Markdown) -> Callable[[gr.Blocks], None]:
    """Lays out the tab; returns `on_page_load(demo)`, which the app calls at the top level of its Blocks
    (outside any tab) to identify the visitor and list their runs when a page loads."""
    gr.Markdown(INTRO)
    with gr.Row():
        preset = gr.Radio([(f"{p.name}: {p.description}", p.name) for p in PRESETS.values()], value=DEFAULT_PRESET,
                          label="How long to train", scale=3, elem_id="train-preset")
        with gr.Column(scale=2):
            minutes = gr.Number(label="Minutes (optional)",
                                info="Overrides the preset's time (shorter for small corpora); empty or 0 keeps it.",
                                elem_id="train-minutes")
            start_from = gr.Radio(START_FROM, value="auto", label="Start from", elem_id="train-start-from")
    with gr.Accordion("Advanced settings", open=False):
        advanced = _advanced()
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop (keeps the best model so far)", variant="stop", elem_id="train-stop")
    progress = gr.Markdown("No training yet.", elem_id="train-status")
    plot = gr.Plot(figures.loss_curve([], []), show_label=False, elem_id="loss-plot")
    gr.Markdown("**Samples written during training** (newest first), at a careful and a freer temperature:")
    samples = gr.HTML(render.samples_html([]), elem_id="train-samples")
    timer = gr.Timer(1.0, active=False)
    runs = _runs_section(sessions, model_md, timer)
    chooser = runs["chooser"]

    start.click(**sessions.action(start_training, inputs=dict(preset=preset, minutes=minutes, start_from=start_from, **advanced),
                                  outputs=dict(status=progress, timer=timer)),
                api_name="ui_start_training", api_visibility="undocumented").then(
        **sessions.action(refresh_runs, inputs=dict(chooser=chooser), outputs=runs), api_visibility="private")
    stop.click(**sessions.action(stop_training, outputs=dict(status=progress)),
               api_name="ui_stop_training", api_visibility="undocumented")
    timer.tick(**sessions.action(poll_training_and_runs, inputs=dict(chooser=chooser),
                                 outputs=dict(plot=plot, status=progress, samples=samples, timer=timer, summary=model_md,
                                              table=runs["table"], chooser=chooser)),
               api_name="ui_poll_training", api_visibility="undocumented", show_progress="hidden",
               concurrency_limit=None, trigger_mode="always_last")

    def on_page_load(demo: gr.Blocks) -> None:
        # Outside the tabs: a hidden tab's components mount only when it is opened, and the browser
        # state must have read its stored id before the load event sends it.
        visitor = visitor_state()
        demo.load(**sessions.action(identify_visitor, inputs=dict(visitor=visitor), outputs=dict(visitor=visitor, timer=timer, **runs)),
                  api_name="ui_identify_visitor", api_visibility="undocumented")

    return on_page_load
