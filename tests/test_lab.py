"""Session: one user's session (corpus, training, comparison) through its typed methods."""

from __future__ import annotations

import time

import pytest
from conftest import POEM_TEXT

from poetry_lab.app.session import Session, parse_temperatures
from poetry_lab.core.train import TrainConfig
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.presets import DEFAULT_PRESET, FINETUNE_TRAIN, TINY_PATIENCE

KEYS = {"temperature", "text", "bits_per_char", "copied_4gram_share", "longest_copy", "distinct_2", "repeated_lines"}


@pytest.fixture
def lab(tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.setenv("POETRY_LAB_DEFAULT_MODEL", str(tiny_model_path))
    lab = Session("test-session", home=tmp_path)
    yield lab
    lab.close()


def test_compare_works_on_the_default_model_before_any_training(lab):
    out = lab.compare("The rose", "0.2, 1.0", chars=60, seed=3)
    assert [r.temperature for r in out] == [0.2, 1.0]
    for r in out:
        assert KEYS <= set(r.to_json()) and r.text.startswith("The rose")
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


def test_default_training_of_a_small_corpus_is_sized_to_it(lab):
    lab.load_corpus(text=POEM_TEXT)
    msg = lab.start_training(DEFAULT_PRESET, None, "auto")
    try:
        cfg = lab.job.run.trainer.config
        assert (cfg.minutes, cfg.patience) == (1.0, TINY_PATIENCE) and cfg.eval_every_s <= 5.0
        assert cfg.lr == FINETUNE_TRAIN["lr"]  # "automatic" fine-tunes a small corpus
        assert "1 min budget for" in msg and "stops sooner once it stops improving" in msg
    finally:
        lab.stop_training()
        assert lab.job.join(timeout=30)
    lab.start_training(DEFAULT_PRESET, 2, "auto", advanced={"patience": 5, "lr": 3e-3})
    try:  # the poet's own minutes, patience and learning rate win (and no fine-tuning warm-up is forced)
        cfg = lab.job.run.trainer.config
        assert (cfg.minutes, cfg.patience, cfg.lr) == (2.0, 5, 3e-3) and cfg.warmup_steps == TrainConfig.warmup_steps
    finally:
        lab.stop_training()
        assert lab.job.join(timeout=30)


def test_a_model_file_loaded_after_training_replaces_the_trained_model(lab, tiny_model_path):
    lab.load_corpus(text=POEM_TEXT)
    lab.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 24, "batch_size": 8, "seq_len": 32})
    with pytest.raises(PoetryLabError, match="Stop it first"):
        lab.load_model_file(tiny_model_path)
    lab.stop_training()
    assert lab.job.join(timeout=30)
    trained = lab.model_file()
    assert lab.bundle.model.config.hidden == 24  # the finished job's model answers ...
    lab.load_model_file(tiny_model_path)
    assert lab.bundle.model.config.hidden != 24  # ... until a file is loaded: then the file's model does
    lab.compare("The", "0.5", chars=10)
    assert lab.bundle.model.config.hidden != 24
    assert lab.model_file() != trained  # and the download is the loaded model, not the run's file


def test_reading_the_model_changes_nothing(lab):
    """A finished job's model answers whether or not it has been taken up; only finish_job takes it up."""
    lab.load_corpus(text=POEM_TEXT)
    lab.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 24, "batch_size": 8, "seq_len": 32})
    lab.stop_training()
    assert lab.job.join(timeout=30)
    first = lab.bundle
    assert first is lab.job.best_bundle() and first.model.config.hidden == 24
    assert lab.bundle is first and lab.model.is_default()  # read twice: the same model, nothing taken up
    summary = lab.model_summary()
    assert lab.bundle is first and lab.model.is_default() and lab.model_summary() == summary
    lab.finish_job()
    assert lab.bundle is first and lab.model.loaded is first and lab.model.reference is lab.training.reference
    lab.finish_job()  # once: a second call changes nothing
    assert lab.bundle is first and lab.model_summary() == summary


