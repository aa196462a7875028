"""The blind readability benchmark (benchmarks/bench_readability.py): writer specs, the shipped human
quatrains, an items file that gives nothing away, and scores computed from hand-written answers."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO_ROOT
from threadpoolctl import threadpool_limits

from benchmarks.bench_readability import (
    HUMAN_QUATRAINS,
    SIDES,
    Answer,
    Answers,
    build,
    compose_fields,
    main,
    paired_differences,
    parse_value,
    parse_writer,
    read_answers,
    read_human_quatrains,
    speech_marks,
)
from benchmarks.make_human_quatrains import NAMES, letters
from poetry_lab.errors import PoetryLabError

BASE = "pretrained/base_forward.safetensors"
# Names no poem here would contain, so finding one in the items file means the file gives it away.
WRITERS = ("zetawriter", "kapparaw")
HEADER = "pair,human,readability_A,readability_B,quality_A,quality_B"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real build: 2 sonnet quatrains each from the shipped base, in form and as plain sampling (a few seconds)."""
    out = tmp_path_factory.mktemp("readability")
    specs = [parse_writer(f"{WRITERS[0]}={BASE}"), parse_writer(f"{WRITERS[1]}={BASE}@raw=true")]
    with threadpool_limits(1):
        key = build(specs, 2, out, seed=3)
    return out, key


def test_writer_spec_options_are_typed_by_composeconfig_fields():
    spec = parse_writer(f"w1={BASE}@raw=TRUE, candidates=8,temperature=1.0,form=quatrain,lines=none")
    assert (spec.name, spec.model) == ("w1", BASE)
    assert spec.options == {"raw": True, "candidates": 8, "temperature": 1.0, "form": "quatrain", "lines": None}
    assert [type(v) for v in spec.options.values()] == [bool, int, float, str, type(None)]
    assert parse_writer("tuned=finetune:sonnets:60").model == "finetune:sonnets:60"
    assert parse_writer(f"plain={BASE}").options == {}
    assert set(compose_fields()) >= {"form", "temperature", "candidates", "raw"}  # read from the dataclass itself


def test_writer_spec_errors_say_what_is_wrong():
    with pytest.raises(PoetryLabError, match="Unknown writer option 'width'") as e:
        parse_writer(f"w={BASE}@width=4")
    assert all(field in str(e.value) for field in ("form", "temperature", "candidates", "raw"))  # it lists the fields
    for bad, says in ((f"w={BASE}@raw=maybe", "true or false"), (f"w={BASE}@candidates=many", "needs a int"),
                      (f"w={BASE}@seed=3", "cannot set the seed"), (f"w={BASE}@given=x", "cannot be set"),
                      (f"w={BASE}@raw", "key=value"), (BASE, "NAME=MODEL"), ("w=finetune:sonnets", "finetune:CORPUS:SECONDS"),
                      ("w=finetune:sonnets:-1", "finetune:CORPUS:SECONDS")):
        with pytest.raises(PoetryLabError, match=says):
            parse_writer(bad)
    assert parse_value("x", int | None, "7") == 7 and parse_value("x", float, "0.5") == 0.5


def test_human_quatrains_are_four_lines_distinct_and_unread():
    humans = read_human_quatrains()
    assert len(humans) >= 150
    assert all(len(h.lines) == 4 and all(line.strip() for line in h.lines) for h in humans)
    assert len({h.lines for h in humans}) == len(humans) and len({h.source for h in humans}) == len(humans)
    assert {h.source.split(",")[0] for h in humans} == {"The Rape of Lucrece", "A Lover's Complaint"}
    sonnets = {letters(line) for line in (REPO_ROOT / "corpora" / "sonnets.txt").read_text(encoding="utf-8").splitlines()}
    assert not [line for h in humans for line in h.lines if letters(line) in sonnets]
    assert not [w for h in humans for line in h.lines for w in re.findall(r"[a-z]+", line.lower()) if w in NAMES]
    assert "sha256 f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be" in HUMAN_QUATRAINS.read_text(encoding="utf-8")
    assert 50 <= sum(not speech_marks(h) for h in humans) < len(humans)  # enough unmarked ones to draw first


def _items(text: str) -> dict[int, dict[str, str]]:
    """The items file read back: pair number -> side -> the quatrain's text."""
    out: dict[int, dict[str, str]] = {}
    for number, body in re.findall(r"^## Pair (\d+)\n(.*?)(?=^## Pair |\Z)", text, re.S | re.M):
        out[int(number)] = dict(re.findall(r"^([AB]):\n```\n(.*?)\n```", body, re.S | re.M))
    return out


