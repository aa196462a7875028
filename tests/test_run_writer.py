"""A run's poem writer: a run from a model with a writer teaches a copy of it the run's poems after the
character training (runs.writer), in the app's job and on the command line; stop, 0 seconds, failures,
resumed runs and runs from scratch."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import torch
from conftest import POEM_TEXT

from poetry_lab.cli import main
from poetry_lab.core.checkpoint import WRITER_FILE, ModelBundle, WriterBundle, load_model, load_writer, save_model, save_writer
from poetry_lab.core.train import TrainConfig
from poetry_lab.core.wordmodel import UNKNOWN, WordConfig, WordLSTM, WordVocab, fit_words, held_out_nats, tokenize
from poetry_lab.data.corpus import Corpus
from poetry_lab.runs import listing
from poetry_lab.runs import writer as run_writer
from poetry_lab.runs.jobs import TrainingJob
from poetry_lab.runs.prepare import prepare_run
from poetry_lab.runs.record import read_record
from poetry_lab.runs.writer import WriterTuning, finetune_writer

# A tiny model on a tiny repeated text learns within a second or two at a high learning rate.
FAST = WriterTuning(seconds=2.0, lr=1e-2, max_passes=300)


@pytest.fixture(scope="module")
def tiny_writer() -> WriterBundle:
    """A 50-token writer (emb 8, hidden 16) of POEM_TEXT's commonest tokens, as initialised: it knows nothing yet."""
    common = [w for w, _ in Counter(tokenize(POEM_TEXT)).most_common() if w != "\n"][:48]
    vocab = WordVocab([UNKNOWN, "\n", *common])
    model = WordLSTM(WordConfig(vocab_size=len(vocab), emb=8, hidden=16, cutoffs=(20,)))
    model.init_weights(seed=0)
    return WriterBundle(model.eval(), vocab, {"name": "tiny writer"})


@pytest.fixture
def base(tiny_bundle, tiny_writer) -> ModelBundle:
    return ModelBundle(tiny_bundle.model, tiny_bundle.vocab, dict(tiny_bundle.facts), writer=tiny_writer)


@pytest.fixture
def base_path(base, tmp_path):
    """The base saved as the shipped one is: a model file with writer.safetensors beside it."""
    path = save_model(tmp_path / "base" / "model.safetensors", base)
    save_writer(path.parent / WRITER_FILE, base.writer)
    return path


def _run(base, writer=FAST, max_steps=6):
    cfg = TrainConfig(seq_len=32, batch_size=8, lr=1e-2, warmup_steps=2, minutes=None, max_steps=max_steps,
                      eval_every_steps=3, patience=None)
    return prepare_run(Corpus(POEM_TEXT, name="tiny poems"), {"dropout": 0.0}, cfg, base=base, writer=writer)


def _nats(writer: WriterBundle, text: str) -> float:
    return held_out_nats(writer.model, torch.as_tensor(writer.vocab.encode(text)))


def _same_weights(a: WriterBundle, b: WriterBundle) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return all(torch.allclose(sa[k], sb[k], atol=1e-3) for k in sa)  # the file keeps half precision


def _messages_until_done(job: TrainingJob, timeout: float = 60.0) -> list[str]:
    """Every status message the job shows, read as the page's timer does, until it ends."""
    seen, end = [], time.time() + timeout
    while job.running and time.time() < end:
        seen.append(job.snapshot().message)
        time.sleep(0.02)
    assert job.join(timeout=5)
    return seen


def test_a_run_from_a_model_with_a_writer_ends_with_the_writer_taught_its_poems(base, tmp_path):
    run = _run(base)
    out = tmp_path / "run"
    job = TrainingJob(run, out, sample_chars=20)
    during = []  # while the characters train: the live model writes with the base's writer, also kept on disk
    run.trainer.add_callback("on_eval", lambda t, p: during.append((job.best_bundle().writer is base.writer, (out / WRITER_FILE).is_file())))
    job.start()
    messages = _messages_until_done(job)
    snap = job.snapshot()
    assert snap.state == "done" and during and all(a and b for a, b in during), during
    assert any(m.startswith("Teaching the poem writer your words: ") and m.endswith(" of 2 s") for m in messages), set(messages)
    assert "The poem writer learnt your words for" in snap.message and "nats per word" in snap.message

    saved = load_writer(out / WRITER_FILE)
    assert _nats(saved, run.val_text) < _nats(base.writer, run.val_text) - 0.5
    assert _same_weights(load_model(out / "model.safetensors", device="cpu").writer, saved)
    assert _same_weights(job.best_bundle().writer, saved) and job.best_bundle().writer is not base.writer
    assert not _same_weights(base.writer, saved)
    facts = read_record(out)["writer"]
    assert facts["kept"] and facts["corpus"] == "tiny poems" and facts["steps"] >= FAST.min_steps and 0 < facts["seconds"] <= 3
    assert facts["val_nats_after"] < facts["val_nats_before"] and facts["val_nats_after"] == pytest.approx(_nats(saved, run.val_text), abs=0.05)
    assert 0 < facts["unk_share"] < 0.5  # POEM_TEXT has more than 48 different words
    assert {k: saved.facts[k] for k in facts if k != "date"} == {k: v for k, v in facts.items() if k != "date"}
    assert saved.facts["base"] == {"name": "tiny writer"}


