"""The command line: train, generate and evaluate end to end, and user errors as one line, exit 2."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from poetry_lab.cli import main
from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.train import evaluate
from poetry_lab.data.corpus import load_corpus


def _run_module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "poetry_lab", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _assert_user_error(code: int, err: str) -> None:
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and len(lines[0]) > len("error: ")
    assert "Traceback" not in err


@pytest.fixture
def corpus_file(tmp_path, poem_text):
    path = tmp_path / "poems.txt"
    path.write_text(poem_text, encoding="utf-8")
    return path


def test_train_end_to_end_with_python_m(tmp_path, corpus_file):
    out = tmp_path / "run"
    proc = _run_module(
        "train", str(corpus_file), "--epochs", "1", "--hidden", "32", "--seq-len", "32", "--batch", "8",
        "--no-samples", "--out", str(out),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    model_path = out / "model.safetensors"
    assert model_path.is_file()
    with (out / "metrics.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["step", "epoch", "elapsed_s", "lr", "train_loss", "val_loss", "train_bpc", "val_bpc"]
    assert len(rows) >= 2
    last = dict(zip(rows[0], rows[-1]))
    assert float(last["val_bpc"]) == pytest.approx(float(last["val_loss"]) / math.log(2), abs=2e-3)
    assert "nats" in proc.stdout and "bits" in proc.stdout
    assert "poems.txt" in proc.stdout
    bundle = load_model(model_path, device="cpu")
    assert bundle.model.config.hidden == 32
    assert bundle.facts["corpus"] == "poems.txt"
    assert bundle.facts["stop_reason"] == "epochs"
    best_logged = min(float(dict(zip(rows[0], r))["val_loss"]) for r in rows[1:])
    assert bundle.facts["best_val_loss"] == pytest.approx(best_logged, abs=6e-5)  # rows hold 4 decimals


def test_train_in_process_gru_with_samples(tmp_path, corpus_file, capsys):
    out = tmp_path / "gru"
    code = main(["train", str(corpus_file), "--epochs", "1", "--hidden", "16", "--emb", "8", "--cell", "gru",
                 "--seq-len", "32", "--batch", "8", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[T=0.5]" in captured.out and "[T=1]" in captured.out  # samples printed at the evaluation
    assert load_model(out / "model.safetensors", device="cpu").model.config.cell == "gru"


def test_generate_json(tiny_model_path, capsys):
    prompt = "The rose"
    code = main(["generate", str(tiny_model_path), "--prompt", prompt, "--temperatures", "0.2,1.0", "--chars", "50", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    items = json.loads(captured.out)
    assert isinstance(items, list) and len(items) == 2
    assert [it["temperature"] for it in items] == [0.2, 1.0]
    for it in items:
        assert it["text"].startswith(prompt)
        assert len(it["text"]) == len(prompt) + 50
        assert it["bits_per_char"] > 0


def test_generate_lines(tiny_model_path, capsys):
    code = main(["generate", str(tiny_model_path), "--temperatures", "0.5,1.0", "--lines", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for it in json.loads(captured.out):
        assert it["text"].endswith("\n")
        assert len([ln for ln in it["text"].split("\n") if ln.strip()]) == 2
    code = main(["generate", str(tiny_model_path), "--temperatures", "0.5", "--lines", "2"])
    captured = capsys.readouterr()
    assert code == 0 and "=== temperature 0.5 ===" in captured.out


def test_generate_notes_unknown_prompt_characters(tiny_model_path, capsys):
    code = main(["generate", str(tiny_model_path), "--prompt", "The ☃ rose", "--temperatures", "1", "--chars", "5", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert "☃" in captured.err and "Traceback" not in captured.err
    assert json.loads(captured.out)[0]["text"].startswith("The ☃ rose")


def test_evaluate_json(tiny_model_path, corpus_file, capsys):
    code = main(["evaluate", str(tiny_model_path), str(corpus_file), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert set(out) == {"nats_per_char", "bits_per_char", "chars"}
    assert out["bits_per_char"] == pytest.approx(out["nats_per_char"] / math.log(2))
    text = load_corpus([corpus_file]).text
    assert out["chars"] == len(text)
    bundle = load_model(tiny_model_path, device="cpu")
    ids = bundle.vocab.encode(text)
    assert out["nats_per_char"] == pytest.approx(evaluate(bundle.model, ids), rel=1e-9)
    # 32 streams, each reading 256 characters of context before it scores: within 1e-4 of the exact one-stream loss
    assert out["nats_per_char"] == pytest.approx(evaluate(bundle.model, ids, streams=1), abs=1e-4)
    assert 0 < out["nats_per_char"] < math.log(len(bundle.vocab))
    code = main(["evaluate", str(tiny_model_path), str(corpus_file)])
    assert code == 0 and "nats/char" in capsys.readouterr().out


def test_missing_model_file_is_a_user_error(tmp_path, capsys):
    code = main(["generate", str(tmp_path / "nope.safetensors"), "--chars", "10"])
    _assert_user_error(code, capsys.readouterr().err)


def test_empty_corpus_file_is_a_user_error(tmp_path, tiny_model_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    code = main(["evaluate", str(tiny_model_path), str(empty)])
    _assert_user_error(code, capsys.readouterr().err)
    code = main(["train", str(empty), "--epochs", "1", "--out", str(tmp_path / "out")])
    _assert_user_error(code, capsys.readouterr().err)


def test_png_named_txt_is_a_user_error(tmp_path, capsys):
    fake = tmp_path / "poems.txt"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    code = main(["train", str(fake), "--epochs", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    _assert_user_error(code, err)
    assert "PNG" in err


def test_temperature_out_of_range_is_a_user_error(tiny_model_path, capsys):
    code = main(["generate", str(tiny_model_path), "--temperatures", "1000", "--chars", "10"])
    _assert_user_error(code, capsys.readouterr().err)


def test_user_error_through_python_m_exits_2(tiny_model_path):
    proc = _run_module("generate", str(tiny_model_path), "--temperatures", "0.5,1000", "--chars", "10")
    _assert_user_error(proc.returncode, proc.stderr)
    assert proc.stdout == ""


def test_bad_model_setting_is_a_user_error(corpus_file, tmp_path, capsys):
    code = main(["train", str(corpus_file), "--epochs", "1", "--dropout", "1.5", "--out", str(tmp_path / "out")])
    _assert_user_error(code, capsys.readouterr().err)


def test_themes_skip_blocks_without_words_and_say_so(tmp_path, capsys):
    """A separator line or a page number in a poet's file must not refuse the whole corpus."""
    from conftest import STANZAS

    blocks = [s.split("\n", 1)[1] for s in STANZAS] * 3
    blocks[3:3] = ["* * *", "17", "____________", "and the"]
    path = tmp_path / "separated.txt"
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    assert main(["themes", str(path), "--method", "tfidf", "--k", "2", "--json"]) == 0
    captured = capsys.readouterr()
    # '17' heads the next block, 'and the' (common words only): one block skipped; the separators are no poems at all
    assert "Skipped 1 block without words" in captured.err and "'17" in captured.err
    assert json.loads(captured.out)[0]["name"] == "tfidf"


