"""The page handlers of every tab and the API handlers, called without a server: named widget values in,
named widget values out, through the same error boundary as the page (apphelpers.ui)."""

from __future__ import annotations

import inspect
import logging
import re
import typing
import warnings
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
import pytest
from apphelpers import ui

from poetry_lab.analysis.lens import copy_highlights
from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.analysis.poetics import analyse_poem
from poetry_lab.app.results import PoemView
from poetry_lab.app.session import Session
from poetry_lab.app.ui import (
    api,
    compare_tab,
    compose_tab,
    corpus_tab,
    model_tab,
    render,
    shared,
    sweep_tab,
    themes_tab,
    train_tab,
)
from poetry_lab.app.ui.sessions import INTERNAL_ERROR, SessionRegistry
from poetry_lab.app.ui.uploads import REFUSED, UploadLedger
from poetry_lab.core.defaults import (
    COMPARE_TEMPERATURES,
    COMPOSE_TEMPERATURES,
    DEFAULT_SEED,
    temperatures_text,
)
from poetry_lab.runs.presets import PATIENCE_NEVER, TINY_PATIENCE

SKIP = gr.skip()
SNAPSHOT_KEYS = {"state", "step", "epoch", "train_loss", "val_loss", "best_val_loss", "elapsed_s", "message"}
METRE = re.compile(r"(iambic|trochaic|anapestic|dactylic) (pentameter|tetrameter|trimeter|hexameter), (<b>)?[01]\.\d\d")
RESULT_KEYS = {"temperature", "text", "bits_per_char", "copied_4gram_share", "longest_copy", "distinct_2", "repeated_lines"}


@pytest.fixture(autouse=True)
def _quiet_toasts():
    # gr.Warning outside a running app falls back to warnings.warn; the tests read the status output instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture
def lab(tmp_path, monkeypatch, tiny_model_path):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    monkeypatch.setenv("POETRY_LAB_HOME", str(tmp_path / "home"))
    made = Session(session="test", home=tmp_path / "home")
    yield made
    made.close()


def poem(**fields) -> PoemView:
    """A comparison poem for the render helpers: no copying known, nothing repeated, unless told."""
    base = dict(temperature=1.0, text="", bits_per_char=1.0, copied_4gram_share=None, longest_copy="", longest_copy_chars=0,
                distinct_2=1.0, repeated_lines=0, unknown_chars="")
    return PoemView(**{**base, **fields})


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# --- model ----------------------------------------------------------------------------------
def test_model_summary_names_the_default_model(lab):
    assert "Current model:" in ui(model_tab.model_summary, lab) and "parameters" in ui(model_tab.model_summary, lab)


def test_model_summary_without_any_model_explains(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tmp_path / "missing.safetensors"))
    assert "No model is loaded yet" in ui(model_tab.model_summary, lab)


def test_download_then_load_model_file(lab):
    file, status = ui(model_tab.download_model, lab)
    path = file.value["path"]
    assert file.visible and Path(path).is_file() and path.endswith(".safetensors") and "Ready" in status
    message, summary = ui(model_tab.load_model, lab, path=path)
    assert "Loaded" in message and summary.startswith("**Current model:**")


def test_load_model_rejects_garbage_and_nothing(lab, tmp_path):
    status, summary = ui(model_tab.load_model, lab, path=write(tmp_path, "bad.safetensors", b"not a model"))
    assert status.startswith("⚠️") and summary == SKIP
    assert "Choose a .safetensors" in ui(model_tab.load_model, lab, path=None)[0]


# --- corpus ---------------------------------------------------------------------------------
def test_load_pasted_text_shows_stats_warnings_and_escaped_preview(lab, poem_text):
    stats, warns, preview, status = ui(corpus_tab.load_corpus, lab, files=None, text="<b>Bold</b>\n" + poem_text, bundled=None)
    assert "| characters |" in stats and "poems" in stats
    assert "fine-tunes the loaded model" in warns and "⚠️" not in warns  # 3 KB: a note that automatic fine-tunes
    assert "&lt;b&gt;Bold&lt;/b&gt;" in preview and "<b>" not in preview
    assert status.startswith("Loaded")


def test_load_uploaded_files(lab, tmp_path, poem_text):
    files = [write(tmp_path, "a.txt", poem_text.encode()), write(tmp_path, "b.md", poem_text.encode())]
    stats, _, _, status = ui(corpus_tab.load_corpus, lab, files=files, text="", bundled=None)
    assert "| characters |" in stats and "a.txt, b.md" in status


