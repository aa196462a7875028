"""The first tab: a poem in a form (one of poetry_lab.compose.forms.FORMS), at
several temperatures side by side, written with the poet: their own first lines, lines they keep or
edit, one line written again, the next best lines for any line."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.app.ui.shared import cpu_queue, optional, scratch_path
from poetry_lab.compose.forms import DEFAULT_FORM, FORMS
from poetry_lab.compose.subject import MAX_SUBJECT_CHARS
from poetry_lab.core.defaults import (
    COMPOSE_TEMPERATURES,
    DEFAULT_SEED,
    MAX_TEMPERATURE,
    MAX_TEMPERATURES,
    temperatures_text,
)
from poetry_lab.errors import PoetryLabError

INTRO = """
The model writes a poem in the form you choose, line by line: each line is the best of a batch of drafts
that keep to the form's syllables and rhymes (true rhymes by the CMU pronouncing dictionary) and to real
words. The lines are written word by word by the model's **writer**, a word-level LSTM (the one that ships
with Poetry Lab, or the copy your training taught your own poems); a model without one writes them letter
by letter. Each column is the same poem at another **temperature**: low is careful, high is adventurous.
Type your own first line, or name a **subject** ("the sea at night"), if you like; then keep the lines
you like and have the rest written again.
"""


def form_choices() -> list[tuple[str, str]]:
    """The form dropdown's (label, name) pairs, made from the one table of forms."""
    return [(f"{form.title}: {form.description}", name) for name, form in FORMS.items()]


def lines_info() -> str:
    """What the Lines field does, naming the forms that take any number of lines."""
    free = " and ".join(form.title.lower() for form in FORMS.values() if form.any_length)
    return f"For {free} (a whole number of stanzas otherwise). Empty or 0: the form's own."


NO_POEM = "Write poems first, then choose one to work on."


# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
def _working(session: Session, column: int, status: str = "") -> dict:
    """The poem the poet works on: its lines to edit, which to keep, the line chooser."""
    poem = session.compose_slot.poem(column)
    numbers = [(str(k + 1), k) for k in range(len(poem.lines))]
    lines = [(f"{k + 1}. {line.text[:50]}", k) for k, line in enumerate(poem.lines)]
    out = {"edit": "\n".join(line.text for line in poem.lines), "keep": gr.CheckboxGroup(choices=numbers, value=[]),
           "line": gr.Dropdown(choices=lines, value=0), "candidates": render.candidates_frame([])}
    return {**out, "status": status} if status else out


def _column(column) -> int:
    if column in (None, ""):
        raise PoetryLabError(NO_POEM)
    return int(column)


def write_poems(session: Session, *, form: str, lines: float | None, opening: str, temperatures: str, seed: float | None,
                raw: bool, about: str = "", theme: int | None = None) -> dict:
    n, seed = optional(lines, int), optional(seed, int)
    poems = session.compose(form or DEFAULT_FORM, n, opening or "", temperatures or COMPOSE_TEMPERATURES, seed, bool(raw),
                            about=about or "", theme=theme)
    settings = f"{poems[0].form}, seed {poems[0].seed}" + (f", {poems[0].on}" if poems[0].on else "") + (", raw letters" if raw else "")
    path = scratch_path("poems_in_form.md")
    path.write_text(render.poem_markdown(poems, settings), encoding="utf-8")
    took = sum(p.seconds for p in poems)
    return {"poems": render.poems_in_form_html(poems), "download": gr.DownloadButton(value=str(path), visible=True),
            "column": gr.Radio(choices=[(f"temperature {p.temperature:g}", k) for k, p in enumerate(poems)], value=0),
            **_working(session, 0), "status": f"Wrote {len(poems)} poems ({settings}) in {took:.1f} s."}


def write_on_theme(session: Session, *, theme, form: str, lines: float | None, opening: str, temperatures: str,
                   seed: float | None, raw: bool) -> dict:
    """From a theme card (Themes tab): poems on that theme of the poet's poems, with the tab's own settings;
    the subject box shows the theme's words and the page turns to this tab."""
    if theme in (None, ""):
        raise PoetryLabError("Find the themes of your poems first, then choose the theme to write on.")
    out = write_poems(session, form=form, lines=lines, opening=opening, temperatures=temperatures, seed=seed, raw=raw,
                      theme=int(theme))
    return {**out, "about": session.compose_slot.poems[0].about, "tabs": gr.Tabs(selected="compose")}


def choose_poem(session: Session, *, column) -> dict:
    return _working(session, _column(column))


def rewrite_poem(session: Session, *, column, edit: str, keep: list[int] | None) -> dict:
    column = _column(column)
    lines = [line for line in (edit or "").split("\n") if line.strip()]
    kept = sorted(int(k) for k in keep or [])
    poem = session.rewrite_poem(column, kept, lines)
    what = f"kept line{'s' if len(kept) > 1 else ''} {', '.join(str(k + 1) for k in kept)}" if kept else "kept no line"
    return {"poems": render.poems_in_form_html(session.compose_slot.poems), **_working(session, column),
            "status": f"Wrote the poem at temperature {poem.temperature:g} again ({what}) in {poem.seconds:.1f} s."}


def rewrite_line(session: Session, *, column, line) -> dict:
    column = _column(column)
    if line in (None, ""):
        raise PoetryLabError("Choose the line to write again.")
    poem = session.rewrite_line(column, int(line))
    out = _working(session, column)
    out["line"] = gr.Dropdown(choices=out["line"].choices, value=int(line))
    return {"poems": render.poems_in_form_html(session.compose_slot.poems), **out,
            "candidates": render.candidates_frame(poem.lines[int(line)].candidates),
            "status": f"Line {int(line) + 1} written again: “{poem.lines[int(line)].text}”."}