def test_a_new_training_keeps_the_last_trained_model_until_its_first_evaluation(lab):
    lab.load_corpus(text=POEM_TEXT)
    lab.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 24, "batch_size": 8, "seq_len": 32})
    lab.stop_training()
    assert lab.job.join(timeout=30)
    trained = lab.job.best_bundle()  # not read, so not taken up: starting the next training takes it up
    lab.start_training("quick", minutes=1, start_from="scratch", advanced={"hidden": 16, "batch_size": 8, "seq_len": 32})
    try:
        assert lab.model.loaded is trained
    finally:
        lab.stop_training()
        assert lab.job.join(timeout=30)


def test_a_training_text_over_the_copy_check_limit_is_not_indexed(lab, tiny_model_path, monkeypatch):
    from poetry_lab.analysis import metrics

    lab.load_corpus(text=POEM_TEXT)
    lab.load_model_file(tiny_model_path)
    assert lab.model.reference is not None and lab.compare("The", "0.5", chars=40)[0].copied_4gram_share is not None
    monkeypatch.setattr(metrics, "COPY_CHECK_MAX_CHARS", len(POEM_TEXT) - 1)  # the command line's limit too
    lab.load_model_file(tiny_model_path)
    assert lab.model.reference is None and lab.compare("The", "0.5", chars=40)[0].copied_4gram_share is None


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
    assert [{k: getattr(r, k) for k in plain[0].to_json()} for r in out] == [p.to_json() for p in plain]  # the same poems and numbers as compare()
    for r in out:
        assert r.prompt_len == 8 and r.analysis.rhyme_scheme and r.analysis.metre
        assert len(r.confidence) == 60 and "".join(c.char for c in r.confidence) == r.text[8:]
        assert all(0 < c.prob <= 1 and len(c.top) == 3 for c in r.confidence)
        assert r.copies is None  # the tiny model's training text is not a bundled corpus


def test_compare_lens_finds_copies_once_the_training_text_is_known(lab, tiny_model_path):
    lab.load_corpus(text=POEM_TEXT)
    lab.load_model_file(tiny_model_path)  # the session now knows what the model was trained on
    line = "The bee is busy in the hall;"
    (r,) = lab.compare_lens(line, "0.2", chars=20, seed=1)
    assert r.copies and r.copies[0].start == 0 and r.copies[0].text.startswith(line)
    assert line in r.copies[0].source


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


# --- themes ---------------------------------------------------------------------------------
def _topic_poems(lab):
    from test_themes import POEMS  # 12 poems on three topics: sea, garden, war

    lab.load_corpus(text="\n\n".join(POEMS))
    assert len(lab.corpus.poems) == 12
    return POEMS


def test_themes_need_a_corpus_and_a_known_method(lab):
    with pytest.raises(PoetryLabError, match="Load your poems first"):
        lab.themes("tfidf", 3)
    _topic_poems(lab)
    with pytest.raises(PoetryLabError, match="Unknown method"):
        lab.themes("magic", 3)
    fewer = lab.themes("tfidf", 12)  # fewer poems than themes: fewer themes, and a note that says so
    assert fewer.n_themes == 11 and any("so 11 themes instead of 12" in n for n in fewer.notes)


def test_themes_tfidf_places_the_last_comparison_without_fitting_again(lab):
    _topic_poems(lab)
    said = []
    first = lab.themes("tfidf", 3, progress=lambda fraction, text: said.append(text))
    assert first.method == "tfidf" and first.n_themes == 3 and sorted(first.summary["size"]) == [4, 4, 4]
    assert first.placements == [] and set(first.points["kind"]) == {"corpus"} and len(first.table) == 1
    lab.compare("The ship", "0.5, 1.0", chars=80, seed=1)  # the session remembers these poems for the map
    assert [t for t, _ in lab.last_poems] == [0.5, 1.0]
    again = lab.themes("tfidf", 3, progress=lambda fraction, text: said.append(text))
    assert sum(s.startswith("TF-IDF + K-means:") for s in said) == 1  # fitted once (the first time it loads the encoder): the second call used the fitted method
    assert again.labels == ["temperature 0.5", "temperature 1"] and len(again.placements) == 2
    assert list(again.points.loc[again.points["kind"] == "new", "label"]) == ["0.5", "1"]
    assert (again.points["kind"] == "corpus").sum() == 12
    assert all(len(p.nearest) == 5 and 0 <= p.theme < 3 and p.mixture is None for p in again.placements)


