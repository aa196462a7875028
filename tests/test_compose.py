"""Poems in form (poetry_lab.compose): rhyme by the CMU dictionary, syllable counts, known words,
the poet's own and locked lines, regeneration, candidates, raw letters and the `compose` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from itertools import combinations

import numpy as np
import pronouncing
import pytest
from conftest import POEM_TEXT, REPO_ROOT
from threadpoolctl import threadpool_limits

from poetry_lab.analysis.metrics import CorpusIndex, distinct_n
from poetry_lab.analysis.poetics import scan_line
from poetry_lab.cli import main
from poetry_lab.compose import ComposeConfig, Composer, plan
from poetry_lab.core.checkpoint import load_model
from poetry_lab.data.text import words
from poetry_lab.errors import PoetryLabError
from poetry_lab.settings import default_model_path


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """As the app runs (OMP_NUM_THREADS=1): the decoder's small matrix products lose to a busy second core."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def base():
    return load_model(default_model_path(), device="cpu")


class _Letters(Composer):
    """The shipped base's composer with ComposeConfig(letters=True): its character model writes in form."""

    def compose(self, config: ComposeConfig):
        return super().compose(replace(config, letters=True))


@pytest.fixture(scope="module", params=["words", "letters"])
def composer(request, base) -> Composer:
    """The shipped base's composer both ways: its word-level writer (the default) and its character model."""
    return Composer(base) if request.param == "words" else _Letters(base)


@pytest.fixture(scope="module")
def sonnet(composer) -> object:
    return composer.compose(ComposeConfig(form="sonnet", temperature=0.8, seed=11))


def _cmu_rhyme(a: str, b: str) -> bool:
    """Straight from the `pronouncing` package: some pronunciations share the rhyming part. An archaic
    form the dictionary lacks ("distinguish'd") is read as the app reads it (analysis.pronounce)."""
    from poetry_lab.analysis.pronounce import pronunciations

    parts = [{pronouncing.rhyming_part(p) for p in pronouncing.phones_for_word(w) or pronunciations(w)} for w in (a, b)]
    return a != b and bool(parts[0] & parts[1])


def _pairs(form: str, n: int):
    groups: dict = {}
    for k, p in enumerate(plan(form)[:n]):
        if p.group:
            groups.setdefault(p.group, []).append(k)
    return [pair for g in groups.values() for pair in combinations(g, 2)]


def test_forms_plan_schemes_and_counts():
    assert "".join(p.letter for p in plan("sonnet")) == "ABABCDCDEFEFGG"
    assert [p.lo for p in plan("sonnet")] == [10] * 14 and all(p.hi == 11 for p in plan("sonnet"))
    assert "".join(p.letter for p in plan("ballad")) == "ABCB" and [p.lo for p in plan("ballad")] == [8, 6, 8, 6]
    assert "".join(p.letter for p in plan("limerick")) == "AABBA"
    assert [(p.lo, p.hi, p.group) for p in plan("haiku")] == [(5, 5, None), (7, 7, None), (5, 5, None)]
    assert len(plan("quatrain", 8)) == 8 and len(plan("free", 5)) == 5
    with pytest.raises(PoetryLabError, match="multiple of 4"):
        plan("quatrain", 6)
    with pytest.raises(PoetryLabError, match="Unknown form"):
        ComposeConfig(form="villanelle")


def test_sonnet_rhymes_truly_counts_ten_and_uses_known_words(composer, sonnet):
    assert len(sonnet.lines) == 14
    for i, j in _pairs("sonnet", 14):
        a, b = sonnet.lines[i].end_word, sonnet.lines[j].end_word
        assert _cmu_rhyme(a, b) or sonnet.lines[j].rhyme_quality != "true", (a, b)
    true_pairs = sum(_cmu_rhyme(sonnet.lines[i].end_word, sonnet.lines[j].end_word) for i, j in _pairs("sonnet", 14))
    assert true_pairs >= 6  # of 7
    ends = [line.end_word for line in sonnet.lines]
    assert len(set(ends)) == 14
    for line in sonnet.lines:
        assert 10 <= scan_line(line.text, "iambic pentameter")[0] <= 11, line.text
        assert line.syllables == scan_line(line.text, "iambic pentameter")[0]
        assert all(w in composer.lexicon.info for w in words(line.text.replace("’", "'"))), line.text
    assert distinct_n(sonnet.text, 2) >= 0.9


