"""A form is one entry in FORMS: its rules are fields, and the page, the CLI and the API name the forms
from that table. A new form (a tercet, patched in) plans, is written, and is offered everywhere with no
other change."""

from __future__ import annotations

import re

import gradio as gr
import pytest
from conftest import REPO_ROOT
from threadpoolctl import threadpool_limits

from poetry_lab.app.ui import api
from poetry_lab.app.ui.compose_tab import create_compose_tab
from poetry_lab.app.ui.sessions import SessionRegistry
from poetry_lab.cli import main
from poetry_lab.compose.forms import FORMS, Form, plan
from poetry_lab.compose.poem import ComposeConfig, Composer
from poetry_lab.errors import PoetryLabError

TERCET = Form("tercet", "Tercet", "3 lines of 8 syllables, ABA", (8, 8, 8), "ABA", stanzas=2, foot="iambic")


@pytest.fixture
def tercet(monkeypatch) -> Form:
    monkeypatch.setitem(FORMS, TERCET.name, TERCET)
    return TERCET


def test_a_new_form_plans_from_its_fields_alone(tercet, monkeypatch):
    plans = plan("tercet")
    assert [p.letter for p in plans] == list("ABACDC") and [p.stanza for p in plans] == [0, 0, 0, 1, 1, 1]
    assert plans[0].group == plans[2].group != plans[3].group and plans[1].group is None
    assert [(p.lo, p.hi, p.metre) for p in plans[:1]] == [(8, 9, "iambic tetrameter")]
    assert len(plan("tercet", 9)) == 9
    with pytest.raises(PoetryLabError, match="multiple of 3"):
        plan("tercet", 4)
    monkeypatch.setitem(FORMS, "tercet", Form("tercet", "Tercet", "", (8, 8, 8), "ABA", stanza_breaks=False, any_length=True))
    assert [p.stanza for p in plan("tercet", 7)] == [0] * 7


def test_a_new_form_is_written_with_its_stanza_breaks(tercet, tiny_bundle):
    with threadpool_limits(1):
        poem = Composer(tiny_bundle).compose(ComposeConfig(form="tercet", seed=1, candidates=4))
    assert [line.rhyme for line in poem.lines] == list("ABACDC") and poem.stanzas == [0, 0, 0, 1, 1, 1]
    assert [len(stanza.splitlines()) for stanza in poem.text.split("\n\n")] == [3, 3]


def test_a_new_form_is_offered_on_the_page_and_in_the_cli(tercet, capsys):
    with gr.Blocks() as demo, gr.Tabs() as tabs, gr.Tab("Write a poem"):
        create_compose_tab(SessionRegistry(), tabs)
    (dropdown,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "compose-form"]
    assert ("Tercet: 3 lines of 8 syllables, ABA", "tercet") in dropdown.choices
    assert [name for _, name in dropdown.choices] == list(FORMS)
    for argv in (["-h"], ["compose", "-h"]):
        with pytest.raises(SystemExit):
            main(argv)
    helps = " ".join(capsys.readouterr().out.split())
    assert "haiku, free, tercet)" in helps and "tercet: 3 lines of 8 syllables, ABA" in helps


def test_the_api_and_the_readme_name_every_form():
    assert f"({', '.join(FORMS)})" in api.api_compose.__doc__
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (forms,) = re.findall(r"^Forms: .*?(?=\n\n|\nEach line)", readme, flags=re.M | re.S)
    assert re.findall(r"`(\w+)` \(", forms) == list(FORMS)