@pytest.mark.parametrize("files, text, expected", [
    ([], "", "There is no text yet"),
    (None, "   \n  ", "There is no text yet"),
])
def test_load_nothing_explains(lab, files, text, expected):
    *others, status = ui(corpus_tab.load_corpus, lab, files=files, text=text, bundled=None)
    assert expected in status and others == [SKIP, SKIP, SKIP]


def test_empty_upload_is_refused_plainly(lab, tmp_path):
    *_, status = ui(corpus_tab.load_corpus, lab, files=[write(tmp_path, "empty.txt", b"")], text="", bundled=None)
    assert status.startswith("⚠️") and "empty" in status and "Traceback" not in status


def test_binary_upload_is_refused_plainly(lab, tmp_path):
    binary = bytes(range(256)) * 64 + b"\x00\x00\x89PNG"
    *_, status = ui(corpus_tab.load_corpus, lab, files=[write(tmp_path, "picture.txt", b"\x89PNG\r\n\x1a\n" + binary)], text="", bundled=None)
    assert status.startswith("⚠️") and ("text" in status) and lab.corpus is None


def test_bundled_accepts_only_catalog_names(lab):
    *_, status = ui(corpus_tab.load_corpus, lab, files=None, text="", bundled="/etc/passwd")
    assert "no bundled corpus called" in status and lab.corpus is None


def test_bundled_list_leaves_out_huge_corpora():
    assert all(name != "gutenberg_poetry" for _, name in shared.bundled_corpora())


def test_bundled_sonnets(lab):
    if "sonnets" not in [n for _, n in shared.bundled_corpora()]:
        pytest.skip("the shared corpora are not on this machine")
    stats, _, preview, _ = ui(corpus_tab.load_corpus, lab, files=None, text="", bundled="sonnets")
    assert "95,455" in stats and "pl-poem" in preview


# --- training -------------------------------------------------------------------------------
ADVANCED_EMPTY = {"cell": ""}  # every other advanced field left empty


def test_start_without_corpus_says_what_to_do(lab):
    status, timer = ui(train_tab.start_training, lab, preset="quick", minutes=None, start_from="auto", **ADVANCED_EMPTY)
    assert "Load a corpus first" in status and timer == SKIP


def test_start_with_bad_preset_and_minutes(lab, poem_text):
    ui(corpus_tab.load_corpus, lab, files=None, text=poem_text, bundled=None)
    assert "Unknown preset" in ui(train_tab.start_training, lab, preset="huge", minutes=None, start_from="auto", **ADVANCED_EMPTY)[0]
    assert "time budget" in ui(train_tab.start_training, lab, preset="quick", minutes=-3, start_from="scratch", **ADVANCED_EMPTY)[0]


def test_idle_poll_switches_the_timer_off(lab):
    fig, progress, samples, timer, summary = ui(train_tab.poll_training, lab)
    assert isinstance(fig, go.Figure) and "No training yet" in progress
    assert isinstance(timer, gr.Timer) and timer.active is False and "Current model" in summary


def test_train_poll_stop_and_adopt(lab, poem_text):
    ui(corpus_tab.load_corpus, lab, files=None, text=poem_text, bundled=None)
    advanced = dict(cell="gru", layers=1, hidden=32, dropout=0.0, seq_len=32, batch_size=8, lr=0.01, seed=3)
    status, timer = ui(train_tab.start_training, lab, preset="quick", minutes=0.2, start_from="scratch", **advanced)
    assert status.startswith("Training started") and timer.active is True
    assert lab.job.run.bundle.model.config.cell == "gru" and lab.job.run.bundle.model.config.hidden == 32
    assert "already running" in ui(train_tab.start_training, lab, preset="quick", minutes=0.2, start_from="scratch", **advanced)[0]
    assert "Stopping" in ui(train_tab.stop_training, lab)
    assert lab.job.join(timeout=30)
    fig, progress, samples, timer, summary = ui(train_tab.poll_training, lab)
    assert timer.active is False and ("Stopped" in progress or "Finished" in progress)
    assert "GRU 1x32" in summary  # the session adopted the trained model
    assert api.api_training_status(lab)["state"] in ("stopped", "done")
    assert "No training is running" in ui(train_tab.stop_training, lab)


