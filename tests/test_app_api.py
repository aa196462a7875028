"""The real app in a subprocess, driven through gradio_client: the JSON API and per-session isolation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from apphelpers import SHARED_CORPORA, running_app, wait_for
from conftest import POEM_TEXT

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ENDPOINTS = {"/load_corpus", "/start_training", "/training_status", "/stop_training", "/compare", "/list_runs",
             "/resume_run", "/load_run", "/compose"}
STATUS_KEYS = {"state", "step", "epoch", "train_loss", "val_loss", "best_val_loss", "elapsed_s", "message"}
CORPUS_KEYS = {"chars", "distinct_chars", "words", "lines", "poems", "warnings"}
RESULT_KEYS = {"temperature", "text", "bits_per_char", "copied_4gram_share", "longest_copy", "distinct_2", "repeated_lines"}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, tiny_model_path):
    with running_app(tmp_path_factory.mktemp("app_home"), default_model=tiny_model_path) as url:
        yield url


def client(url: str) -> Client:
    return Client(url, verbose=False)


def status(c: Client) -> dict:
    return c.predict(api_name="/training_status")


def test_view_api_lists_the_json_endpoints(app_url):
    c = client(app_url)
    try:
        named = c.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert ENDPOINTS <= set(named)
        assert [p["parameter_name"] for p in named["/compare"]["parameters"]] == [
            "prompt", "temperatures", "chars", "seed", "top_k", "top_p"]
        assert [p["parameter_name"] for p in named["/load_corpus"]["parameters"]] == ["files", "text", "bundled"]
        assert [p["parameter_name"] for p in named["/compose"]["parameters"]] == ["form", "lines", "prompt", "temperature", "seed", "raw",
                                                                                     "letters", "about", "theme"]
        poem = c.predict(form="limerick", seed=5, api_name="/compose")
        assert poem["form"] == "limerick" and [ln["rhyme"] for ln in poem["lines"]] == list("AABBA") and poem["writer"] == "words"
        assert c.predict(form="limerick", seed=5, letters=True, api_name="/compose")["writer"] == "letters"
        assert c.predict(form="limerick", seed=5, api_name="/compose")["text"] == poem["text"]
        assert not any(name.startswith("/ui_") for name in named)  # the page's own events stay out of the docs
    finally:
        c.close()


def test_train_stop_compare_and_isolation(app_url, tmp_path):
    a, b = client(app_url), client(app_url)
    try:
        assert a.session_hash != b.session_hash
        if (SHARED_CORPORA / "sonnets.txt").is_file():
            report = a.predict(None, None, "sonnets", api_name="/load_corpus")
        else:
            report = a.predict(None, POEM_TEXT * 8, None, api_name="/load_corpus")
        assert CORPUS_KEYS <= set(report) and report["chars"] > 1000

        # b has no corpus: a's corpus must not leak into b's session.
        with pytest.raises(AppError, match="Load a corpus first"):
            b.predict("quick", 0.3, "scratch", api_name="/start_training")
        assert status(b)["state"] == "idle"

        assert "Training started" in a.predict("quick", 0.3, "scratch", api_name="/start_training")
        first = wait_for(lambda: (s := status(a))["step"] > 0 and s, timeout=20)
        assert first and first["state"] == "running", first
        later = wait_for(lambda: (s := status(a))["step"] > first["step"] + 2 and s, timeout=15)
        assert later, "the step count did not advance"
        assert STATUS_KEYS <= set(later)

        # b is still idle, and the server-wide job limit speaks plainly through the API.
        assert status(b)["state"] == "idle"
        b.predict([handle_file(_poems_file(tmp_path))], None, None, api_name="/load_corpus")
        with pytest.raises(AppError, match="Another training is running"):
            b.predict("quick", 0.2, "scratch", api_name="/start_training")

        # Generation keeps working while a trains.
        results = a.predict("Shall I", "0.2,0.7,1.2", 120, 1, None, None, api_name="/compare")
        assert len(results) == 3 and all(RESULT_KEYS <= set(r) for r in results)
        assert [r["temperature"] for r in results] == [0.2, 0.7, 1.2]

        assert a.predict(api_name="/stop_training")
        final = wait_for(lambda: (s := status(a))["state"] in ("stopped", "done") and s, timeout=20)
        assert final, status(a)

        # Each client sees its own runs only; another's run id is refused, never read as a path.
        (run,) = a.predict(api_name="/list_runs")
        assert run["status"] in ("stopped", "done") and run["corpus"] and b.predict(api_name="/list_runs") == []
        for bad in (run["id"], "../../sessions"):
            with pytest.raises(AppError, match="no run called"):
                b.predict(bad, api_name="/resume_run")
        assert "Loaded the best model" in a.predict(run["id"], api_name="/load_run")
        with pytest.raises(AppError, match="out of range"):
            a.predict("", "0.5, 1000", 50, 1, None, None, api_name="/compare")
    finally:
        a.close()
        b.close()


def test_closing_a_client_stops_its_training(app_url, tmp_path):
    """demo.unload runs when a client's heartbeat ends: its job stops and frees the server's job slot."""
    b, c = client(app_url), client(app_url)
    try:
        b.predict([handle_file(_poems_file(tmp_path))], None, None, api_name="/load_corpus")
        _start_when_free(b)
        b.close()
        c.predict(None, POEM_TEXT * 8, None, api_name="/load_corpus")
        assert _start_when_free(c, timeout=25), "b's training was not stopped when b went away"
        c.predict(api_name="/stop_training")
        assert wait_for(lambda: status(c)["state"] in ("stopped", "done"), timeout=20)
    finally:
        b.close()
        c.close()


def _poems_file(tmp_path):
    path = tmp_path / "my poems.txt"
    path.write_text(POEM_TEXT * 8, encoding="utf-8")
    return str(path)


def _start_when_free(c: Client, timeout: float = 25) -> bool:
    """Start a short training, retrying while another session's job still holds the server's slot."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c.predict("quick", 0.2, "scratch", api_name="/start_training")
            return True
        except AppError as e:
            if "Another training is running" not in str(e) or time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def test_app_cli_defaults(monkeypatch):
    import app

    for name in ("SPACE_ID", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    args = app.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    assert app.parse_args(["--host", "0.0.0.0", "--port", "8000"]).port == 8000
    monkeypatch.setenv("SPACE_ID", "someone/poetry-lab")
    assert app.parse_args([]).host == "0.0.0.0"
    # Gradio's own variables count when no flag is given; a flag still wins.
    monkeypatch.setenv("GRADIO_SERVER_NAME", "10.1.2.3")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    args = app.parse_args([])
    assert (args.host, args.port) == ("10.1.2.3", 7999)
    assert app.parse_args(["--port", "8001", "--host", "127.0.0.1"]).port == 8001


def test_app_only_composes():
    source = (Path(__file__).resolve().parents[1] / "app.py").read_text(encoding="utf-8")
    assert "import torch" not in source and "sklearn" not in source and "share=True" not in source
    assert source.index('os.environ.setdefault("GRADIO_ANALYTICS_ENABLED"') < source.index("from poetry_lab.app.ui import")
