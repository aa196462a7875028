"""The corpus tab: bring poems (files, pasted text or a bundled collection) and see what they hold."""

from __future__ import annotations

import gradio as gr

from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.app.ui.shared import (
    bundled_corpora,
    bundled_name,
)
from poetry_lab.settings import current_limits

INTRO = """
Bring the poems the model should learn from. Upload one or more plain-text files (.txt or .md), paste
text, or pick a collection that comes with Poetry Lab, or combine them. Separate poems with a blank line.
"""



# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
def load_corpus(session: Session, *, files: list[str] | None, text: str | None, bundled: str | None) -> dict:
    report = session.load_corpus(files=list(files or []), text=text or None, bundled=bundled_name(bundled))
    return {"stats": render.corpus_stats_markdown(report.to_json(), report.name),
            "warnings": render.warnings_markdown(report.warnings), "preview": render.preview_html(report.preview),
            "status": f"Loaded {report.name}. Next: the **Train** tab."}


def create_corpus_tab(sessions: SessionRegistry) -> None:
    gr.Markdown(INTRO)
    limits = current_limits()
    with gr.Row():
        with gr.Column():
            files = gr.File(label=f"Upload .txt or .md files (at most {limits.max_files}, {limits.max_upload_mb:g} MB each)",
                            file_count="multiple", file_types=[".txt", ".md"], type="filepath", elem_id="corpus-upload")
            bundled = gr.Dropdown(bundled_corpora(), value=None, label="…or a bundled collection",
                                  info="Public-domain texts found on this server.", elem_id="corpus-bundled")
        text = gr.Textbox(label="…or paste poems here", lines=10, max_lines=20, elem_id="corpus-text",
                          placeholder="Paste your poems, one blank line between poems.")
    load = gr.Button("Use these poems", variant="primary", elem_id="corpus-load")
    status = gr.Markdown(elem_id="corpus-status")
    stats = gr.Markdown("Nothing loaded yet.", elem_id="corpus-stats")
    warnings = gr.Markdown(elem_id="corpus-warnings")
    gr.Markdown("**The first poems, as the model will see them:**")
    preview = gr.HTML(elem_id="corpus-preview")

    gr.on([load.click, files.upload, bundled.input],
          **sessions.action(load_corpus, inputs=dict(files=files, text=text, bundled=bundled),
                            outputs=dict(stats=stats, warnings=warnings, preview=preview, status=status), files=("files",)),
          api_name="ui_load_corpus", api_visibility="undocumented")