def test_poll_error_stops_the_timer_quietly(lab, monkeypatch, caplog):
    monkeypatch.setattr(Session, "training_status", lambda self: 1 / 0)
    with caplog.at_level(logging.ERROR):
        fig, progress, _, timer, _ = ui(train_tab.poll_training, lab)
    assert progress.startswith("⚠️") and INTERNAL_ERROR[:20] in progress and timer.active is False
    assert "ZeroDivisionError" in caplog.text


# --- comparison -----------------------------------------------------------------------------
def test_compare_three_columns_and_a_download(lab):
    html, conf, copies, bars, download, status = ui(compare_tab.compare, lab, prompt="The <rose>", temperatures="0.2, 0.7, 1.2", length=60, unit="characters", seed=1, top_k=None, top_p=None)
    assert html.count('class="pl-col"') == 3 and "The &lt;rose&gt;" in html and "<rose>" not in html
    assert isinstance(bars, go.Figure) and "Wrote 3 poems" in status
    assert html.count('class="pl-scan"') == 3 and html.count("rhyme <b>") == 3 and len(METRE.findall(html)) == 3
    assert re.search(r'data-scan="[A-Za-z] \d+" title="\d+ syllables: [x/\\? ]+ · fits the metre [01]\.\d\d', html)
    assert conf.count('class="pl-col"') == 3 and copies.count('class="pl-col"') == 3  # all views at once
    text = Path(download.value["path"]).read_text(encoding="utf-8")
    assert text.count("## temperature") == 3 and text.count("- metre: ") == 3


def test_confidence_view_colours_every_generated_letter(lab):
    _, conf, _, _, _, _ = ui(compare_tab.compare, lab, prompt="The <rose>", temperatures="0.5, 1.0", length=40, unit="characters", seed=2, top_k=None, top_p=None)
    spans = re.findall(r'<span style="background:hsl\(\d+, 85%, 82%\)" title="([^"]+)">', conf)
    assert len(spans) == 80  # one per generated letter, none for the prompt
    assert all(re.search(r": \d+\.\d% \| likeliest: ", t) for t in spans)
    assert conf.count('<span class="pl-prompt">The &lt;rose&gt;</span>') == 2 and "surprising" in conf


def test_copied_passages_are_marked_with_their_source(lab, tiny_model_path, poem_text):
    line = "The moon is white above the sea,"
    ui(corpus_tab.load_corpus, lab, files=None, text=poem_text, bundled=None)
    ui(model_tab.load_model, lab, path=str(tiny_model_path))  # the model of these poems: copies are checked against them
    copies = ui(compare_tab.compare, lab, prompt=line, temperatures="0.2, 1.0", length=30, unit="characters", seed=1, top_k=None, top_p=None)[2]
    marks = re.findall(r'<mark title="Copied from the training text:\n([^"]*)">([^<]*)</mark>', copies)
    assert len(marks) >= 2 and all(text.startswith(line) and "II\nThe moon is white" in src for src, text in marks)
    assert copies.count('<details class="pl-source">') >= 2 and "<mark>The moon is white above the sea," in copies


@pytest.mark.parametrize("prompt_len, yours", [(30, True), (10, False)])
def test_copies_view_tells_a_quoted_prompt_from_the_model_copying(poem_text, prompt_len, yours):
    text = "The rose is red upon the wall, and more"
    copies = copy_highlights(text, CorpusIndex(poem_text))
    html = render.copies_columns([poem(text=text, prompt_len=prompt_len, copies=copies)])
    assert [h.text for h in copies] == ["The rose is red upon the wall,"] and ("(your prompt)" in html) == yours


def test_copies_without_a_training_text_say_so(lab):
    copies = ui(compare_tab.compare, lab, prompt="The rose", temperatures="0.5", length=30, unit="characters", seed=1, top_k=None, top_p=None)[2]
    assert "cannot be checked" in copies and "<mark title" not in copies


