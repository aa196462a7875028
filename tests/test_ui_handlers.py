"""The UI handlers called directly, as plain functions: widget values in, widget values out."""

from __future__ import annotations

import inspect
import logging
import typing
import warnings
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import plotly.graph_objects as go
import pytest

from poetry_lab.lab import Lab
from poetry_lab.ui import handlers, render
from poetry_lab.ui.sessions import SessionRegistry

SKIP = gr.skip()
SNAPSHOT_KEYS = {"state", "step", "epoch", "train_loss", "val_loss", "best_val_loss", "elapsed_s", "message"}
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
    made = Lab(session="test", home=tmp_path / "home")
    yield made
    made.close()


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# --- model ----------------------------------------------------------------------------------
def test_model_summary_names_the_default_model(lab):
    assert "Current model:" in handlers.model_summary(lab) and "parameters" in handlers.model_summary(lab)


def test_model_summary_without_any_model_explains(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tmp_path / "missing.safetensors"))
    assert "No model is loaded yet" in handlers.model_summary(lab)


def test_download_then_load_model_file(lab):
    path, status = handlers.download_model(lab)
    assert Path(path).is_file() and path.endswith(".safetensors") and "Ready" in status
    message, summary = handlers.load_model(lab, path)
    assert "Loaded" in message and summary.startswith("**Current model:**")


def test_load_model_rejects_garbage_and_nothing(lab, tmp_path):
    status, summary = handlers.load_model(lab, write(tmp_path, "bad.safetensors", b"not a model"))
    assert status.startswith("⚠️") and summary == SKIP
    assert "Choose a .safetensors" in handlers.load_model(lab, None)[0]


# --- corpus ---------------------------------------------------------------------------------
def test_load_pasted_text_shows_stats_warnings_and_escaped_preview(lab, poem_text):
    stats, warns, preview, status = handlers.load_corpus(lab, None, "<b>Bold</b>\n" + poem_text, None)
    assert "| characters |" in stats and "poems" in stats
    assert "⚠️" in warns  # a 3 KB text is far too small to train from scratch
    assert "&lt;b&gt;Bold&lt;/b&gt;" in preview and "<b>" not in preview
    assert status.startswith("Loaded")


def test_load_uploaded_files(lab, tmp_path, poem_text):
    files = [write(tmp_path, "a.txt", poem_text.encode()), write(tmp_path, "b.md", poem_text.encode())]
    stats, _, _, status = handlers.load_corpus(lab, files, "", None)
    assert "| characters |" in stats and "a.txt, b.md" in status


@pytest.mark.parametrize("files, text, expected", [
    ([], "", "There is no text yet"),
    (None, "   \n  ", "There is no text yet"),
])
def test_load_nothing_explains(lab, files, text, expected):
    *others, status = handlers.load_corpus(lab, files, text, None)
    assert expected in status and others == [SKIP, SKIP, SKIP]


def test_empty_upload_is_refused_plainly(lab, tmp_path):
    *_, status = handlers.load_corpus(lab, [write(tmp_path, "empty.txt", b"")], "", None)
    assert status.startswith("⚠️") and "empty" in status and "Traceback" not in status


def test_binary_upload_is_refused_plainly(lab, tmp_path):
    binary = bytes(range(256)) * 64 + b"\x00\x00\x89PNG"
    *_, status = handlers.load_corpus(lab, [write(tmp_path, "picture.txt", b"\x89PNG\r\n\x1a\n" + binary)], "", None)
    assert status.startswith("⚠️") and ("text" in status) and lab.corpus is None


def test_bundled_accepts_only_catalog_names(lab):
    *_, status = handlers.load_corpus(lab, None, "", "/etc/passwd")
    assert "no bundled corpus called" in status and lab.corpus is None


def test_bundled_list_leaves_out_huge_corpora():
    assert all(name != "gutenberg_poetry" for _, name in handlers.bundled_corpora())


