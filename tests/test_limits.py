"""Limits for a shared server: upload size, file count, distinct characters, time budget, model size."""

from __future__ import annotations

import pytest
from conftest import POEM_TEXT

from poetry_lab.core.train import TrainConfig
from poetry_lab.data.corpus import Corpus, load_corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.prepare import prepare_run
from poetry_lab.settings import Limits, current_limits


def test_limits_come_from_the_environment_with_safe_fallbacks(monkeypatch):
    monkeypatch.setenv("POETRY_LAB_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("POETRY_LAB_MAX_MINUTES", "not a number")
    lim = current_limits()
    assert lim.max_upload_bytes == 2 * 1024 * 1024 and lim.max_minutes == 60.0


def test_oversized_file_and_too_many_files_are_refused(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("The rose is red.\n" * 10_000)
    with pytest.raises(PoetryLabError, match="at most"):
        load_corpus([big], max_bytes=50_000)
    assert load_corpus([big]).stats.lines == 10_000  # the command line applies no limit
    files = []
    for i in range(3):
        f = tmp_path / f"p{i}.txt"
        f.write_text(POEM_TEXT)
        files.append(f)
    with pytest.raises(PoetryLabError, match="too many"):
        load_corpus(files, max_files=2)
    with pytest.raises(PoetryLabError, match="too long"):
        load_corpus(text="x" * 100, max_bytes=50)


def test_user_gzip_is_not_unpacked(tmp_path):
    import gzip

    gz = tmp_path / "poems.txt.gz"
    gz.write_bytes(gzip.compress(POEM_TEXT.encode()))
    with pytest.raises(PoetryLabError):  # read as bytes: a gzip archive is not text
        load_corpus([gz])


def test_training_limits_refuse_before_allocating():
    cfg = TrainConfig(minutes=1.0)
    lim = Limits(max_minutes=5, max_parameters=1_000_000, max_distinct_chars=100)
    corpus = Corpus(POEM_TEXT)
    with pytest.raises(PoetryLabError, match="parameters"):
        prepare_run(corpus, {"hidden": 2048}, cfg, limits=lim)
    with pytest.raises(PoetryLabError, match="at most 5 minutes"):
        prepare_run(corpus, {"hidden": 32}, TrainConfig(minutes=10.0), limits=lim)
    noisy = Corpus("".join(chr(0x4E00 + i) for i in range(500)) + "\n" + POEM_TEXT)
    with pytest.raises(PoetryLabError, match="different characters"):
        prepare_run(noisy, {"hidden": 32}, cfg, limits=lim)
    assert prepare_run(corpus, {"hidden": 32}, cfg, limits=lim).trainer is not None


def test_epoch_only_jobs_get_the_time_limit_as_budget():
    cfg = TrainConfig(minutes=None, epochs=3)
    run = prepare_run(Corpus(POEM_TEXT), {"hidden": 32}, cfg, limits=Limits(max_minutes=7))
    assert run.trainer.config.minutes == 7 and run.trainer.config.epochs == 3
    assert cfg.minutes is None and run.trainer.config is not cfg  # the caller's config is left as it was
