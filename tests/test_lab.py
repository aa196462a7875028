"""Lab: one user's session (corpus, training, comparison) through its typed methods."""

from __future__ import annotations

import time

import pytest

from poetry_lab.errors import PoetryLabError
from poetry_lab.lab import Lab, parse_temperatures

from conftest import POEM_TEXT

KEYS = {"temperature", "text", "bits_per_char", "copied_4gram_share", "longest_copy", "distinct_2", "repeated_lines"}


@pytest.fixture
def lab(tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    lab = Lab("test-session", home=tmp_path)
    yield lab
    lab.close()


def test_compare_works_on_the_default_model_before_any_training(lab):
    out = lab.compare("The rose", "0.2, 1.0", chars=60, seed=3)
    assert [r["temperature"] for r in out] == [0.2, 1.0]
    for r in out:
        assert KEYS <= set(r) and r["text"].startswith("The rose")
    assert lab.compare("The rose", "0.2,1.0", chars=60, seed=3) == out  # one seed, same poems


def test_load_corpus_reports_stats_and_plain_warnings(lab):
    report = lab.load_corpus(text=POEM_TEXT + "\nStraße — ñ\n")
    st = report.stats
    assert st.poems == 17 and st.chars == len(lab.corpus.text)
    assert any("memorise" in w for w in report.warnings)  # a tiny corpus
    assert any("never seen" in w for w in report.warnings)  # ß, —, ñ are new to the model
    assert report.to_json()["poems"] == 17 and report.preview[0].startswith("I\nThe rose")


def test_user_errors_are_poetry_lab_errors(lab):
    with pytest.raises(PoetryLabError, match="Load a corpus first"):
        lab.start_training("quick")
    with pytest.raises(PoetryLabError):
        lab.compare("x", "0.1,0.2,0.3,0.4,0.5,0.6,0.7")
    with pytest.raises(PoetryLabError):
        lab.compare("x", "hot, cold")
    with pytest.raises(PoetryLabError):
        lab.compare("x", "1000")
    with pytest.raises(PoetryLabError):
        lab.load_corpus(text="   \n ")
    lab.load_corpus(text=POEM_TEXT)
    with pytest.raises(PoetryLabError):
        lab.start_training("quick", minutes=-1)
    with pytest.raises(PoetryLabError):
        lab.start_training("nonsense")


def test_training_fine_tunes_then_the_model_is_adopted(lab):
    lab.load_corpus(text=POEM_TEXT + "Straße\n")
    msg = lab.start_training("quick", minutes=0.1, start_from="loaded", advanced={"batch_size": 8, "seq_len": 32})
    assert "fine-tuning" in msg
    with pytest.raises(PoetryLabError, match="already running"):
        lab.start_training("quick")
    assert lab.job.join(timeout=30)
    assert lab.training_status().state == "done"
    lab.compare("The", "0.5", chars=20)  # adopts the finished model
    assert "ß" in lab.bundle.vocab  # the new character was added, not mapped to unknown
    assert lab.model_file().is_file()


def test_stop_training_and_summary(lab):
    lab.load_corpus(text=POEM_TEXT)
    assert lab.stop_training() == "No training is running."
    lab.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 32, "batch_size": 8, "seq_len": 32})
    time.sleep(0.5)
    assert "Stopping" in lab.stop_training()
    assert lab.job.join(timeout=30)
    assert lab.training_status().state == "stopped"
    assert "LSTM" in lab.model_summary()


def test_parse_temperatures():
    assert parse_temperatures("0.2, 0.5;1") == [0.2, 0.5, 1.0]
    assert parse_temperatures([1, 2]) == [1.0, 2.0]


def test_bundled_corpus_must_be_a_catalog_name_not_a_path(lab):
    with pytest.raises(PoetryLabError, match="no bundled corpus"):
        lab.load_corpus(bundled="/etc/passwd")


def test_compare_lens_adds_rhyme_metre_confidence_and_copies(lab):
    plain = lab.compare("The rose", "0.2, 1.0", chars=60, seed=3)
    out = lab.compare_lens("The rose", "0.2, 1.0", chars=60, seed=3)
    assert [{k: r[k] for k in plain[0]} for r in out] == plain  # the same poems and numbers as compare()
    for r in out:
        assert r["prompt_len"] == 8 and r["analysis"]["rhyme_scheme"] and r["analysis"]["metre"]
        assert len(r["confidence"]) == 60 and "".join(c["char"] for c in r["confidence"]) == r["text"][8:]
        assert all(0 < c["prob"] <= 1 and len(c["top"]) == 3 for c in r["confidence"])
        assert r["copies"] is None  # the tiny model's training text is not a bundled corpus


def test_compare_lens_finds_copies_once_the_training_text_is_known(lab, tiny_model_path):
    lab.load_corpus(text=POEM_TEXT)
    lab.load_model_file(tiny_model_path)  # the Lab now knows what the model was trained on
    line = "The bee is busy in the hall;"
    (r,) = lab.compare_lens(line, "0.2", chars=20, seed=1)
    assert r["copies"] and r["copies"][0]["start"] == 0 and r["copies"][0]["text"].startswith(line)
    assert line in r["copies"][0]["source"]


def test_sweep_rows_and_limits(lab):
    df = lab.sweep("0.3, 1.2", samples=2, chars=30, seed=0)
    assert len(df) == 4 and sorted(set(df["temperature"])) == [0.3, 1.2] and set(df["sample"]) == {0, 1}
    assert df["text"].str.len().eq(30).all() and df["copied_4gram_share"].isna().all()  # no training text known
    assert lab.sweep("0.3, 1.2", samples=2, chars=30, seed=0).equals(df)  # one seed, same sweep
    for kwargs, message in [({"samples": 0}, "at least one poem"), ({"chars": None}, "at least one poem"),
                            ({"samples": 50, "chars": 2000}, "the limit is"), ({"temperatures": "hot"}, "numbers")]:
        with pytest.raises(PoetryLabError, match=message):
            lab.sweep(**{"temperatures": "0.5, 1.0", "samples": 2, "chars": 30, **kwargs})


def test_server_limits_apply_to_uploads_and_jobs(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("POETRY_LAB_MAX_UPLOAD_MB", "0.001")
    big = tmp_path / "big.txt"
    big.write_text(POEM_TEXT)
    with pytest.raises(PoetryLabError, match="at most"):
        lab.load_corpus(files=[str(big)])
    monkeypatch.delenv("POETRY_LAB_MAX_UPLOAD_MB")
    monkeypatch.setenv("POETRY_LAB_MAX_MINUTES", "2")
    lab.load_corpus(files=[str(big)])
    with pytest.raises(PoetryLabError, match="at most 2 minutes"):
        lab.start_training("quick", minutes=5, start_from="scratch")