def test_train_defaults_are_sized_to_a_small_corpus_and_the_end_is_explained(tmp_path, corpus_file, capsys):
    out = tmp_path / "run"
    assert main(["train", str(corpus_file), "--steps", "4", "--hidden", "16", "--emb", "8", "--seq-len", "16", "--batch", "4",
                 "--no-samples", "--out", str(out)]) == 0
    cfg = json.loads((out / "run.json").read_text())["train_config"]
    assert (cfg["minutes"], cfg["patience"]) == (1.0, 2) and cfg["eval_every_s"] <= 5.0  # as the page: presets.train_settings
    assert "Finished: all its steps are done after 4 steps" in capsys.readouterr().out
    for patience, expected in (("never", None), ("0", 2), ("3", 3)):  # presets.patience_settings, as the page
        again = tmp_path / f"again-{patience}"
        assert main(["train", str(corpus_file), "--steps", "2", "--patience", patience, "--minutes", "2", "--hidden", "16",
                     "--emb", "8", "--no-samples", "--out", str(again)]) == 0
        cfg = json.loads((again / "run.json").read_text())["train_config"]
        assert (cfg["minutes"], cfg["patience"]) == (2.0, expected), patience
    assert main(["train", str(corpus_file), "--patience", "soon", "--out", str(tmp_path / "bad")]) == 2
    assert "Patience must be a whole number of checks, or 'never'" in capsys.readouterr().err


def test_train_validates_on_a_file_of_ones_choosing(tmp_path, corpus_file, capsys):
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("A poem that the model never trains on,\nwith a line or two of its own.\n", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", str(corpus_file), "--val", str(held_out), "--steps", "6", "--eval-steps", "3", "--hidden", "16",
                 "--emb", "8", "--seq-len", "16", "--batch", "4", "--no-samples", "--out", str(out)]) == 0
    text = (out / "corpus.txt").read_text(encoding="utf-8")
    split_at = json.loads((out / "run.json").read_text())["split_at"]
    assert text[split_at:] == held_out.read_text(encoding="utf-8")
    assert text[:split_at] == load_corpus([corpus_file]).text  # the whole corpus trains
    bundle = load_model(out / "model.safetensors", device="cpu")
    assert bundle.facts["best_val_loss"] == pytest.approx(evaluate(bundle.model, bundle.vocab.encode(held_out.read_text())), abs=1e-4)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    assert main(["train", str(corpus_file), "--val", str(empty), "--steps", "2", "--out", str(tmp_path / "x")]) == 2


def test_the_cell_choices_are_the_models_cells(capsys):
    from poetry_lab.cli import CELL_NAMES, build_parser
    from poetry_lab.core.model import CELLS

    assert CELL_NAMES == tuple(CELLS)  # the CLI spells them out to start without torch
    assert build_parser().parse_args(["train", "x", "--out", "d", "--cell", "gru"]).cell == "gru"
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["train", "x", "--out", "d", "--cell", "rnn"])
    assert stop.value.code == 2 and "invalid choice: 'rnn' (choose from 'lstm', 'gru')" in capsys.readouterr().err


def test_sweep_checks_copying_up_to_the_one_limit(tmp_path, tiny_model_path, corpus_file, capsys, monkeypatch):
    from poetry_lab.analysis import metrics

    args = ["sweep", str(tiny_model_path), "--temperatures", "0.5", "--samples", "1", "--chars", "30", "--corpus", str(corpus_file)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "copying is not measured" not in capsys.readouterr().err
    with (tmp_path / "a" / "sweep.csv").open(encoding="utf-8") as f:
        assert next(csv.DictReader(f))["copied_4gram_share"] != ""
    monkeypatch.setattr(metrics, "COPY_CHECK_MAX_CHARS", 10)  # the app's model slot follows the same constant
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert "copying is not measured" in capsys.readouterr().err
    with (tmp_path / "b" / "sweep.csv").open(encoding="utf-8") as f:
        assert next(csv.DictReader(f))["copied_4gram_share"] == ""