def test_items_show_both_quatrains_and_nothing_that_tells_them_apart(run):
    out, key = run
    text = (out / "items.md").read_text(encoding="utf-8")
    lowered = text.lower()
    assert not [w for w in (*WRITERS, "poetry lab", "model", "machine", "writer", "generated", "lucrece", "complaint", "stanza")
                if w in lowered]
    assert not re.search(r"\bseeds?\W{0,3}\d", lowered)  # no seed number ("seed" itself is a word poems use)
    assert not re.search(r"human\W*[:=]\W*[ab]\b", lowered)  # no answer in the file
    assert HEADER in text and "1 = word salad, 2 = local phrases make sense but the lines do not" in text
    items = _items(text)
    assert sorted(items) == [1, 2, 3, 4] and [p["pair"] for p in key["pairs"]] == [1, 2, 3, 4]
    for p in key["pairs"]:
        other = "B" if p["human"] == "A" else "A"
        assert items[p["pair"]] == {p["human"]: p["human_text"], other: p["poetry_lab_text"]}  # each on the key's side
        assert p["poem_text"].startswith(p["poetry_lab_text"]) and len(p["poetry_lab_text"].splitlines()) == 4
        assert p["human_source"] not in text
    for writer in WRITERS:
        mine = [p for p in key["pairs"] if p["writer"] == writer]
        assert sorted(p["seed"] for p in mine) == [1, 2] and sorted(p["human"] for p in mine) == ["A", "B"]
    assert len({p["human_text"] for p in key["pairs"]}) == 4  # no human quatrain twice
    saved = json.loads((out / "key.json").read_text(encoding="utf-8"))
    assert saved["pairs"] == key["pairs"] and saved["writers"][WRITERS[1]]["options"] == {"raw": True}
    form = json.loads((out / "form.json").read_text(encoding="utf-8"))["writers"]
    assert form[WRITERS[0]]["true_rhyme"] == 1.0 and form[WRITERS[0]]["poems"] == 2  # the composer rhymes its quatrains
    assert form[WRITERS[1]]["true_rhyme"] < 1.0 and form[WRITERS[1]]["seconds"] < form[WRITERS[0]]["seconds"]


def _answers(key: dict, human_of, rate_machine: int = 2, rate_human: int = 5) -> list[str]:
    rows = []
    for p in key["pairs"]:
        r = {p["human"]: rate_human, ("B" if p["human"] == "A" else "A"): rate_machine}
        rows.append(f"{p['pair']},{human_of(p)},{r['A']},{r['B']},{r['A'] - 1},{r['B'] - 1}")
    return rows


def test_score_reads_tolerant_csvs_and_computes_per_writer_means(run, tmp_path, capsys):
    out, key = run
    right = tmp_path / "right.csv"  # fenced, spaced, lower-case sides, text above the header
    right.write_text("My answers:\n```csv\n " + HEADER.upper() + "\n" + "\n".join(
        " " + row.replace(",", " , ").replace("A", "a") for row in _answers(key, lambda p: p["human"])) + "\n```\n")
    always_a = tmp_path / "always_a.csv"
    always_a.write_text("\n".join([HEADER, *_answers(key, lambda p: "A", 3, 3)]) + "\n")
    sloppy = tmp_path / "sloppy.csv"
    first = _answers(key, lambda p: p["human"])[0]
    sloppy.write_text("\n".join([HEADER, first, first, "2,C,4,4,4,4", "9,A,1,1,1,1", "3,A,6,1,1,1", "4,A,1"]) + "\n")
    main(["score", "--run", str(out), "--answers", str(right), str(always_a), str(sloppy)])
    report = json.loads((out / "score.json").read_text())
    assert (out / "score.md").read_text().startswith("| writer | reader |") and "zetawriter" in capsys.readouterr().out
    for writer in WRITERS:
        good = report["readers"]["right"]["writers"][writer]
        assert good == {"readability": 2.0, "readability_human": 5.0, "quality": 1.0, "quality_human": 4.0,
                        "told_apart": 1.0, "answered": 2, "pairs": 2}
        assert report["readers"]["always_a"]["writers"][writer]["told_apart"] == 0.5  # the key puts the human on A half the time
        # the sloppy reader answered pair 1 only: it counts in that writer's mean and in no other
        expected = (1.0 + 0.5 + 1.0) / 3 if writer == key["pairs"][0]["writer"] else (1.0 + 0.5) / 2
        assert report["mean"][writer]["told_apart"] == pytest.approx(expected, abs=1e-3)
        assert report["mean"][writer]["readability"] == pytest.approx((2.0 + 3.0 + 2.0) / 3 if writer == key["pairs"][0]["writer"] else 2.5, abs=1e-3)
    assert report["readers"]["right"]["skipped_rows"] == 0 and report["readers"]["right"]["missing_pairs"] == []
    bad = report["readers"]["sloppy"]
    assert bad["skipped_rows"] == 5 and bad["missing_pairs"] == [2, 3, 4]  # a repeat, a C side, no pair 9, a 6, a short row
    assert sum(w["answered"] for w in bad["writers"].values()) == 1
    assert report["form"][WRITERS[0]]["true_rhyme"] == 1.0