def test_bundled_sonnets(lab):
    if "sonnets" not in [n for _, n in handlers.bundled_corpora()]:
        pytest.skip("the shared corpora are not on this machine")
    stats, _, preview, _ = handlers.load_corpus(lab, None, "", "sonnets")
    assert "95,455" in stats and "pl-poem" in preview


# --- training -------------------------------------------------------------------------------
ADVANCED_EMPTY = [""] + [None] * 9


def test_start_without_corpus_says_what_to_do(lab):
    status, timer = handlers.start_training(lab, "quick", None, "auto", *ADVANCED_EMPTY)
    assert "Load a corpus first" in status and timer == SKIP


def test_start_with_bad_preset_and_minutes(lab, poem_text):
    handlers.load_corpus(lab, None, poem_text, None)
    assert "Unknown preset" in handlers.start_training(lab, "huge", None, "auto", *ADVANCED_EMPTY)[0]
    assert "time budget" in handlers.start_training(lab, "quick", -3, "scratch", *ADVANCED_EMPTY)[0]


def test_idle_poll_switches_the_timer_off(lab):
    fig, progress, samples, timer, summary = handlers.poll_training(lab)
    assert isinstance(fig, go.Figure) and "No training yet" in progress
    assert isinstance(timer, gr.Timer) and timer.active is False and "Current model" in summary


def test_train_poll_stop_and_adopt(lab, poem_text):
    handlers.load_corpus(lab, None, poem_text, None)
    advanced = ["gru", 1, 32, 0.0, 32, 8, 0.01, None, None, 3]
    status, timer = handlers.start_training(lab, "quick", 0.2, "scratch", *advanced)
    assert status.startswith("Training started") and timer.active is True
    assert lab.job.run.bundle.model.config.cell == "gru" and lab.job.run.bundle.model.config.hidden == 32
    assert "already running" in handlers.start_training(lab, "quick", 0.2, "scratch", *advanced)[0]
    assert "Stopping" in handlers.stop_training(lab)
    assert lab.job.join(timeout=30)
    fig, progress, samples, timer, summary = handlers.poll_training(lab)
    assert timer.active is False and ("Stopped" in progress or "Finished" in progress)
    assert "GRU 1x32" in summary  # the Lab adopted the trained model
    assert handlers.api_training_status(lab)["state"] in ("stopped", "done")
    assert "No training is running" in handlers.stop_training(lab)


def test_poll_error_stops_the_timer_quietly(lab, monkeypatch, caplog):
    monkeypatch.setattr(Lab, "training_status", lambda self: 1 / 0)
    with caplog.at_level(logging.ERROR):
        fig, progress, _, timer, _ = handlers.poll_training(lab)
    assert progress.startswith("⚠️") and handlers.INTERNAL_ERROR[:20] in progress and timer.active is False
    assert "ZeroDivisionError" in caplog.text


# --- comparison -----------------------------------------------------------------------------
def test_compare_three_columns_and_a_download(lab):
    html, bars, download, status = handlers.compare(lab, "The <rose>", "0.2, 0.7, 1.2", 60, "characters", 1, None, None)
    assert html.count('class="pl-col"') == 3 and "The &lt;rose&gt;" in html and "<rose>" not in html
    assert isinstance(bars, go.Figure) and "Wrote 3 poems" in status
    text = Path(download.value["path"]).read_text(encoding="utf-8")
    assert text.count("## temperature") == 3


def test_compare_is_reproducible_with_a_seed_and_counts_lines(lab):
    first = handlers.compare(lab, "", "0.5, 1.0", 3, "lines", 7, 5, 0.9)[0]
    assert first == handlers.compare(lab, "", "0.5, 1.0", 3, "lines", 7, 5, 0.9)[0]