def test_same_seed_same_poem_and_columns_share_the_seed(composer, sonnet):
    again = composer.compose(ComposeConfig(form="sonnet", temperature=0.8, seed=11))
    assert again.text == sonnet.text
    one, other = (composer.compose(ComposeConfig(form="quatrain", temperature=0.8, seed=s)) for s in (1, 2))
    assert one.text != other.text


def test_haiku_counts_five_seven_five(composer):
    poem = composer.compose(ComposeConfig(form="haiku", temperature=1.0, seed=3))
    assert [line.syllables for line in poem.lines] == [5, 7, 5]
    assert all(line.rhyme == "-" and line.rhyme_quality == "" for line in poem.lines)


def test_poets_line_is_kept_and_rhymed_with(composer):
    mine = "Shall I compare thee to a summer's day"
    poem = composer.compose(ComposeConfig(form="quatrain", temperature=0.8, seed=5, prompt=mine))
    assert poem.lines[0].text == mine and poem.lines[0].given
    assert _cmu_rhyme("day", poem.lines[2].end_word)
    # a locked last line: the line before it that shares its rhyme group is written to rhyme with it
    locked = composer.compose(ComposeConfig(form="quatrain", temperature=0.8, seed=5, given={3: "And all the stars were bright"}))
    assert locked.lines[3].text == "And all the stars were bright"
    assert _cmu_rhyme("bright", locked.lines[1].end_word)


def test_regenerate_one_line_keeps_the_others_and_candidates_are_ranked(composer, sonnet):
    texts = [line.text for line in sonnet.lines]
    locked = {k: t for k, t in enumerate(texts) if k != 5}
    again = composer.compose(ComposeConfig(form="sonnet", temperature=0.8, seed=11, given=locked, attempts={5: 1}))
    assert [line.text for k, line in enumerate(again.lines) if k != 5] == [t for k, t in enumerate(texts) if k != 5]
    assert again.lines[5].text != texts[5] and not again.lines[5].given
    assert _cmu_rhyme(again.lines[5].end_word, again.lines[7].end_word)
    for line in sonnet.lines:
        scores = [c.score for c in line.candidates if 10 <= c.syllables <= 11]  # in range first, then by score
        assert scores == sorted(scores, reverse=True) and all(s <= line.score for s in scores)
        assert [10 <= c.syllables <= 11 for c in line.candidates] == sorted((10 <= c.syllables <= 11 for c in line.candidates), reverse=True)
        assert all(c.text != line.text for c in line.candidates)


def test_raw_letters_is_plain_sampling(composer):
    poem = composer.compose(ComposeConfig(form="haiku", temperature=1.0, seed=0, raw=True))
    assert poem.raw and 1 <= len(poem.lines) <= 3
    assert poem.to_json()["raw"] is True


def test_a_tiny_model_writes_a_quatrain_and_no_line_of_its_corpus(tiny_bundle):
    composer = Composer(tiny_bundle, corpus=CorpusIndex(POEM_TEXT))
    poem = composer.compose(ComposeConfig(form="quatrain", temperature=1.0, seed=0, candidates=8))
    assert len(poem.lines) == 4
    for line in poem.lines:
        assert line.text.strip().rstrip(",.;:!?") not in POEM_TEXT
    assert set(words(POEM_TEXT)) <= set(composer.lexicon.info) | {"ii", "iii", "iv"}