def test_rhyme_scheme_and_metre_of_a_known_poem():
    from test_poetics import SONNET_18

    result = poem(temperature=0.5, text=SONNET_18, analysis=analyse_poem(SONNET_18), bits_per_char=1.0, distinct_2=1.0)
    html = render.compare_html([result])
    assert "rhyme <b>ABAB CDCD EFEF GG</b>" in html and "iambic pentameter, <b>0." in html
    assert html.count("data-scan=") == 14 and 'data-scan="A 10"' in html
    assert '<div class="pl-line">XVIII</div>' in html  # the heading is shown, not scanned
    assert "- rhyme scheme: ABAB CDCD EFEF GG" in render.compare_markdown([result], "", "")
    prose = "and the " * 40  # one long line: naming its nearest metre would mislead
    result.text, result.analysis = prose, analyse_poem(prose)
    assert "no steady metre (nearest: " in render.compare_html([result])


def test_compare_the_api_answer_keeps_its_keys(lab):
    assert set(api.api_compare(lab, "The", "0.5", 20, 1, None, None)[0]) == RESULT_KEYS | {"longest_copy_chars", "unknown_chars"}


def test_compare_is_reproducible_with_a_seed_and_counts_lines(lab):
    first = ui(compare_tab.compare, lab, prompt="", temperatures="0.5, 1.0", length=3, unit="lines", seed=7, top_k=5, top_p=0.9)[:3]
    assert first == ui(compare_tab.compare, lab, prompt="", temperatures="0.5, 1.0", length=3, unit="lines", seed=7, top_k=5, top_p=0.9)[:3]


@pytest.mark.parametrize("temperatures, expected", [
    ("0.5, 1000", "out of range"),
    ("0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7", "between 1 and 6"),
    ("warm, cold", "numbers separated by commas"),
])
def test_compare_bad_temperatures(lab, temperatures, expected):
    *outputs, status = ui(compare_tab.compare, lab, prompt="", temperatures=temperatures, length=50, unit="characters", seed=1, top_k=None, top_p=None)
    assert expected in status and status.startswith("⚠️") and outputs == [SKIP] * 5


def test_unexpected_errors_become_one_plain_sentence(lab, monkeypatch, caplog):
    monkeypatch.setattr(Session, "compare_lens", lambda self, *a, **k: {}["boom"])
    with caplog.at_level(logging.ERROR):
        status = ui(compare_tab.compare, lab, prompt="", temperatures="0.5", length=50, unit="characters", seed=1, top_k=None, top_p=None)[5]
    assert INTERNAL_ERROR in status and "KeyError" not in status and "KeyError" in caplog.text


# --- temperature sweep ----------------------------------------------------------------------
def test_sweep_plots_and_offers_a_csv(lab):
    fig, download, status = ui(sweep_tab.sweep, lab, temperatures="0.5, 1.0", samples=2, chars=40, seed=0)
    assert isinstance(fig, go.Figure) and any(t.name == "bits per character mean" for t in fig.data)
    df = pd.read_csv(download.value["path"])
    assert download.value["path"].endswith(".csv") and len(df) == 4 and sorted(df["temperature"].unique()) == [0.5, 1.0]
    assert "Wrote 4 poems (2 temperatures x 2)" in status


@pytest.mark.parametrize("temperatures, samples, chars, expected", [
    ("0.5", -1, 40, "at least one poem"),
    ("0.5", 2, -5, "at least one poem"),
    ("0.5, 1.0", 50, 5000, "the limit is"),
    ("hot, cold", 2, 40, "numbers separated by commas"),
    ("0.5, 9", 2, 40, "out of range"),
])
def test_sweep_errors_are_plain(lab, temperatures, samples, chars, expected):
    fig, download, status = ui(sweep_tab.sweep, lab, temperatures=temperatures, samples=samples, chars=chars, seed=0)
    assert status.startswith("⚠️") and expected in status and (fig, download) == (SKIP, SKIP)


