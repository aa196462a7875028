"""The temperature sweep: many poems at each temperature, and what temperature does to them on average."""

from __future__ import annotations

import time

import gradio as gr

from poetry_lab.app.session import Session
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.app.ui.shared import (
    DEFAULT_CHARS,
    SWEEP_SAMPLES,
    cpu_queue,
    optional,
    scratch_path,
)
from poetry_lab.core.defaults import DEFAULT_SEED, SWEEP_MAX_TEMPERATURES, SWEEP_TEMPERATURES, temperatures_text
from poetry_lab.figures import lens as lens_figures
from poetry_lab.figures.lens import sweep_figure

INTRO = """
One poem per temperature can mislead: chance plays a large part. The sweep writes several poems at each
temperature and plots the average of each number (the line) with the lowest and highest (the band).
**The trade-off:** the cooler the temperature, the more real words and the steadier the metre, but the more
the poem repeats itself; the hotter, the fresher the phrasing, until the words stop being words.
"""

PANELS = """
*Bits per character*: how surprised the model is by its own letters. *Copied 4-word phrases*: the share found in
the training text. *Distinct word pairs*: low means going round in circles. *Real words*: the share found in the
training text or an English dictionary. *Metre regularity*: how well the lines keep the nearest common metre (1 is
perfectly regular). The CSV holds every poem with its numbers.
"""



# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
def sweep(session: Session, *, temperatures: str, samples: float | None, chars: float | None, seed: float | None) -> dict:
    started = time.monotonic()
    df = session.sweep(temperatures, optional(samples, int) or SWEEP_SAMPLES, optional(chars, int) or DEFAULT_CHARS,
                       optional(seed, int))
    path = scratch_path("temperature_sweep.csv")
    df.to_csv(path, index=False)
    temps = df["temperature"].nunique()
    return {"plot": lens_figures.sweep_figure(df, title="Each number per temperature: the line is the mean, the band the range"),
            "download": gr.DownloadButton(value=str(path), visible=True),
            "status": f"Wrote {len(df)} poems ({temps} temperatures x {len(df) // max(temps, 1)}) in {time.monotonic() - started:.1f} s."}


def create_sweep_tab(sessions: SessionRegistry) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        temps = gr.Textbox(label="Temperatures", value=temperatures_text(SWEEP_TEMPERATURES), scale=2,
                           elem_id="sweep-temperatures", info=f"Separated by commas, up to {SWEEP_MAX_TEMPERATURES}.")
        samples = gr.Number(label="Poems per temperature", value=SWEEP_SAMPLES, precision=0, minimum=0, maximum=50,
                            info=f"More poems, surer averages. Empty or 0: {SWEEP_SAMPLES}.")
        chars = gr.Number(label="Length (characters)", value=DEFAULT_CHARS, precision=0, minimum=0,
                          info=f"Of each poem. Empty or 0: {DEFAULT_CHARS}.")
        seed = gr.Number(label="Seed", value=DEFAULT_SEED, precision=0, info="Same seed, same poems. Empty or 0: new poems each time.")
    run = gr.Button("Run the sweep", variant="primary", elem_id="sweep-run")
    status = gr.Markdown(elem_id="sweep-status")
    plot = gr.Plot(sweep_figure(None), show_label=False, elem_id="sweep-plot")
    download = gr.DownloadButton("Download every poem and its numbers (CSV)", visible=False, elem_id="sweep-download")
    gr.Markdown(PANELS, elem_classes="pl-muted")

    gr.on([run.click, temps.submit],
          **sessions.action(sweep, inputs=dict(temperatures=temps, samples=samples, chars=chars, seed=seed),
                            outputs=dict(plot=plot, download=download, status=status)),
          api_name="sweep", **cpu_queue())