def test_min_p_never_draws_what_is_far_less_likely_than_the_likeliest():
    from poetry_lab.compose.decoder import draw

    scores = np.log(np.array([0.04, 0.5, 0.01, 0.45]))
    us = np.linspace(0.0, 0.999, 500)
    assert {draw(scores, u, 1.0) for u in us} == {0, 1, 2, 3}  # off: every one has its share of the draws
    assert {draw(scores, u, 1.0, min_p=0.1) for u in us} == {1, 3}  # 0.04 and 0.01 are under a tenth of 0.5
    assert {draw(scores, u, 2.0, min_p=0.05) for u in us} == {0, 1, 3}  # the cut reads the model, not the temperature
    assert draw(scores, 0.99, 0.0, min_p=0.5) == 1


def test_draw_rows_draws_as_one_draw_a_row_does():
    """The word decoder's batched draw gives what Draw over each row's allowed ids (the `last` ones after the rest)
    gives, at every temperature and min-p, for rows whose allowed words the model finds very unlikely too."""
    from poetry_lab.compose.decoder import Draw, draw_rows

    rng = np.random.default_rng(0)
    P, V = 9, 700
    scores = np.log(rng.dirichlet(np.full(V, 0.05), P)).astype(np.float32)
    allowed = (rng.random((P, V)) < 0.6).astype(np.float32)
    allowed[3] = 0.0  # nothing allowed: -1
    allowed[4] = 0.0
    allowed[4, [5, 650]] = 1.0
    scores[4, [5, 650]] = -60.0  # the allowed words are far below the likeliest: the weights would underflow
    last = np.array([650, 2, 31])
    which = np.repeat(np.arange(P), 40)
    u = rng.random(len(which))
    for temperature, min_p in ((1.0, 0.0), (0.2, 0.0), (0.8, 0.1), (0.0, 0.0)):
        heat = np.full(P, temperature)
        got = draw_rows(scores, allowed, heat, which, u, min_p, last)
        for i, q in enumerate(which):
            ok = allowed[q] > 0
            ids = np.concatenate([np.flatnonzero(ok & ~np.isin(np.arange(V), last)), last[ok[last]]])
            want = ids[Draw(scores[q, ids], temperature, min_p).at(u[i])] if len(ids) else -1
            assert got[i] == want, (temperature, min_p, q)
    assert set(got[which == 3]) == {-1}


def test_bad_settings_are_user_errors():
    with pytest.raises(PoetryLabError):
        ComposeConfig(temperature=9)
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(PoetryLabError, match="min-p"):
            ComposeConfig(min_p=bad)
    for bad in (-1.0, 11.0, float("nan")):
        with pytest.raises(PoetryLabError, match="metre's weight"):
            ComposeConfig(metre_weight=bad)
    with pytest.raises(PoetryLabError, match="lines 1 to 14"):
        ComposeConfig(form="sonnet", given={20: "a line"})


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "poetry_lab", "compose", *args], check=False, cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_json_shape_and_errors():
    done = _run("default", "--form", "limerick", "--seed", "2", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"form", "text", "lines", "seconds"} <= out.keys() and out["form"] == "limerick"
    assert len(out["lines"]) == 5
    for line in out["lines"]:
        assert {"text", "syllables", "rhyme", "end_word", "score"} <= line.keys()
    assert "".join(line["rhyme"] for line in out["lines"]) == "AABBA"
    assert out["text"].splitlines() == [line["text"] for line in out["lines"]]



@pytest.mark.parametrize("args", [("default", "--form", "villanelle"), ("no-such-model.safetensors",),
                                  ("default", "--temperature", "-1"), ("default", "--form", "quatrain", "--lines", "6"),
                                  ("default", "--beam", "0")])
