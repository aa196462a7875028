"""The Gradio app, as a thin layer over poetry_lab.app.session.Session: `create_demo()` builds it, app.py launches it.

Gradio 6 takes the theme and CSS at launch: `demo.launch(theme=THEME, css=CSS, ...)`.
"""

from __future__ import annotations

import gradio as gr

from poetry_lab.app.ui import api, model_tab
from poetry_lab.app.ui.compare_tab import create_compare_tab
from poetry_lab.app.ui.compose_tab import create_compose_tab
from poetry_lab.app.ui.corpus_tab import create_corpus_tab
from poetry_lab.app.ui.model_tab import create_model_tab
from poetry_lab.app.ui.sessions import SessionRegistry, SessionWatch, forget_gradio_state
from poetry_lab.app.ui.shared import cpu_queue
from poetry_lab.app.ui.sweep_tab import create_sweep_tab
from poetry_lab.app.ui.themes_tab import create_themes_tab
from poetry_lab.app.ui.train_tab import create_train_tab
from poetry_lab.app.ui.uploads import UploadScreen

__all__ = ["CSS", "THEME", "create_demo", "server_middleware"]

# System fonts only: the server may be offline, and a web font would stall the first paint.
THEME = gr.themes.Soft(primary_hue="rose", neutral_hue="stone",
                       font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
# Soft's rose and stone, one or two shades deeper where text sits on them, so every text reaches WCAG AA
# (4.5:1; tests/test_accessibility.py runs axe-core on every tab, light and dark). Soft's own shades fall short:
# rose-500 labels on their rose-100 badge 3.1:1, stone-400 help and muted notes on white 2.5:1, white on the
# rose-500 button 3.7:1 (on its rose-400 hover 2.7:1). The app's own HTML (render.py, CSS below) takes its
# muted grey from --body-text-color-subdued, so it follows from here.
THEME.set(
    block_label_text_color="*primary_700", block_title_text_color="*primary_700",  # 5.2:1 on the rose-100 badge
    body_text_color_subdued="*neutral_600",  # help texts, empty dropdowns, muted notes: 7.3:1 on stone-50
    body_text_color_subdued_dark="*neutral_300",  # 6.9:1 on the stone-700 inputs of dark mode
    input_placeholder_color="*neutral_500", input_placeholder_color_dark="*neutral_300",
    color_accent="*primary_700",  # the selected tab's name (rose-600 would be 4.50:1 on stone-50, too close)
    button_primary_background_fill="*primary_600", button_primary_background_fill_hover="*primary_700",  # white: 4.7, 6.3
    button_primary_border_color="*primary_600", button_primary_border_color_hover="*primary_700",
    button_primary_background_fill_hover_dark="*primary_700", button_primary_border_color_hover_dark="*primary_700",
    button_secondary_background_fill_hover_dark="*primary_700",  # Soft lights a hovered button rose-500 under white
    checkbox_label_background_fill_selected="*primary_600",  # the chosen radio option: white on it 4.7:1
    checkbox_label_background_fill_selected_dark="*primary_700",  # stone-100 on it 5.8:1
)
# No rose is dark enough on stone-50 and light enough on stone-950 at once (rose-600: 4.50 and 4.2), so the
# accent needs a dark-mode value: rose-500, 5.4:1 there. set() takes no color_accent_dark, but the theme
# writes every *_dark attribute into its dark-mode block.
THEME.color_accent_dark = "*primary_500"

CSS = """
.pl-columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 14px; }
.pl-col { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 12px 14px;
          background: var(--background-fill-secondary); min-width: 0; }
.pl-col h3 { margin: 0 0 8px 0; font-size: 1rem; }
.pl-poem { white-space: pre-wrap; word-break: break-word; font-family: Georgia, "Times New Roman", serif;
           font-size: 0.98rem; line-height: 1.45; margin: 0; background: none; border: none; padding: 0; }
.pl-metrics { width: 100%; margin: 10px 0 0 0; font-size: 0.85rem; border-collapse: collapse; border: none; }
.pl-metrics tr, .pl-metrics th, .pl-metrics td { border: none; background: none; }
.pl-metrics tr + tr { border-top: 1px solid var(--border-color-primary); }
.pl-metrics th { text-align: left; font-weight: normal; color: var(--body-text-color-subdued); padding: 3px 6px 3px 0; }
.pl-metrics td { text-align: right; padding: 3px 0; white-space: nowrap; font-variant-numeric: tabular-nums; }
.pl-copy { margin-top: 6px; font-size: 0.82rem; color: var(--body-text-color-subdued); }
.pl-copy q { display: block; font-family: Georgia, serif; color: var(--body-text-color); white-space: pre-wrap; }
.pl-preview, .pl-samples { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 12px; }
.pl-preview .pl-poem, .pl-sample { border-left: 3px solid var(--color-accent-soft); padding-left: 10px; }
.pl-sample-head { font-size: 0.8rem; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.pl-muted { color: var(--body-text-color-subdued); }
/* The poet's lens: rhyme and metre over each poem, each verse line's rhyme letter and syllables in its margin. */
.pl-scan { display: flex; flex-wrap: wrap; gap: 2px 12px; margin: 0 0 8px 0; font-size: 0.82rem;
           color: var(--body-text-color-subdued); }
.pl-scan b { color: var(--body-text-color); font-weight: 600; letter-spacing: 0.03em; }
.pl-line { display: flex; align-items: baseline; }
.pl-line[data-scan]::after { content: attr(data-scan); margin-left: auto; padding-left: 10px; flex-shrink: 0;
           font: 0.72rem ui-sans-serif, system-ui, sans-serif; color: var(--body-text-color-subdued);
           font-variant-numeric: tabular-nums; white-space: pre; }
.pl-about { font-style: italic; margin: 0 0 6px 0; }
.pl-legend { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 2px 0 10px 0; }
.pl-ramp { display: inline-flex; justify-content: space-between; min-width: 200px; padding: 1px 8px; border-radius: 4px;
           vertical-align: middle; font-size: 0.75rem;
           background: linear-gradient(to right, hsl(0,85%,82%), hsl(52,85%,82%), hsl(105,85%,82%), hsl(157,85%,82%), hsl(210,85%,82%)); }
/* On its own words too: Gradio gives every element in an HTML block the body colour (.prose *), light in dark mode. */
.pl-ramp, .pl-ramp span { color: #1c1917; }
.pl-lens-text { font: 0.85rem/1.7 ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
.pl-lens-text .pl-confidence, .pl-lens-text .pl-copies { display: inline; }
.pl-confidence span { color: #1c1917; }  /* dark letters on the light colours, in dark mode too */
.pl-confidence, .pl-copies { white-space: pre-wrap; }
.pl-lens-text .pl-copies { font-family: Georgia, "Times New Roman", serif; font-size: 0.98rem; line-height: 1.45; }
.pl-prompt, .pl-rest { color: var(--body-text-color-subdued); }
.pl-col mark, .pl-legend mark { background: #fde68a; color: #1c1917; border-radius: 2px; padding: 0 1px; }
.pl-sources { margin-top: 10px; font-size: 0.82rem; }
.pl-source summary { cursor: pointer; font-family: Georgia, serif; margin-top: 4px; }
.pl-source .pl-poem { font-size: 0.85rem; margin: 4px 0 6px 0; padding-left: 8px; max-height: 16em; overflow: auto;
           border-left: 3px solid var(--color-accent-soft); }
/* Themes: a colour dot matching the map, the theme's words under it. */
.pl-theme { margin: 6px 0; }
.pl-swatch { display: inline-block; width: 0.75em; height: 0.75em; border-radius: 50%; margin-right: 6px; }
.pl-words { font-size: 0.88rem; margin: 2px 0 6px 0; }
/* Poems in form: the poet's own lines in italics. */
.pl-yours { font-style: italic; color: var(--color-accent); }
"""

HEADER = """
# Poetry Lab
Small neural networks that learn poems letter by letter and write them word by word. Choose a form and press **Write poems** to read
a sonnet (or a ballad, a limerick, a haiku) in its voice; then teach it your own poems in **Your poems** and
**Train**, and it writes in yours.
"""


def create_demo(sessions: SessionRegistry | None = None) -> gr.Blocks:
    """The app. `sessions` holds one Session per browser tab or API client (sessions.py); launch with
    `server_middleware(demo, sessions)` too, which keeps its uploads and heartbeats (see app.py)."""
    sessions = SessionRegistry() if sessions is None else sessions  # (an empty registry is falsy: it has a len)
    bind = sessions.bind
    with gr.Blocks(title="Poetry Lab", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(HEADER)
        model_md = gr.Markdown(elem_id="model-summary")
        with gr.Tabs() as tabs:
            with gr.Tab("Write a poem", id="compose"):
                on_theme = create_compose_tab(sessions, tabs)
            with gr.Tab("Compare temperatures", id="compare"):
                create_compare_tab(sessions)
            with gr.Tab("Temperature sweep", id="sweep"):
                create_sweep_tab(sessions)
            with gr.Tab("Your poems", id="corpus"):
                create_corpus_tab(sessions)
            with gr.Tab("Train", id="train"):
                list_runs_at_load = create_train_tab(sessions, model_md)
            with gr.Tab("Themes", id="themes"):
                create_themes_tab(sessions, on_theme)
            with gr.Tab("Model file", id="model"):
                create_model_tab(sessions, model_md)

        demo.load(**sessions.action(model_tab.model_summary, outputs=dict(summary=model_md), status="summary"),
                  api_name="ui_model_summary", api_visibility="undocumented")
        list_runs_at_load(demo)
        demo.unload(sessions.close)
        sessions.on_forget(lambda key: forget_gradio_state(demo, key))
        # The JSON API: one endpoint per action, per session like the page (one gradio_client.Client = one session).
        gr.api(bind(api.api_load_corpus, files=("files",)), api_name="load_corpus")
        gr.api(bind(api.api_load_model, files=("file",)), api_name="load_model")
        gr.api(bind(api.api_start_training), api_name="start_training")
        gr.api(bind(api.api_training_status), api_name="training_status", concurrency_limit=None)
        gr.api(bind(api.api_stop_training), api_name="stop_training")
        gr.api(bind(api.api_list_runs), api_name="list_runs", concurrency_limit=None)
        gr.api(bind(api.api_resume_run), api_name="resume_run")
        gr.api(bind(api.api_load_run), api_name="load_run")
        gr.api(bind(api.api_compare), api_name="compare", **cpu_queue())
        gr.api(bind(api.api_compose), api_name="compose", **cpu_queue())
    return demo


def server_middleware(demo: gr.Blocks, sessions: SessionRegistry) -> dict:
    """`demo.launch(**server_middleware(demo, sessions))`: only a session's own uploads reach a handler
    (uploads.py), and the registry sees which sessions a page holds open and forgets the idle ones (sessions.py)."""
    from starlette.middleware import Middleware

    return {"app_kwargs": {"middleware": [Middleware(UploadScreen, ledger=sessions.uploads, demo=demo),
                                          Middleware(SessionWatch, sessions=sessions)]}}