def test_themes_automatic_number_and_the_poem_cap(lab, monkeypatch):
    import poetry_lab.app.themes_slot as lab_module

    _topic_poems(lab)
    assert lab.themes("tfidf", None).n_themes == 3 and "silhouette" in lab.themes("tfidf", None).notes[0]
    monkeypatch.setattr(lab_module, "THEMES_MAX_POEMS", 9)
    report = lab.themes("lda", 3)
    assert len(report.poems) == 9 and "9 of the 12 poems" in report.notes[0]


def test_themes_compare_all_with_a_small_backward_model(lab):
    from poetry_lab.themes.encoder import encoder_ready

    _topic_poems(lab)
    lab.compare("The sea", "0.7", chars=80, seed=2)
    said = []
    report = lab.themes("all", 3, progress=lambda fraction, text: said.append(text), backward_steps=8)
    assert list(report.table["method"]) == ["tfidf", "lda", "elmo", "autoencoder", "minilm"] and report.method in set(report.table["method"])
    assert encoder_ready(lab.store)  # the session's Store, active while the methods fit, keeps what they loaded
    assert any("learns to read your poems backwards" in s for s in said)
    elmo = lab.themes("elmo", 3, backward_steps=8)  # fitted above: taken from the session's cache
    assert elmo.method == "elmo" and elmo.table.equals(report.table.iloc[[2]].reset_index(drop=True))
    mixed = lab.themes("autoencoder", 3, backward_steps=8).placements[0]
    assert mixed.mixture is not None and sum(mixed.mixture) == pytest.approx(1.0)


def test_themes_embeddings_wait_for_this_sessions_training(lab):
    from types import SimpleNamespace

    _topic_poems(lab)
    lab.training.job = SimpleNamespace(running=True, best_bundle=lambda: None, stop=lambda: None, join=lambda timeout=None: True)
    with pytest.raises(PoetryLabError, match="training is running"):
        lab.themes("elmo", 3)
    assert lab.themes("tfidf", 3).n_themes == 3  # the fast methods still work


def test_comparison_shows_each_poems_theme_after_themes_ran(lab):
    from poetry_lab.app.ui import render

    _topic_poems(lab)
    assert lab.compare_lens("The ship", "0.5", chars=60, seed=1)[0].theme is None  # no themes yet
    report = lab.themes("tfidf", 3)
    out = lab.compare_lens("The ship sails the sea", "0.5, 1.0", chars=60, seed=1)
    for r in out:
        t = r.theme
        assert 1 <= t.theme <= 3 and t.words and t.nearest in {lab.corpus.poems[i].split("\n")[0] for i in range(12)}
    assert report.n_themes == 3
    assert "nearest poem in your corpus" in render.compare_html(out)
    lab.load_corpus(text=POEM_TEXT)  # another corpus: the old themes no longer apply
    assert lab.compare_lens("The ship", "0.5", chars=60, seed=1)[0].theme is None


def test_repeated_poems_are_pointed_out(lab):
    once = lab.load_corpus(text=POEM_TEXT)  # POEM_TEXT itself is four stanzas, four times over
    assert any("12 poems appear more than once" in w for w in once.warnings)
    fresh = lab.load_corpus(text="\n\n".join(POEM_TEXT.split("\n\n")[:4]))
    assert not any("more than once" in w for w in fresh.warnings)


