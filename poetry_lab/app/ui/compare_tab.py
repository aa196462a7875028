"""Compare temperatures: one prompt, several temperatures, the poems side by side with their numbers, seen
plainly (with rhyme and metre), by the model's confidence in each letter, or with their copied passages."""

from __future__ import annotations

import gradio as gr

from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.app.ui.shared import (
    DEFAULT_CHARS,
    DEFAULT_LINES,
    cpu_queue,
    optional,
    scratch_path,
)
from poetry_lab.core.defaults import COMPARE_TEMPERATURES, DEFAULT_SEED, MAX_TEMPERATURE, MAX_TEMPERATURES, temperatures_text
from poetry_lab.figures import training as figures
from poetry_lab.settings import current_limits

INTRO = """
**Temperature** is how adventurous the model is when it picks each next letter: near 0 it always takes
the likeliest one (safe, often repetitive), around 1 it writes as it learned, and above 1 it takes more
chances (surprising, sometimes nonsense). All columns use the same prompt and the same random seed,
so the temperature is the only difference between them.
"""

NUMBERS = """
**What the numbers mean.** *Surprise, in bits per character*: how unexpected each letter was to the model
itself, on average (lower is more predictable; 2 bits is as unsure as a pick among 4 letters).
*Copied 4-word phrases*: the share of four-word runs also found in the training text (high means quoting
rather than inventing). *Distinct word pairs*: the share of
two-word pairs that differ (low means going round in circles). *Repeated lines*: lines written more than once.
*Rhyme and metre*: over each poem, its end-rhyme scheme (lines with the same letter rhyme) and the nearest common
metre with how regularly the lines keep it (1.00: every line fits). The right margin gives each line's rhyme letter
and syllable count; hover a line to see its stresses (/ stressed, x unstressed).
"""



# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
def compare(session: Session, *, prompt: str, temperatures: str, length: float | None, unit: str, seed: float | None,
            top_k: float | None, top_p: float | None) -> dict:
    """The poems in three views (plain, confidence, copied passages), rendered at once so that switching
    between them never writes the poems again; their numbers as bars; a Markdown download."""
    by_lines = unit == "lines"
    n = optional(length, int) or (DEFAULT_LINES if by_lines else DEFAULT_CHARS)
    seed, top_k, top_p = optional(seed, int), optional(top_k, int), optional(top_p)
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


def create_compare_tab(sessions: SessionRegistry) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        prompt = gr.Textbox(label="Prompt: how the poems begin", value="Shall I compare thee", lines=2, scale=3,
                            elem_id="compare-prompt", placeholder="The first words of the poem (may be empty)",
                            info=f"A longer prompt than {current_limits().max_prompt_chars:,} characters keeps its end.")
        temps = gr.Textbox(label=f"Temperatures (1 to {MAX_TEMPERATURES} numbers, from 0 to {MAX_TEMPERATURE:g})",
                           value=temperatures_text(COMPARE_TEMPERATURES), scale=2,
                           elem_id="compare-temperatures", info="Separated by commas; one column each.")
    with gr.Row():
        length = gr.Number(label="Length", value=DEFAULT_CHARS, precision=0, minimum=0,
                           info=f"How much each poem may write. Empty or 0: {DEFAULT_CHARS} characters "
                                f"({DEFAULT_LINES} lines).")
        unit = gr.Radio(["characters", "lines"], value="characters", label="Length counted in")
        seed = gr.Number(label="Seed", value=DEFAULT_SEED, precision=0, info="Same seed, same poems. Empty or 0: new poems each time.")
    with gr.Accordion("Optional: keep only the likeliest choices (top-k / top-p)", open=False):
        gr.Markdown("Both trim the unlikely letters before the model picks one, which keeps high temperatures "
                    "readable. Empty or 0 keeps all choices.")
        with gr.Row():
            top_k = gr.Number(label="top-k: keep the k likeliest letters", value=None, precision=0)
            top_p = gr.Number(label="top-p: keep the likeliest letters that together make up this share (0 to 1)", value=None)
    run = gr.Button("Write poems", variant="primary", elem_id="compare-run")
    status = gr.Markdown(elem_id="compare-status")
    with gr.Tabs(elem_id="compare-views"):  # all three are filled at once: switching never rewrites the poems
        with gr.Tab("Plain", id="plain"):
            results = gr.HTML(render.compare_html([]), elem_id="compare-results")
        with gr.Tab("Confidence", id="confidence"):
            confidence = gr.HTML(render.confidence_columns([]), elem_id="compare-confidence")
        with gr.Tab("Copied passages", id="copies"):
            copies = gr.HTML(render.copies_columns([]), elem_id="compare-copies")
    gr.Markdown(NUMBERS, elem_classes="pl-muted")
    download = gr.DownloadButton("Download these poems (Markdown)", visible=False, elem_id="compare-download")
    with gr.Accordion("The numbers as charts", open=False):
        bars = gr.Plot(figures.temperature_bars(None), show_label=False, elem_id="compare-bars")

    gr.on([run.click, prompt.submit, temps.submit],
          **sessions.action(compare,
                            inputs=dict(prompt=prompt, temperatures=temps, length=length, unit=unit, seed=seed, top_k=top_k, top_p=top_p),
                            outputs=dict(plain=results, confidence=confidence, copies=copies, bars=bars, download=download, status=status)),
          api_name="ui_compare", api_visibility="undocumented", **cpu_queue())