def test_emptied_number_fields_mean_what_their_help_says(lab, poem_text):
    """Gradio 6 sends an emptied gr.Number as 0: 0 and empty both mean 'not set' (the default)."""
    fig, download, status = ui(sweep_tab.sweep, lab, temperatures="0.5, 1.0", samples=0, chars=0, seed=0)  # 5 poems of 400 characters, a fresh seed
    assert "Wrote 10 poems (2 temperatures x 5)" in status and "⚠" not in status
    out = ui(compare_tab.compare, lab, prompt="The", temperatures="0.5, 1.0", length=0, unit="characters", seed=0, top_k=0, top_p=0)
    assert "400 characters, seed random, top-k off, top-p off" in out[-1] and "⚠" not in out[-1]
    assert "8 lines" in ui(compare_tab.compare, lab, prompt="The", temperatures="0.5", length=None, unit="lines", seed=None, top_k=None, top_p=None)[-1]
    ui(corpus_tab.load_corpus, lab, files=None, text=poem_text, bundled=None)
    status, timer = ui(train_tab.start_training, lab, preset="quick", minutes=0, start_from="auto", cell="", layers=0, hidden=0, dropout="", seq_len=0, batch_size=0, lr=0, epochs=0, patience=0, seed=0)
    assert "⚠" not in status and timer.active, status
    assert lab.job.run.trainer.config.patience == TINY_PATIENCE  # 0: the preset's patience, sized to the corpus
    lab.stop_training()
    lab.job.join(timeout=30)
    ui(train_tab.start_training, lab, preset="quick", minutes=0, start_from="auto", patience=PATIENCE_NEVER)
    assert lab.job.run.trainer.config.patience is None  # the page's way to say never (the CLI's --patience never)
    lab.stop_training()
    lab.job.join(timeout=30)
    assert "Dropout must be a number" in ui(train_tab.start_training, lab, preset="quick", minutes=0, start_from="auto", cell="", layers=0, hidden=0, dropout="lots", seq_len=0, batch_size=0, lr=0, epochs=0, patience=0, seed=0)[0]


# --- themes ---------------------------------------------------------------------------------
def test_themes_without_a_corpus_ask_for_one(lab):
    *outputs, status, pick = ui(themes_tab.themes, lab, method="tfidf", n_themes="3")
    assert status.startswith("⚠️") and "Load your poems first" in status and outputs == [SKIP] * 6 and pick == SKIP
    assert "a whole number, or auto" in ui(themes_tab.themes, lab, method="tfidf", n_themes="many")[6]


def test_themes_map_holds_the_corpus_and_the_compared_poems(lab):
    from test_themes import POEMS  # 12 poems on three topics

    ui(corpus_tab.load_corpus, lab, files=None, text="\n\n".join(POEMS), bundled=None)
    ui(compare_tab.compare, lab, prompt="The <ship>", temperatures="0.5, 1.0", length=60, unit="characters", seed=1, top_k=None, top_p=None)
    fig, themes_html, placed, table, compared, words, status, pick = ui(themes_tab.themes, lab, method="tfidf", n_themes="3")
    assert [value for _, value in pick.choices] == [1, 2, 3] and pick.value == 1
    corpus = [t for t in fig.data if t.name.startswith("theme ")]
    assert len(corpus) == 3 and sum(len(t.x) for t in corpus) == 12
    (new,) = [t for t in fig.data if t.name == "new poems"]
    assert list(new.text) == ["0.5", "1"] and all(t.hovertemplate for t in fig.data)
    assert themes_html.count('class="pl-col"') == 3 and themes_html.count("<details") == 9  # 3 typical poems each
    assert placed.count("★ temperature") == 2 and "The &lt;ship&gt;" in placed and "<ship>" not in placed
    assert list(table["method"]) == ["TF-IDF + K-means"] and table["poems per theme"][0] == "4 · 4 · 4"
    assert isinstance(compared, go.Figure) and isinstance(words, go.Figure)
    assert "Found 3 themes among 12 poems" in status and "★ marks the 2 poems" in status


def test_themes_auto_number_and_bind_passes_progress(lab, tmp_path):
    from test_themes import POEMS

    ui(corpus_tab.load_corpus, lab, files=None, text="\n\n".join(POEMS), bundled=None)
    assert "Found 3 themes" in ui(themes_tab.themes, lab, method="lda", n_themes="auto")[6]
    wired = SessionRegistry(factory=lambda key: Session(session=key, home=tmp_path)).action(
        themes_tab.themes, inputs={"method": "m", "n_themes": "k"}, outputs={"status": "s"})
    params = inspect.signature(wired["fn"]).parameters
    assert list(params) == ["method", "n_themes", "progress", "request"] and isinstance(params["progress"].default, gr.Progress)


# --- API handlers ---------------------------------------------------------------------------
def test_api_round_trip(lab, tmp_path, poem_text, monkeypatch):
    # The handler gets the paths of vetted uploads (SessionRegistry.bind checks them first).
    report = api.api_load_corpus(lab, [str(write(tmp_path, "p.txt", poem_text.encode()))], None, None)
    assert {"chars", "distinct_chars", "words", "lines", "poems", "warnings"} <= set(report)
    assert set(api.api_training_status(lab)) == SNAPSHOT_KEYS
    results = api.api_compare(lab, "Shall I", "0.2,0.7,1.2", 80, 1, None, None)
    assert len(results) == 3 and all(RESULT_KEYS <= set(r) for r in results)