def test_stop_during_the_characters_keeps_the_bases_writer(base, tmp_path):
    run = _run(base, max_steps=10_000)
    job = TrainingJob(run, tmp_path / "run", sample_chars=20)
    run.trainer.add_callback("on_eval", lambda t, p: job.stop())
    job.start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.state == "stopped" and "The poem writer was not taught your words: you stopped the training." in snap.message
    assert read_record(tmp_path / "run")["writer"]["skipped"] == "you stopped the training"
    assert job.best_bundle().writer is base.writer
    assert _same_weights(load_writer(tmp_path / "run" / WRITER_FILE), base.writer)  # the base's copy, untaught


def test_stop_while_the_writer_learns_ends_it(base, tmp_path):
    # A stop before min_steps keeps nothing: the writer stays the base's.
    run = _run(base, writer=WriterTuning(seconds=30.0, lr=1e-2, max_passes=10**6, min_steps=10**6))
    job = TrainingJob(run, tmp_path / "run", sample_chars=20)
    job.start()
    t0 = time.time()
    while "Teaching the poem writer" not in job.snapshot().message and time.time() - t0 < 30:
        time.sleep(0.02)
    job.stop()
    assert job.join(timeout=10) and time.time() - t0 < 20
    snap = job.snapshot()
    assert snap.state == "done" and "The poem writer was stopped as you asked after" in snap.message, snap.message
    facts = read_record(tmp_path / "run")["writer"]
    assert facts["stopped"] and not facts["kept"] and facts["seconds"] < 10
    assert job.best_bundle().writer is base.writer
    assert _same_weights(load_writer(tmp_path / "run" / WRITER_FILE), base.writer)


def test_a_writer_stopped_after_a_few_steps_keeps_what_it_learnt(tiny_writer):
    train, val = POEM_TEXT[:1800], POEM_TEXT[1800:]
    calls = []
    writer, facts = finetune_writer(tiny_writer, train, val, FAST, "tiny poems", should_stop=lambda: calls[-1] >= 40,
                                    on_progress=lambda s, steps: calls.append(steps))
    assert calls[0] == 0 and facts["steps"] == 40 == calls[-1] and facts["stopped"] and facts["kept"]
    assert writer is not tiny_writer and _nats(writer, val) < _nats(tiny_writer, val)
    assert facts["val_nats_before"] == pytest.approx(_nats(tiny_writer, val), abs=1e-3)
    again, facts = finetune_writer(tiny_writer, train, val, FAST, should_stop=lambda: True)
    assert again is tiny_writer and facts["steps"] == 1 and not facts["kept"]  # fewer than min_steps: nothing kept


def test_a_writer_that_gets_no_better_is_not_kept(tiny_writer):
    # Trained on one line over and over, validated on the others: at this learning rate it only gets worse.
    writer, facts = finetune_writer(tiny_writer, "the rose is red upon the wall,\n" * 200, POEM_TEXT[1800:],
                                    WriterTuning(seconds=1.0, lr=5e-2, max_passes=10**6))
    assert facts["val_nats_after"] > facts["val_nats_before"] and not facts["kept"] and writer is tiny_writer