def show_candidates(session: Session, *, column, line) -> dict:
    if line in (None, ""):
        raise PoetryLabError("Choose a line to see its other drafts.")
    found = session.line_candidates(_column(column), int(line))
    note = (f"The next best drafts for line {int(line) + 1}, best first." if found
            else f"Line {int(line) + 1} has no other drafts (it is your own line, or raw letters).")
    return {"candidates": render.candidates_frame(found), "status": note}


def create_compose_tab(sessions: SessionRegistry, tabs: gr.Tabs) -> Callable[[gr.Button, gr.Radio], None]:
    """The tab; it answers how a theme card's button writes poems here (`on_theme(button, theme)`)."""
    gr.Markdown(INTRO)
    with gr.Row():
        form = gr.Dropdown(form_choices(), value=DEFAULT_FORM, label="Form", scale=2, elem_id="compose-form")
        temps = gr.Textbox(label="Temperatures (one poem each)", value=temperatures_text(COMPOSE_TEMPERATURES), scale=2,
                           elem_id="compose-temperatures",
                           info=f"1 to {MAX_TEMPERATURES} numbers from 0 to {MAX_TEMPERATURE:g}, separated by commas.")
        seed = gr.Number(label="Seed", value=DEFAULT_SEED, precision=0, scale=1, info="Same seed, same poems. Empty or 0: new poems each time.")
    with gr.Row():
        opening = gr.Textbox(label="Your first line (optional)", lines=1, scale=3, elem_id="compose-opening",
                             placeholder="Shall I compare thee to a summer's day?",
                             info="Kept as you write it; the other lines rhyme and scan around it. Several lines: one per line.")
        lines = gr.Number(label="Lines", precision=0, minimum=0, scale=1,
                          info=lines_info())
    about = gr.Textbox(label="Subject (optional)", lines=1, max_length=MAX_SUBJECT_CHARS, elem_id="compose-about",
                       placeholder="the sea at night",
                       info="A word or a short phrase: the writer leans to words related to it (the character model writes without it).")
    raw = gr.Checkbox(label="Raw letters: the bare model, letter by letter, with no words, metre or rhyme kept (to compare)",
                      value=False, elem_id="compose-raw")
    run = gr.Button("Write poems", variant="primary", elem_id="compose-run")
    status = gr.Markdown(elem_id="compose-status")
    poems = gr.HTML(render.poems_in_form_html([]), elem_id="compose-poems")
    download = gr.DownloadButton("Download these poems (Markdown)", visible=False, elem_id="compose-download")
    with gr.Accordion("Work on one poem: keep lines, edit them, write the rest again", open=True, elem_id="compose-work"):
        column = gr.Radio([], label="The poem to work on", elem_id="compose-column")
        with gr.Row():
            edit = gr.Textbox(label="Its lines (edit any line; tick the ones to keep)", lines=14, max_lines=40, scale=3,
                              elem_id="compose-edit")
            keep = gr.CheckboxGroup([], label="Keep lines", scale=1, elem_id="compose-keep")
        rewrite = gr.Button("Write the other lines again", elem_id="compose-rewrite")
        with gr.Row():
            line = gr.Dropdown([], label="One line", scale=3, elem_id="compose-line")
            again = gr.Button("Write this line again", scale=1, elem_id="compose-line-again")
            others = gr.Button("Show its next best drafts", scale=1, elem_id="compose-candidates")
        candidates = gr.Dataframe(render.candidates_frame([]), interactive=False, wrap=True, show_label=False,
                                  elem_id="compose-candidates-table")

    work = dict(edit=edit, keep=keep, line=line, candidates=candidates, status=status)
    gr.on([run.click, opening.submit, about.submit],
          **sessions.action(write_poems, inputs=dict(form=form, lines=lines, opening=opening, temperatures=temps, seed=seed, raw=raw,
                                                     about=about),
                            outputs=dict(poems=poems, download=download, column=column, **work)),
          api_name="ui_compose", api_visibility="undocumented", **cpu_queue())

    def on_theme(button: gr.Button, theme: gr.Radio) -> None:
        button.click(**sessions.action(write_on_theme, inputs=dict(theme=theme, form=form, lines=lines, opening=opening, temperatures=temps,
                                                                   seed=seed, raw=raw),
                                       outputs=dict(poems=poems, download=download, column=column, about=about, tabs=tabs, **work)),
                     api_name="ui_compose_theme", api_visibility="undocumented", **cpu_queue())

    column.input(**sessions.action(choose_poem, inputs=dict(column=column), outputs=work),
                 api_name="ui_compose_choose", api_visibility="undocumented")
    rewrite.click(**sessions.action(rewrite_poem, inputs=dict(column=column, edit=edit, keep=keep), outputs=dict(poems=poems, **work)),
                  api_name="ui_compose_rewrite", api_visibility="undocumented", **cpu_queue())
    again.click(**sessions.action(rewrite_line, inputs=dict(column=column, line=line), outputs=dict(poems=poems, **work)),
                api_name="ui_compose_line", api_visibility="undocumented", **cpu_queue())
    others.click(**sessions.action(show_candidates, inputs=dict(column=column, line=line), outputs=dict(candidates=candidates, status=status)),
                 api_name="ui_compose_candidates", api_visibility="undocumented")
    return on_theme
