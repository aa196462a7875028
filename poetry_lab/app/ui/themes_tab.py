"""The Themes tab: the poems of the loaded corpus sorted into themes by one method (or all five compared),
on a map with the poems of the last comparison as stars, each theme's words and typical poems.

The event waits in the server's one CPU queue with poems and comparisons (shared.cpu_queue), so no more
than `cpu_workers` such jobs run at once; Session.themes refuses the embedding methods while the
session's own training runs, and caches what it fitted so re-placing new poems is quick.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gradio as gr

from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.app.ui.shared import cpu_queue
from poetry_lab.core.defaults import DEFAULT_THEMES
from poetry_lab.errors import PoetryLabError
from poetry_lab.figures import themes as themes_figures
from poetry_lab.themes.methods import DEFAULT_METHOD, DEFAULT_METHOD_REASON, METHODS

INTRO = """
**Themes** sorts the poems you loaded in *Your poems* into groups. Each dot on the map is one poem,
coloured by its theme: hover it to read its first line. The poems you wrote last (in *Write a poem* or *Compare temperatures*)
appear as ★ stars, so you can see which of your themes the model writes in, and which poems it writes closest to.
"""

METHOD_CHOICES = [
    ("Shared words (TF-IDF + K-means) · fast", "tfidf"),
    ("Topics (LDA: each poem is a mix of topics) · fast", "lda"),
    ("How the poetry model reads them (ELMo-style embeddings) · slower", "elmo"),
    ("Topics and the model's reading together (autoencoder) · slower", "autoencoder"),
    ("What the poems mean (MiniLM sentence encoder) · slower the first time", "minilm"),
    ("Compare all five", "all"),
]
K_CHOICES = [("automatic (best separated)", "auto")] + [(str(k), str(k)) for k in range(2, 13)]

METHOD_HELP = """
The two slower methods read every poem with the current poetry model, forwards and backwards. The first
time on a corpus, the model must first learn to read your poems backwards: that takes about 25 seconds.
"""

NUMBERS = """
**Reading the comparison.** *Coherence*: how often each theme's top words appear in the same poems,
from -1 (never) to 1 (always). Compare it with *random themes*, the same measure for themes drawn at random:
a method only finds something where it scores above that. *Silhouette*: how well the poems sit apart
in the method's own space; it compares poorly between methods (LDA always scores high).
"""



# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
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
            "status": render.themes_status(report, name, time.monotonic() - started),
            "pick": gr.Radio(choices=(choices := render.theme_choices(report)), value=choices[0][1] if choices else None)}


def create_themes_tab(sessions: SessionRegistry, on_theme: Callable[[gr.Button, gr.Radio], None]) -> None:
    """The tab; `on_theme(button, theme)` (the Write tab's) makes its button write poems on the theme chosen."""
    gr.Markdown(INTRO)
    with gr.Row():
        method = gr.Radio(METHOD_CHOICES, value=DEFAULT_METHOD, label="How to find themes", info=METHOD_HELP.strip(),
                          elem_id="themes-method", scale=3)
        k = gr.Dropdown(K_CHOICES, value=str(DEFAULT_THEMES), label="Number of themes", elem_id="themes-k", scale=1,
                        info="Automatic picks the number whose groups are best separated (2 to 10).")
    gr.Markdown(DEFAULT_METHOD_REASON, elem_classes="pl-muted", elem_id="themes-default-reason")
    run = gr.Button("Find themes", variant="primary", elem_id="themes-run")
    status = gr.Markdown(elem_id="themes-status")
    themes_map = gr.Plot(themes_figures.theme_map(None), show_label=False, elem_id="themes-map")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gr.Markdown("### The themes")
            themes_list = gr.HTML(render.themes_html(None), elem_id="themes-list")
            pick = gr.Radio([], label="Write a poem on a theme", elem_id="themes-pick",
                            info="Its top words become the subject, and the poems are written in Write a poem, with that tab's form and settings.")
            write = gr.Button("Write a poem on this theme", elem_id="themes-write")
        with gr.Column(scale=2):
            gr.Markdown("### Your generated poems (★)")
            placed = gr.HTML(render.placements_html(None), elem_id="themes-placed")
    with gr.Accordion("Top words as bars", open=False):
        words = gr.Plot(themes_figures.top_words_figure([]), show_label=False, elem_id="themes-words")
    gr.Markdown("### The methods compared")
    table = gr.Dataframe(render.methods_table(None), interactive=False, show_label=False, elem_id="themes-table", wrap=True)
    compared = gr.Plot(themes_figures.comparison_figure(None), show_label=False, elem_id="themes-compare")
    gr.Markdown(NUMBERS, elem_classes="pl-muted")

    run.click(**sessions.action(themes, inputs=dict(method=method, n_themes=k),
                                outputs=dict(map=themes_map, themes=themes_list, placed=placed, table=table, compared=compared,
                                             words=words, status=status, pick=pick)),
              api_name="themes", **cpu_queue())
    on_theme(write, pick)
