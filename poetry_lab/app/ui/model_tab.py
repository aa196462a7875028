"""The model tab: take the current model home as one file, or bring one back."""

from __future__ import annotations

import shutil

import gradio as gr

from poetry_lab.app.session import Session
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.app.ui.shared import (
    current_model,
    scratch_path,
)
from poetry_lab.errors import PoetryLabError

INTRO = """
A model is one `.safetensors` file holding everything it needs (its weights, its alphabet and how it was
trained). Download the current model, the one the first tab writes with, to keep it; load it back later
to write with it again or to fine-tune it on new poems.
"""



# --- handlers: named inputs in, named outputs out (SessionRegistry.action) ---------------
def model_summary(session: Session) -> dict:
    return {"summary": current_model(session)}


def load_model(session: Session, *, path: str | None) -> dict:
    if not path:
        raise PoetryLabError("Choose a .safetensors model file first (one downloaded from Poetry Lab).")
    return {"status": session.load_model_file(path), "summary": current_model(session)}


def download_model(session: Session) -> dict:
    """A copy of the model file in a fresh temp folder, which Gradio serves (it refuses other folders)."""
    source = session.model_file()
    target = scratch_path(source.name)
    shutil.copyfile(source, target)
    ready = f"Ready: {target.name} ({target.stat().st_size / 1e6:.1f} MB). Load it back here later."
    return {"file": gr.File(value=str(target), visible=True), "status": ready}


def create_model_tab(sessions: SessionRegistry, model_md: gr.Markdown) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column():
            prepare = gr.Button("Prepare the current model for download", elem_id="model-prepare")
            # Shown once there is a file: Gradio draws an empty File as a box with a bare aria-label (a
            # div with no role may not carry one; axe-core's aria-prohibited-attr), and no option changes that.
            file_out = gr.File(label="Model file", interactive=False, visible=False, elem_id="model-download")
            download_status = gr.Markdown(elem_id="model-download-status")
        with gr.Column():
            file_in = gr.File(label="Load a model file (.safetensors)", file_types=[".safetensors"], type="filepath",
                              elem_id="model-upload")
            load_status = gr.Markdown(elem_id="model-load-status")

    prepare.click(**sessions.action(download_model, outputs=dict(file=file_out, status=download_status)),
                  api_name="ui_download_model", api_visibility="undocumented")
    file_in.upload(**sessions.action(load_model, inputs=dict(path=file_in), outputs=dict(status=load_status, summary=model_md),
                                     files=("path",)),
                   api_name="ui_load_model", api_visibility="undocumented")