def test_a_few_poems_are_not_called_prose(lab):
    notes = lab.load_corpus(text="The rose is red,\nthe sky is blue.\n\nThe moon is white,\nthe sea is new.\n").warnings
    assert any(n.startswith("Only 2 poems: validation uses the last 10%") for n in notes), notes
    assert not any("prose" in n for n in notes)
    prose = lab.load_corpus(text="\n\n".join(["A long line of prose that runs on and on without a break " * 3] * 6)).warnings
    assert any("looks like prose" in n for n in prose)


# --- poems in form ----------------------------------------------------------------------------
def test_compose_writes_one_poem_per_temperature_with_one_seed(lab):
    from pronouncing import rhyming_part

    poems = lab.compose("quatrain", temperatures="0.3, 0.9", seed=2)
    assert [p.temperature for p in poems] == [0.3, 0.9] and {p.seed for p in poems} == {2}
    assert all(len(p.lines) == 4 and [ln.rhyme for ln in p.lines] == list("ABAB") for p in poems)
    assert [p.text for p in lab.compose("quatrain", temperatures="0.3, 0.9", seed=2)] == [p.text for p in poems]
    for p in poems:  # a line that claims a true rhyme truly rhymes with its partner (CMU)
        for a, b in ((0, 2), (1, 3)):
            if p.lines[b].rhyme_quality == "true":
                from poetry_lab.analysis.pronounce import pronunciations
                parts_a = {rhyming_part(x) for x in pronunciations(p.lines[a].end_word)}
                parts_b = {rhyming_part(x) for x in pronunciations(p.lines[b].end_word)}
                assert parts_a & parts_b, (p.lines[a].end_word, p.lines[b].end_word)


def test_the_poet_keeps_edits_and_rewrites_lines(lab):
    with pytest.raises(PoetryLabError, match="Write a poem first"):
        lab.rewrite_line(0, 1)
    (poem,) = lab.compose("quatrain", temperatures="0.5", seed=4)
    before = [ln.text for ln in poem.lines]
    mine = "The lamp is lit beside the door"
    new = lab.rewrite_poem(0, keep=[0, 1], lines=[mine, *before[1:]])
    assert new.lines[0].text == mine and new.lines[0].given  # the poet's edited line, kept as written
    assert new.lines[1].text == before[1] and not new.lines[1].given  # kept unchanged: still the model's
    again = lab.rewrite_line(0, 3)
    assert [ln.text for ln in again.lines[:3]] == [ln.text for ln in new.lines[:3]] and again.lines[3].text != new.lines[3].text
    assert not again.lines[2].given and again.lines[0].given
    drafts = lab.line_candidates(0, 3)
    assert drafts and all(d.text != again.lines[3].text for d in drafts)
    assert [d.score for d in drafts] == sorted((d.score for d in drafts), reverse=True) or drafts  # best first by the decoder's rank
    with pytest.raises(PoetryLabError, match="keep one line of text for each line"):
        lab.rewrite_poem(0, keep=[0], lines=["only one line"])
    with pytest.raises(PoetryLabError, match="between 1 and 6"):
        lab.compose("haiku", temperatures="0.1,0.2,0.3,0.4,0.5,0.6,0.7")


def test_poems_in_form_are_placed_on_the_themes_map(lab):
    _topic_poems(lab)
    lab.compose("quatrain", temperatures="0.5, 1.0", seed=1)
    report = lab.themes("tfidf", 3)
    assert report.labels == ["temperature 0.5", "temperature 1"] and len(report.placements) == 2


def test_raw_letters_are_shown_but_not_worked_on(lab):
    (poem,) = lab.compose("quatrain", temperatures="0.8", seed=3, raw=True)
    assert poem.raw and 1 <= len(poem.lines) <= 4
    with pytest.raises(PoetryLabError, match="Raw letters are the bare model"):
        lab.rewrite_line(0, 0)
    assert lab.line_candidates(0, 0) == []