def test_read_answers_without_a_header_and_with_pair_labels():
    answers = read_answers("Pair 1, b, 4, 2, 3, 1\n2,A,x,1,1,1\n\n", {1, 2})
    assert list(answers.rows) == [1] and answers.rows[1].human == "B" and answers.rows[1].readability == {"A": 4.0, "B": 2.0}
    assert len(answers.problems) == 1 and "line 2" in answers.problems[0]
    assert set(SIDES) == {"A", "B"}


def test_an_earlier_runs_writers_join_a_new_items_file_with_new_human_quatrains(run, tmp_path):
    earlier_out, earlier_key = run
    merged = build([], 0, tmp_path / "merged", seed=9, extra=(earlier_out,))
    assert set(merged["writers"]) == set(earlier_key["writers"])
    assert all(w["from_run"] == str(earlier_out) for w in merged["writers"].values())
    old = {(p["writer"], p["seed"]): p["poetry_lab_text"] for p in earlier_key["pairs"]}
    assert {(p["writer"], p["seed"]): p["poetry_lab_text"] for p in merged["pairs"]} == old
    humans = [p["human_text"] for p in merged["pairs"]]
    assert len(set(humans)) == len(humans)
    assert json.loads((tmp_path / "merged" / "form.json").read_text())["writers"].keys() == earlier_key["writers"].keys()
    with pytest.raises(PoetryLabError, match="own name"):
        build([parse_writer(f"{next(iter(earlier_key['writers']))}=pretrained/base_forward.safetensors")], 1,
              tmp_path / "clash", extra=(earlier_out,))


def test_a_second_pass_can_write_new_poems_from_a_later_seed(run, tmp_path):
    earlier_out, earlier_key = run
    with threadpool_limits(1):
        later = build([parse_writer(f"{WRITERS[1]}={BASE}@raw=true")], 2, tmp_path / "later", seed=3, first_seed=3)
    assert sorted(p["seed"] for p in later["pairs"]) == [3, 4]
    before = {p["seed"]: p["poetry_lab_text"] for p in earlier_key["pairs"] if p["writer"] == WRITERS[1]}
    assert sorted(before) == [1, 2] and not set(before.values()) & {p["poetry_lab_text"] for p in later["pairs"]}


def test_writers_are_compared_poem_by_poem_over_the_seeds_both_wrote():
    """x beats y by 1 on seed 1 and by 0.5 on seed 2 (one reader left seed 2 of x out), ties on seed 3; z wrote seed 1 only."""
    pairs = [{"pair": n, "writer": w, "seed": s, "human": "A"} for n, (w, s) in
             enumerate([("x", 1), ("y", 1), ("x", 2), ("y", 2), ("x", 3), ("y", 3), ("z", 1)], 1)]
    ratings = [{1: 4, 2: 3, 3: 3, 4: 2, 5: 2, 6: 2, 7: 5}, {1: 4, 2: 3, 4: 3, 5: 3, 6: 3, 7: 5}]

    def answers(rated: dict[int, int]) -> Answers:
        return Answers({n: Answer(n, "A", {"A": 5.0, "B": float(r)}, {"A": 5.0, "B": 1.0}) for n, r in rated.items()}, [])

    found = paired_differences(pairs, [answers(r) for r in ratings])
    assert [d["writers"] for d in found] == [["x", "y"]]  # z shares one seed only: no standard error, no row
    x_y = found[0]
    # seed 1: 4 - 3; seed 2: x rated 3 by the one reader who saw it, y (2 + 3) / 2; seed 3: 2.5 - 2.5
    assert x_y["difference"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert x_y["standard_error"] == pytest.approx(0.5 / 3 ** 0.5, abs=1e-4)
    assert (x_y["seeds"], x_y["higher"], x_y["lower"], x_y["tied"]) == (3, 2, 0, 1)