def test_api_errors_are_gradio_errors_with_the_plain_message(lab):
    with pytest.raises(gr.Error, match="Load a corpus first"):
        api.api_start_training(lab, "quick", 0.3, "scratch")
    with pytest.raises(gr.Error, match="out of range"):
        api.api_compare(lab, "", "1000", 50, 1, None, None)


# --- sessions -------------------------------------------------------------------------------
def test_bound_file_inputs_are_uploads_of_the_same_session(tmp_path, poem_text):
    ledger = UploadLedger()
    registry = SessionRegistry(factory=lambda key: Session(session=key, home=tmp_path / "home"), uploads=ledger)
    bound = registry.bind(api.api_load_corpus, files=("files",))
    path = str(write(tmp_path, "p.txt", poem_text.encode()))
    a, b = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    refused = re.escape(REFUSED)
    with pytest.raises(gr.Error, match=refused):  # a file that was never uploaded, in any shape
        bound([{"path": path, "meta": {"_type": "gradio.FileData"}}], None, None, a)
    with pytest.raises(gr.Error, match=refused):
        bound([path], None, None, a)
    ledger.record([path])  # what Gradio's upload route answered with (UploadScreen notes it)
    assert bound([{"path": path}], None, None, a)["chars"] > 1000
    assert bound([path], None, None, a)["chars"] > 1000  # the same session, again, another shape
    with pytest.raises(gr.Error, match=refused):  # one upload, one session
        bound([path], None, None, b)
    ledger.record([path])  # the same bytes uploaded again (by b): the same path, a second ticket
    assert bound([path], None, None, b)["chars"] > 1000
    link = tmp_path / "link.txt"
    link.symlink_to(path)
    ledger.record([str(link)])
    with pytest.raises(gr.Error, match=refused):  # nothing that points elsewhere, even from the upload folder
        bound([str(link)], None, None, a)
    with pytest.raises(gr.Error, match=refused):
        bound([str(tmp_path / "missing.txt")], None, None, a)
    with pytest.raises(TypeError):
        registry.bind(api.api_load_corpus, files=("no such parameter",))



def test_registry_keeps_one_lab_per_session(tmp_path):
    registry = SessionRegistry(factory=lambda key: Session(session=key, home=tmp_path))
    a, b = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    assert registry.session(a) is registry.session(a) and registry.session(a) is not registry.session(b) and len(registry) == 2
    assert registry.session(SimpleNamespace(session_hash=None)) is not registry.session(SimpleNamespace(session_hash=None))
    registry.close(a)
    assert len(registry) == 1 and registry.session(a) is not None and len(registry) == 2
    registry.close_all()
    assert len(registry) == 0


def test_bind_passes_the_session_lab_and_describes_itself(tmp_path):
    registry = SessionRegistry(factory=lambda key: Session(session=key, home=tmp_path))
    bound = registry.bind(api.api_compare)
    params = list(inspect.signature(bound).parameters)
    assert params == ["prompt", "temperatures", "chars", "seed", "top_k", "top_p", "request"]
    assert typing.get_type_hints(bound)["request"] is gr.Request
    seen = registry.bind(lambda lab, x: (lab.session, x))
    assert seen(3, SimpleNamespace(session_hash="s1")) == ("s1", 3)


def test_render_helpers_escape_everything():
    assert "&lt;i&gt;" in render.samples_html([(5, 0.5, "<i>x</i>")])
    html = render.compare_html([poem(text="a & b", longest_copy="<q>", bits_per_char=2.0, distinct_2=0.5)])
    assert "a &amp; b" in html and "&lt;q&gt;" in html and "training text unknown" in html
    assert render.duration(3725) == "1:02:05" and render.duration(None) == "unknown"


def test_samples_newest_step_first_then_by_temperature():
    html = render.samples_html([(10, 0.5, "a"), (10, 1.0, "b"), (20, 0.5, "c"), (20, 1.0, "d")])
    assert [html.index(f">{t}</pre>") for t in "cdab"] == sorted(html.index(f">{t}</pre>") for t in "cdab")