@pytest.mark.parametrize("temperatures, expected", [
    ("0.5, 1000", "out of range"),
    ("0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7", "between 1 and 6"),
    ("warm, cold", "numbers separated by commas"),
])
def test_compare_bad_temperatures(lab, temperatures, expected):
    html, bars, download, status = handlers.compare(lab, "", temperatures, 50, "characters", 1, None, None)
    assert expected in status and status.startswith("⚠️") and (html, bars, download) == (SKIP, SKIP, SKIP)


def test_unexpected_errors_become_one_plain_sentence(lab, monkeypatch, caplog):
    monkeypatch.setattr(Lab, "compare", lambda self, *a, **k: {}["boom"])
    with caplog.at_level(logging.ERROR):
        status = handlers.compare(lab, "", "0.5", 50, "characters", 1, None, None)[3]
    assert handlers.INTERNAL_ERROR in status and "KeyError" not in status and "KeyError" in caplog.text


# --- API handlers ---------------------------------------------------------------------------
def test_api_round_trip(lab, tmp_path, poem_text):
    report = handlers.api_load_corpus(lab, [{"path": write(tmp_path, "p.txt", poem_text.encode())}], None, None)
    assert {"chars", "distinct_chars", "words", "lines", "poems", "warnings"} <= set(report)
    assert set(handlers.api_training_status(lab)) == SNAPSHOT_KEYS
    results = handlers.api_compare(lab, "Shall I", "0.2,0.7,1.2", 80, 1, None, None)
    assert len(results) == 3 and all(RESULT_KEYS <= set(r) for r in results)


def test_api_errors_are_gradio_errors_with_the_plain_message(lab):
    with pytest.raises(gr.Error, match="Load a corpus first"):
        handlers.api_start_training(lab, "quick", 0.3, "scratch")
    with pytest.raises(gr.Error, match="out of range"):
        handlers.api_compare(lab, "", "1000", 50, 1, None, None)


# --- sessions -------------------------------------------------------------------------------
def test_registry_keeps_one_lab_per_session(tmp_path):
    registry = SessionRegistry(factory=lambda key: Lab(session=key, home=tmp_path))
    a, b = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    assert registry.lab(a) is registry.lab(a) and registry.lab(a) is not registry.lab(b) and len(registry) == 2
    assert registry.lab(SimpleNamespace(session_hash=None)) is not registry.lab(SimpleNamespace(session_hash=None))
    registry.close(a)
    assert len(registry) == 1 and registry.lab(a) is not None and len(registry) == 2
    registry.close_all()
    assert len(registry) == 0


def test_bind_passes_the_session_lab_and_describes_itself(tmp_path):
    registry = SessionRegistry(factory=lambda key: Lab(session=key, home=tmp_path))
    bound = registry.bind(handlers.api_compare)
    params = list(inspect.signature(bound).parameters)
    assert params == ["prompt", "temperatures", "chars", "seed", "top_k", "top_p", "request"]
    assert typing.get_type_hints(bound)["request"] is gr.Request
    seen = registry.bind(lambda lab, x: (lab.session, x))
    assert seen(3, SimpleNamespace(session_hash="s1")) == ("s1", 3)


def test_render_helpers_escape_everything():
    assert "&lt;i&gt;" in render.samples_html([(5, 0.5, "<i>x</i>")])
    html = render.compare_html([{"temperature": 1.0, "text": "a & b", "longest_copy": "<q>", "bits_per_char": 2.0,
                                 "copied_4gram_share": None, "distinct_2": 0.5, "repeated_lines": 0}])
    assert "a &amp; b" in html and "&lt;q&gt;" in html and "training text unknown" in html
    assert render.duration(3725) == "1:02:05" and render.duration(None) == "unknown"


def test_samples_newest_step_first_then_by_temperature():
    html = render.samples_html([(10, 0.5, "a"), (10, 1.0, "b"), (20, 0.5, "c"), (20, 1.0, "d")])
    assert [html.index(f">{t}</pre>") for t in "cdab"] == sorted(html.index(f">{t}</pre>") for t in "cdab")