def test_the_writer_reads_the_text_at_most_max_passes_times(tiny_writer):
    model = WordLSTM(tiny_writer.model.config)
    ids = torch.as_tensor(tiny_writer.vocab.encode(POEM_TEXT * 4))  # 16 rows of ~180 tokens: a pass is 2 chunks of 64
    per_pass = ((len(ids) - 1) // 16 - 1) // 64
    assert per_pass == 2 and fit_words(model, ids, seconds=30.0, passes=3) == 3 * per_pass
    assert fit_words(model, ids, seconds=30.0, passes=0.1) == 1


def test_zero_seconds_keeps_the_bases_writer(base, tmp_path):
    job = TrainingJob(_run(base, writer=WriterTuning(seconds=0)), tmp_path / "run", sample_chars=20)
    job.start()
    assert job.join(timeout=60)
    facts = read_record(tmp_path / "run")["writer"]
    assert facts["skipped"] == "its training time is 0 seconds" and not facts["kept"] and "steps" not in facts
    assert job.best_bundle().writer is base.writer
    assert _same_weights(load_model(tmp_path / "run" / "model.safetensors", device="cpu").writer, base.writer)


def test_a_failing_writer_leaves_the_run_done_with_its_model(base, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the writer broke")

    monkeypatch.setattr(run_writer, "finetune_writer", broken)
    job = TrainingJob(_run(base), tmp_path / "run", sample_chars=20)
    job.start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.state == "done" and snap.message.endswith(
        "Your model is saved, but the poem writer could not learn your words (RuntimeError: the writer broke); it writes as before.")
    record = read_record(tmp_path / "run")
    assert record["status"] == "done" and record["writer"]["error"] == "RuntimeError: the writer broke"
    assert load_model(tmp_path / "run" / "model.safetensors", device="cpu").facts["steps"] == 6
    assert job.best_bundle().writer is base.writer


def test_a_run_from_scratch_has_no_writer(tmp_path):
    cfg = TrainConfig(seq_len=32, batch_size=8, minutes=None, max_steps=4, eval_every_steps=2, patience=None)
    job = TrainingJob(prepare_run(Corpus(POEM_TEXT), {"hidden": 16, "emb_dim": 8}, cfg, writer=FAST), tmp_path / "run", sample_chars=10)
    job.start()
    assert job.join(timeout=60)
    assert not (tmp_path / "run" / WRITER_FILE).exists() and "writer" not in read_record(tmp_path / "run")
    assert job.best_bundle().writer is None and "poem writer" not in job.snapshot().message


def test_a_resumed_run_does_not_teach_its_writer_twice(base, tmp_path):
    out = tmp_path / "run"
    job = TrainingJob(_run(base), out, sample_chars=20)
    job.start()
    assert job.join(timeout=60)
    taught, facts = (out / WRITER_FILE).read_bytes(), read_record(out)["writer"]
    resumed = listing.resume_run(out, limits={"max_steps": 9})
    assert resumed.run.writer_tuning == FAST and _same_weights(resumed.run.bundle.writer, load_writer(out / WRITER_FILE))
    resumed.start()
    assert resumed.join(timeout=60)
    assert resumed.snapshot().step == 9 and (out / WRITER_FILE).read_bytes() == taught and read_record(out)["writer"] == facts
    assert _same_weights(resumed.best_bundle().writer, load_writer(out / WRITER_FILE))


def test_a_resumed_run_that_was_stopped_teaches_its_writer_then(base, tmp_path):
    out = tmp_path / "run"
    run = _run(base, max_steps=10_000)
    job = TrainingJob(run, out, sample_chars=20)
    run.trainer.add_callback("on_eval", lambda t, p: job.stop())
    job.start()
    assert job.join(timeout=60) and not read_record(out)["writer"]["kept"]
    resumed = listing.resume_run(out, limits={"max_steps": 6})
    resumed.start()
    assert resumed.join(timeout=60)
    assert read_record(out)["writer"]["kept"]
    assert _nats(load_writer(out / WRITER_FILE), run.val_text) < _nats(base.writer, run.val_text)


def test_train_on_the_command_line_teaches_the_writer(base_path, tmp_path, capsys):
    corpus = tmp_path / "poems.txt"
    corpus.write_text(POEM_TEXT, encoding="utf-8")
    args = ["train", str(corpus), "--from", str(base_path), "--steps", "4", "--seq-len", "16", "--batch", "4", "--no-samples"]
    assert main([*args, "--writer-seconds", "1", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    facts = read_record(tmp_path / "run")["writer"]
    assert facts["corpus"] == "poems.txt" and facts["steps"] >= 1 and facts["seconds"] <= 2
    assert read_record(tmp_path / "run")["writer_tuning"]["seconds"] == 1.0
    assert "Teaching the poem writer your words: 0 of 1 s" in err and "The poem writer " in out
    assert load_model(tmp_path / "run" / "model.safetensors", device="cpu").writer is not None

    assert main([*args, "--writer-seconds", "0", "--out", str(tmp_path / "none")]) == 0
    assert "The poem writer was not taught your words: its training time is 0 seconds." in capsys.readouterr().out
    assert main([*args, "--writer-seconds", "-1", "--out", str(tmp_path / "bad")]) == 2
    assert "The poem writer's training time must be 0 to 3,600 seconds" in capsys.readouterr().err


def test_the_clis_writer_default_is_the_librarys():
    from poetry_lab.cli import WRITER_SECONDS

    assert WRITER_SECONDS == WriterTuning().seconds  # written out so that the CLI starts without torch
    assert json.loads(json.dumps(WriterTuning().to_dict())) == WriterTuning.from_dict(WriterTuning().to_dict()).to_dict()


def test_the_train_tab_says_the_writer_is_learning():
    from poetry_lab.app.ui.render import progress_markdown
    from poetry_lab.runs.jobs import JobSnapshot
    from poetry_lab.runs.writer import progress_message

    line = progress_markdown(JobSnapshot(state="running", message=progress_message(20.4, 60), step=300, eta_s=39.6))
    assert line.endswith("about 40 s left\n\nTeaching the poem writer your words: 20 of 60 s"), line