def test_cli_user_errors_are_one_line_and_exit_2(args, capsys):
    assert main(["compose", *args]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines


def test_columns_and_regenerate_helpers(composer):
    cfg = ComposeConfig(form="haiku", seed=4)
    cols = composer.columns(cfg, (0.3, 1.0))
    assert [p.temperature for p in cols] == [0.3, 1.0] and all(p.seed == 4 for p in cols)
    again = composer.regenerate(cfg, cols[0], 1)
    assert again.lines[0].text == cols[0].lines[0].text and again.lines[2].text == cols[0].lines[2].text
    assert again.lines[1].text != cols[0].lines[1].text
    with pytest.raises(PoetryLabError):
        composer.regenerate(cfg, cols[0], 3)


def test_a_gru_model_writes_in_form_too():
    import torch

    from poetry_lab.core.checkpoint import ModelBundle
    from poetry_lab.core.model import ModelConfig, build_model
    from poetry_lab.core.train import TrainConfig, Trainer
    from poetry_lab.core.vocab import Vocab

    vocab = Vocab.from_text(POEM_TEXT)
    model = build_model(ModelConfig(vocab_size=len(vocab), cell="gru", hidden=32, emb_dim=16, dropout=0.0), seed=0,
                        device=torch.device("cpu"))
    Trainer(model, vocab.encode(POEM_TEXT), None, TrainConfig(seq_len=32, batch_size=16, lr=2e-2, warmup_steps=5, minutes=None,
                                                             max_steps=30, eval_every_steps=None, patience=None)).fit()
    poem = Composer(ModelBundle(model.eval(), vocab, {})).compose(ComposeConfig(form="quatrain", seed=1))
    assert [ln.rhyme for ln in poem.lines] == list("ABAB") and all(ln.text.strip() for ln in poem.lines)
    assert poem.lines[2].rhyme_quality == "true" and poem.lines[3].rhyme_quality == "true"


def test_a_composer_leaves_the_shared_model_as_it_is(tiny_bundle):
    from poetry_lab.compose import Composer

    model = tiny_bundle.model
    model.train()
    try:
        Composer(tiny_bundle)
        assert model.training, "building a Composer switched the shared model's mode"
    finally:
        model.eval()


def test_each_quatrain_and_the_couplet_end_a_sentence(composer, sonnet):
    closing = [k for k, p in enumerate(plan("sonnet")) if p.closes]
    assert closing == [3, 7, 11, 13]
    for k in closing:
        assert sonnet.lines[k].text.rstrip()[-1] in ".!?", sonnet.lines[k].text
    haiku = composer.compose(ComposeConfig(form="haiku", seed=2))
    assert haiku.lines[-1].text.rstrip()[-1] in ".!?" and [p.closes for p in plan("haiku")] == [False, False, True]


def test_no_line_runs_on_one_sound(composer):
    from poetry_lab.analysis.pronounce import FUNCTION_WORDS
    from poetry_lab.compose.decoder import SOUND_RUN

    for seed in range(3):  # a low temperature is where the loop on one sound showed
        for line in composer.compose(ComposeConfig(form="quatrain", temperature=0.1, seed=seed)).lines:
            heads = [w[:2] for w in words(line.text) if w not in FUNCTION_WORDS]
            assert max(heads.count(h) for h in heads) < SOUND_RUN, line.text


def test_the_poem_level_search_keeps_the_form_and_scores_at_least_as_well(composer):
    greedy = composer.compose(ComposeConfig(form="quatrain", seed=6, candidates=8))
    search = composer.compose(ComposeConfig(form="quatrain", seed=6, candidates=8, beam=3))
    assert search.text == composer.compose(ComposeConfig(form="quatrain", seed=6, candidates=8, beam=3)).text
    assert _cmu_rhyme(search.lines[0].end_word, search.lines[2].end_word)
    assert _cmu_rhyme(search.lines[1].end_word, search.lines[3].end_word)
    # the first branch of the search draws what the greedy poem draws, so the search finds it or a better whole
    assert sum(line.score for line in search.lines) >= sum(line.score for line in greedy.lines) - 1e-6
    with pytest.raises(PoetryLabError, match="beam"):
        ComposeConfig(beam=0)
