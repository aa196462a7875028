"""The subject-identification benchmark (benchmarks/bench_subject.py): items that give nothing away, the
poem's own subject among four, and accuracy computed right from hand-written answers."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.bench_readability import compose_quatrain, load_writers, parse_writer
from benchmarks.bench_subject import INSTRUCTIONS, LETTERS, build, main, named_subject, named_subjects, read_answers, score

WRITER = "zetawriter=pretrained/base_forward.safetensors"  # a name no poem or subject could hold


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("subject")
    key = build([WRITER], 4, ["sonnets"], 4, out, form="quatrain", seed=5)
    return out, key


def test_named_subjects_are_fixed_and_cycle():
    subjects = named_subjects()
    assert len(subjects) >= 24 and len(set(subjects)) == len(subjects) and not any(s.startswith("#") for s in subjects)
    assert named_subject(1) == subjects[0] and named_subject(len(subjects) + 2) == subjects[1]


def test_each_item_is_a_poem_on_one_of_its_four_subjects(run):
    out, key = run
    assert [e["kind"] for e in key].count("named") == 4 and [e["kind"] for e in key].count("theme") == 4
    themes = json.loads((out / "themes.json").read_text(encoding="utf-8"))["sonnets"]
    for e in key:
        assert len(e["choices"]) == 4 and len(set(e["choices"])) == 4
        assert e["choices"][LETTERS.index(e["answer"])] == e["subject"]
        pool = themes if e["kind"] == "theme" else named_subjects()[:4]
        assert set(e["choices"]) <= set(pool)  # distractors from the same list: a poet's own themes, or the named ones
        assert len(e["poem"].splitlines()) == 4 and 0 <= e["lines_with_related"] <= 1
    assert sum(e["lines_with_related"] for e in key) / len(key) > 0.5  # the writer leaned to the subjects


def test_the_items_file_says_nothing_of_writer_kind_or_answer(run):
    out, key = run
    text = (out / "items.md").read_text(encoding="utf-8")
    assert text.startswith(INSTRUCTIONS)
    body = text[len(INSTRUCTIONS):]
    assert "zetawriter" not in body and "sonnets" not in body.lower() and "theme" not in body.lower()
    assert len(re.findall(r"^## Item \d+$", body, re.M)) == len(key)
    for e in key:
        assert e["poem"] in body


def test_hand_written_answers_give_the_right_accuracy(run, capsys):
    out, key = run
    right = out / "right.csv"
    right.write_text("item,subject\n" + "".join(f"{e['item']},{e['answer']}\n" for e in key), encoding="utf-8")
    wrong = out / "wrong.csv"  # every named item wrong, every theme right; one bad row, one item twice
    rows = [f"{e['item']},{LETTERS[(LETTERS.index(e['answer']) + 1) % 4] if e['kind'] == 'named' else e['answer'].lower()}"
            for e in key]
    wrong.write_text("```\n" + "\n".join(rows) + f"\n{key[0]['item']},A\nnot a row\n```\n", encoding="utf-8")
    report = score(out, [right, wrong])
    right_cells, wrong_cells = report["readers"]["right"]["cells"], report["readers"]["wrong"]["cells"]
    assert right_cells["zetawriter/named"]["accuracy"] == 1.0 and right_cells["zetawriter/theme"]["accuracy"] == 1.0
    assert wrong_cells["zetawriter/named"]["accuracy"] == 0.0 and wrong_cells["zetawriter/theme:sonnets"]["accuracy"] == 1.0
    assert report["mean"]["zetawriter/named"] == 0.5 and len(report["readers"]["wrong"]["problems"]) == 2
    main(["score", "--run", str(out), "--answers", str(right), str(wrong)])
    assert "| zetawriter | named | 4 | 0.500 |" in capsys.readouterr().out


def test_items_not_answered_count_as_missed(run):
    out, key = run
    half = out / "half.csv"
    half.write_text("".join(f"{e['item']},{e['answer']}\n" for e in key if e["kind"] == "theme"), encoding="utf-8")
    assert read_answers(half.read_text(), {e["item"] for e in key}).picks.keys() == {e["item"] for e in key if e["kind"] == "theme"}
    report = score(out, [half])
    assert report["readers"]["half"]["cells"]["zetawriter/named"]["accuracy"] == 0.0
    assert len(report["readers"]["half"]["missing_items"]) == 4


def test_readability_pairs_can_each_be_on_their_named_subject():
    (writer,) = load_writers([parse_writer("w=pretrained/base_forward.safetensors@about=@named,form=quatrain")], base_copies=False)
    poem, _ = compose_quatrain(writer, "sonnet", 0.8, 2)
    assert poem.about == named_subject(2) and poem.form == "quatrain"
