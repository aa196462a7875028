"""The lens: confidence per character, copies of the training text, the temperature sweep, and the
analyse / sweep commands."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from poetry_lab.analysis.lens import (
    SWEEP_COLUMNS,
    CharConfidence,
    CopiedPassage,
    char_confidence,
    copy_highlights,
    real_word_share,
    sweep,
)
from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.app.ui.render import confidence_html, copies_html
from poetry_lab.cli import main
from poetry_lab.figures.lens import SWEEP_METRICS, sweep_figure


@pytest.fixture(scope="module")
def poem_index():
    from conftest import POEM_TEXT

    return CorpusIndex(POEM_TEXT)


def test_confidence_matches_the_models_softmax(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    text = "The rose is red upon the wall,\nThe bee"
    items = char_confidence(model, vocab, text, prompt_len=4, top=3)
    assert [it.char for it in items] == list(text[4:])
    context = "\n\n" + text
    with torch.inference_mode():
        logits, _, _ = model(torch.as_tensor(vocab.encode(context)).unsqueeze(0))
    probs = F.softmax(logits[0], dim=-1)
    for j in (4, 5, 17, len(text) - 1):  # text[j] is predicted at context position j + 1
        expected = probs[j + 1, vocab.stoi[text[j]]].item()
        assert items[j - 4].prob == pytest.approx(expected, rel=1e-4, abs=1e-6)
    for it in items:
        assert 0.0 <= it.prob <= 1.0 and not it.unknown
        alts = [p for _, p in it.top]
        assert len(alts) == 3 and alts == sorted(alts, reverse=True)
        assert it.top[0][1] >= it.prob - 1e-6
    assert not model.training


def test_confidence_edge_cases(tiny_bundle):
    model, vocab = tiny_bundle.model, tiny_bundle.vocab
    assert char_confidence(model, vocab, "abc", prompt_len=3) == []
    items = char_confidence(model, vocab, "a€", top=1)
    assert items[1].unknown and len(items[1].top) == 1
    model.train()
    try:
        char_confidence(model, vocab, "The rose")
        assert model.training  # the mode it was in is restored
    finally:
        model.eval()


def test_confidence_html_escapes_and_keeps_newlines():
    items = [CharConfidence(c, p, False, [(c, p), ('"', 0.1)])
             for c, p in zip("<script>\nx", [0.01, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.99, 0.5, 1.0])]
    out = confidence_html(items)
    assert "<script" not in out and "&lt;" in out and "&gt;" in out
    assert out.count("<span") == 10
    assert "\n" in out
    assert 'title="' in out and "&quot;" in out  # the alternatives are escaped inside the attribute
    assert "hsl(2, " in out and "hsl(210, " in out  # warm for unlikely, cool for certain


def test_copies_found_exactly_where_planted(poem_index):
    planted = "The moon is white above the sea,"
    generated = "Zany quirk blips " + planted + " glorp vrendle"
    found = copy_highlights(generated, poem_index, min_chars=20)
    assert len(found) == 1
    h = found[0]
    assert (h.start, h.end) == (17, 17 + len(planted))
    assert h.text == planted
    assert poem_index.text[h.corpus_start:h.corpus_start + len(planted)] == planted
    assert h.source.startswith("II\nThe moon is white above the sea,")
    assert h.source.rstrip().endswith("so do we.")


def test_copies_are_maximal_and_non_overlapping(poem_index):
    one, two = "The bee is busy in the hall;", "And when the winter comes again"
    generated = "xqz " + one + " zzkv " + two + " xq The lark is"  # "The lark is" is too short
    found = copy_highlights(generated, poem_index, min_chars=20)
    assert [h.text for h in found] == [one, two]
    assert all(generated[h.start:h.end] == h.text for h in found)
    assert copy_highlights("nothing like it at all in there", poem_index) == []


def test_copies_are_trimmed_to_whole_words(poem_index):
    # the verbatim match is "The bee ... hall;\nAnd when", but "zzThe" and "whenever" are other words
    generated = "zzThe bee is busy in the hall;\nAnd whenever"
    found = copy_highlights(generated, poem_index, min_chars=20)
    assert [h.text for h in found] == ["bee is busy in the hall;\nAnd"]
    assert found[0].start == generated.index("bee")


def test_copies_html_marks_and_escapes():
    generated = "<b>bold</b> The rose is red upon the wall"
    out = copies_html(generated, [CopiedPassage(12, len(generated), generated[12:], 0, "I\n<i>The rose</i>", 0)])
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert out.count("<mark") == 1 and ">The rose is red upon the wall</mark>" in out
    assert "&lt;i&gt;" in out  # the source preview in the title is escaped too


def test_real_word_share(poem_index):
    assert real_word_share("the rose is red", None) == 1.0
    assert real_word_share("the zqxv rose", None) == pytest.approx(2 / 3)
    assert real_word_share("", poem_index) is None


def test_sweep_rows_columns_and_figure(tiny_bundle, poem_index):
    df = sweep(tiny_bundle.model, tiny_bundle.vocab, temperatures=(0.5, 1.2), samples_per_temperature=2,
               chars=80, seed=3, index=poem_index)
    assert list(df.columns) == SWEEP_COLUMNS
    assert df.shape == (4, len(SWEEP_COLUMNS))
    assert sorted(zip(df["temperature"], df["sample"])) == [(0.5, 0), (0.5, 1), (1.2, 0), (1.2, 1)]
    assert df["text"].str.len().eq(80).all()
    at_low = df[df["temperature"] == 0.5]["text"].tolist()
    assert at_low[0] != at_low[1]  # another seed per sample: not the same poem twice
    assert df["bits_per_char"].gt(0).all() and df["distinct_2"].between(0, 1).all()
    assert df["real_word_share"].between(0, 1).all() and df["copied_4gram_share"].notna().all()

    fig = sweep_figure(df).to_dict()
    names = [t["name"] for t in fig["data"]]
    assert len(names) == 3 * len(SWEEP_METRICS)
    assert names[:3] == ["bits per character lowest", "bits per character range", "bits per character mean"]
    mean = fig["data"][2]
    assert list(mean["x"]) == [0.5, 1.2]
    assert mean["y"][0] == pytest.approx(df[df["temperature"] == 0.5]["bits_per_char"].mean())
    assert fig["data"][1]["fill"] == "tonexty"

    no_index = sweep(tiny_bundle.model, tiny_bundle.vocab, temperatures=(0.5,), samples_per_temperature=1, chars=30)
    assert no_index["copied_4gram_share"].isna().all()
    notes = [a["text"] for a in sweep_figure(no_index).to_dict()["layout"]["annotations"]]
    assert "not available" in notes
    assert "Run a sweep" in sweep_figure(no_index.iloc[0:0]).to_dict()["layout"]["annotations"][-1]["text"]


def test_sweep_rejects_bad_settings(tiny_bundle):
    from poetry_lab.errors import PoetryLabError

    with pytest.raises(PoetryLabError):
        sweep(tiny_bundle.model, tiny_bundle.vocab, samples_per_temperature=0)
    with pytest.raises(PoetryLabError):
        sweep(tiny_bundle.model, tiny_bundle.vocab, temperatures=(9.0,), samples_per_temperature=1, chars=10)


def test_cli_analyse_json(tmp_path, capsys):
    from test_poetics import LIMERICK, SONNET_18

    path = tmp_path / "poems.txt"
    path.write_text(SONNET_18 + "\n\n" + LIMERICK + "\n", encoding="utf-8")
    assert main(["analyse", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["rhyme_scheme"] for p in data] == ["ABABCDCDEFEFGG", "AABBA"]
    assert data[0]["syllables_per_line"] == [10] * 14 and data[0]["metre"] == "iambic pentameter"
    assert {"text", "syllables", "stress", "unknown_words", "end_word"} <= set(data[0]["lines"][0])
    assert main(["analyse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rhyme ABABCDCDEFEFGG" in out and "iambic pentameter" in out


def test_cli_analyse_missing_file(tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_cli_sweep_writes_html_and_csv(tmp_path, tiny_model_path, capsys):
    from conftest import POEM_TEXT

    corpus = tmp_path / "poems.txt"
    corpus.write_text(POEM_TEXT, encoding="utf-8")
    out = tmp_path / "sweep"
    code = main(["sweep", str(tiny_model_path), "--temperatures", "0.5,1.0", "--samples", "2", "--chars", "40",
                 "--corpus", str(corpus), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    lines = (out / "sweep.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(SWEEP_COLUMNS)
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert "plotly" in html and len(html) > 1_000_000  # plotly.js inlined: works offline
    assert main(["sweep", str(tiny_model_path), "--samples", "0", "--out", str(out)]) == 2
