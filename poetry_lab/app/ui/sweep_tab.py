"""The temperature sweep: many poems at each temperature, and what temperature does to them on average."""

from __future__ import annotations

import gradio as gr

from poetry_lab.analysis.lens import SWEEP_TEMPERATURES
from poetry_lab.app.ui import handlers
from poetry_lab.app.ui.sessions import SessionRegistry
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


def create_sweep_tab(sessions: SessionRegistry) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        temps = gr.Textbox(label="Temperatures", value=", ".join(f"{t:g}" for t in SWEEP_TEMPERATURES), scale=2,
                           elem_id="sweep-temperatures", info="Separated by commas, up to 12.")
        samples = gr.Number(label="Poems per temperature", value=handlers.SWEEP_SAMPLES, precision=0, minimum=0, maximum=50,
                            info=f"More poems, surer averages. Empty or 0: {handlers.SWEEP_SAMPLES}.")
        chars = gr.Number(label="Length (characters)", value=handlers.DEFAULT_CHARS, precision=0, minimum=0,
                          info=f"Of each poem. Empty or 0: {handlers.DEFAULT_CHARS}.")
        seed = gr.Number(label="Seed", value=1, precision=0, info="Same seed, same poems. Empty or 0: new poems each time.")
    run = gr.Button("Run the sweep", variant="primary", elem_id="sweep-run")
    status = gr.Markdown(elem_id="sweep-status")
    plot = gr.Plot(sweep_figure(None), show_label=False, elem_id="sweep-plot")
    download = gr.DownloadButton("Download every poem and its numbers (CSV)", visible=False, elem_id="sweep-download")
    gr.Markdown(PANELS, elem_classes="pl-muted")

    gr.on([run.click, temps.submit],
          **sessions.action(handlers.sweep, inputs=dict(temperatures=temps, samples=samples, chars=chars, seed=seed),
                            outputs=dict(plot=plot, download=download, status=status)),
          api_name="sweep")