def test_api_numbers_sent_as_text_are_read_and_nonsense_gets_a_plain_message(lab):
    results = api.api_compare(lab, "The", "0.5", "30", "7", None, None)  # numbers as text, as a client may send
    assert len(results[0]["text"]) == len("The") + 30
    for bad in ("abc", [1, 2], "2.5", True):
        with pytest.raises(gr.Error, match="'chars' must be a whole number"):
            api.api_compare(lab, "The", "0.5", bad, 1, None, None)
    with pytest.raises(gr.Error, match="'top_p' must be a number"):
        api.api_compare(lab, "The", "0.5", 20, 1, None, "lots")


def test_the_api_the_session_the_page_and_the_cli_share_their_defaults(lab):
    """One home (core.defaults) for the default temperatures and seed: the same poems from every door."""
    from poetry_lab.cli import build_parser

    assert api.api_compare(lab, "The", chars=30) == [p.to_json() for p in lab.compare("The", chars=30)]
    assert [r["temperature"] for r in api.api_compare(lab, "The", chars=10)] == list(COMPARE_TEMPERATURES)
    by_api = api.api_compose(lab, "haiku")
    (by_session,) = lab.compose("haiku", temperatures=[0.8])
    assert by_api["seed"] == by_session.seed == DEFAULT_SEED and by_api["text"] == by_session.text
    cli = build_parser()
    generate, compose = cli.parse_args(["generate", "m"]), cli.parse_args(["compose", "m"])
    assert (generate.temperatures, generate.seed, compose.seed) == (list(COMPARE_TEMPERATURES), DEFAULT_SEED, DEFAULT_SEED)
    assert cli.parse_args(["sweep", "m", "--out", "x"]).seed == DEFAULT_SEED


# --- poems in form ------------------------------------------------------------------------------
def test_write_poems_with_the_page_as_it_loads_then_work_on_one(lab):
    defaults = dict(form="sonnet", lines=0, opening="", temperatures=temperatures_text(COMPOSE_TEMPERATURES), seed=DEFAULT_SEED,
                    raw=False)
    poems, download, column, edit, keep, line, candidates, status = ui(compose_tab.write_poems, lab, **defaults)
    assert "Wrote 4 poems (sonnet, seed 1)" in status and "⚠" not in status
    assert poems.count('class="pl-col"') == 4 and poems.count("data-scan=") == 4 * 14
    assert len(edit.split("\n")) == 14 and column.value == 0 and len(keep.choices) == 14
    assert download.value["path"].endswith(".md")
    *_, status = ui(compose_tab.rewrite_poem, lab, column=0, edit=edit, keep=[0])
    assert "kept line 1" in status and "⚠" not in status
    *_, status = ui(compose_tab.rewrite_line, lab, column=0, line=2)
    assert status.startswith("Line 3 written again")
    table, status = ui(compose_tab.show_candidates, lab, column=0, line=2)
    assert len(table) >= 1 and "next best drafts for line 3" in status
    edit, *_ = ui(compose_tab.choose_poem, lab, column=3)
    assert edit == "\n".join(ln.text for ln in lab.compose_slot.poems[3].lines)


def test_poem_work_before_any_poem_and_bad_forms_are_plain(lab):
    *_, status = ui(compose_tab.rewrite_line, lab, column=None, line=0)
    assert status.startswith("⚠️") and "Write poems first" in status
    *_, status = ui(compose_tab.write_poems, lab, form="villanelle", lines=0, opening="", temperatures="0.5", seed=1, raw=False)
    assert status.startswith("⚠️") and "Unknown form" in status
    *_, status = ui(compose_tab.write_poems, lab, form="haiku", lines=0, opening="", temperatures="0.5, 9", seed=1, raw=False)
    assert status.startswith("⚠️") and "out of range" in status


def test_api_compose_is_the_command_lines_json(lab):
    out = api.api_compose(lab, "haiku", None, "", 0.7, 3)
    assert {"form", "text", "lines", "seconds"} <= set(out) and out["form"] == "haiku" and len(out["lines"]) == 3
    assert {"text", "syllables", "rhyme", "end_word", "score"} <= set(out["lines"][0])
    assert api.api_compose(lab, "haiku", None, "", 0.7, 3)["text"] == out["text"]  # same seed, same poem
    with pytest.raises(gr.Error, match="Unknown form"):
        api.api_compose(lab, "epic")
