"""The word-intrusion benchmark (benchmarks/bench_intrusion.py): items that give nothing away, and
precision computed right from hand-written answers, bad rows counted (no fitting: milliseconds)."""

from __future__ import annotations

import json
import random

import pytest

from benchmarks.bench_intrusion import CHANCE, INSTRUCTIONS, Item, items_text, main, read_answers, score, theme_items
from poetry_lab.errors import PoetryLabError

# Corpus and method names no theme word could be, so finding one in the items file means it gives it away.
THEMES = [["sea", "ship", "wave", "tide", "salt", "shore"],
          ["rose", "garden", "bloom", "petal", "lily", "summer"],
          ["sword", "battle", "war", "soldier", "shield", "spear"]]


def test_each_theme_gives_its_five_words_and_one_top_word_of_another_theme():
    items = theme_items("zetacorpus", "kappamethod", THEMES, random.Random(0))
    assert len(items) == 3
    for item in items:
        own = THEMES[item.theme]
        assert len(item.words) == 6 and set(item.words) == set(own[:5]) | {item.intruder}
        assert item.intruder_theme != item.theme and item.intruder in THEMES[item.intruder_theme]
        assert item.intruder not in own
    again = theme_items("zetacorpus", "kappamethod", THEMES, random.Random(0))
    assert again == items  # seeded
    assert any(list(i.words[:5]) != THEMES[i.theme][:5] for i in items)  # shuffled, not the theme's order


def test_a_theme_with_fewer_than_five_words_gives_no_item():
    assert [i.theme for i in theme_items("c", "m", [THEMES[0], ["one", "two"], THEMES[2]], random.Random(1))] == [0, 2]


def test_the_intruder_is_never_one_of_the_themes_own_words():
    shared = [["a1", "a2", "a3", "a4", "a5", "b1"], ["b1", "a1", "b2", "b3", "b4", "b5"]]
    for seed in range(20):
        for item in theme_items("c", "m", shared, random.Random(seed)):
            assert item.intruder not in shared[item.theme] and len(set(item.words)) == 6


@pytest.fixture
def run(tmp_path):
    """A run folder as build writes it, from hand-made themes (no fitting)."""
    items = theme_items("zetacorpus", "kappamethod", THEMES, random.Random(3))
    items += theme_items("zetacorpus", "lambdamethod", THEMES[::-1], random.Random(4))
    key = [{"item": n, "corpus": i.corpus, "method": i.method, "theme": i.theme, "words": list(i.words),
            "intruder": i.intruder, "intruder_theme": i.intruder_theme} for n, i in enumerate(items, 1)]
    (tmp_path / "items.md").write_text(items_text(items), encoding="utf-8")
    (tmp_path / "key.json").write_text(json.dumps({"seed": 3, "n_themes": 3, "items": key}), encoding="utf-8")
    return tmp_path, key


def test_the_items_file_holds_nothing_but_the_instructions_and_the_six_words(run):
    folder, key = run
    text = (folder / "items.md").read_text(encoding="utf-8")
    assert text.startswith(INSTRUCTIONS)
    body = text[len(INSTRUCTIONS):].strip().splitlines()
    assert body == [f"Item {e['item']}: {', '.join(e['words'])}" for e in key]
    for secret in ("zetacorpus", "kappamethod", "lambdamethod", "intruder_theme", "theme "):
        assert secret not in text.lower()
    assert "intruder" not in text.lower().replace("`item,intruder`", "")


def _answers(key, correct: set[int]) -> str:
    """A reader who picks the intruder on the items in `correct` and a theme word elsewhere."""
    rows = [f"{e['item']},{e['intruder'] if e['item'] in correct else next(w for w in e['words'] if w != e['intruder'])}"
            for e in key]
    return "item,intruder\n" + "\n".join(rows) + "\n"


def test_hand_written_answers_give_the_right_precision(run, capsys):
    folder, key = run
    kappa = [e["item"] for e in key if e["method"] == "kappamethod"]
    lam = [e["item"] for e in key if e["method"] == "lambdamethod"]
    (folder / "ann.csv").write_text(_answers(key, set(kappa) | set(lam[:1])), encoding="utf-8")  # 3/3, 1/3
    (folder / "bob.csv").write_text(_answers(key, set(kappa[:1])), encoding="utf-8")  # 1/3, 0/3
    main(["score", "--run", str(folder), "--answers", str(folder / "ann.csv"), str(folder / "bob.csv")])
    report = json.loads((folder / "score.json").read_text(encoding="utf-8"))
    ann, bob = (report["readers"][n]["cells"] for n in ("ann", "bob"))
    assert ann["zetacorpus/kappamethod"] == {"items": 3, "answered": 3, "correct": 3, "precision": 1.0}
    assert ann["zetacorpus/lambdamethod"]["precision"] == 0.333 and bob["zetacorpus/kappamethod"]["precision"] == 0.333
    assert bob["zetacorpus/lambdamethod"]["correct"] == 0
    assert report["mean"] == {"zetacorpus/kappamethod": 0.667, "zetacorpus/lambdamethod": 0.167}
    assert report["chance"] == round(CHANCE, 3) == 0.167
    assert "| zetacorpus | kappamethod | 3 | 0.667 |" in capsys.readouterr().out
    assert (folder / "score.md").is_file()


def test_answers_are_read_through_fences_spaces_and_case_and_bad_rows_are_counted(run):
    _, key = run
    words = {e["item"]: e["words"] for e in key}
    first, second, third = key[0], key[1], key[2]
    text = "\n".join([
        "Here are my answers:", "```csv", " Item , Intruder ",
        f"  Item {first['item']} :  {first['intruder'].upper()}  ",  # 'Item N:', spaces, capitals
        f"{second['item']}, \"{second['intruder']}\"",  # quoted
        f"{third['item']},notaword",  # not one of the item's words
        f"{first['item']},{first['words'][0]}",  # the same item again: the first answer stays
        f"99,{first['intruder']}",  # no such item
        "what?",  # not a row
        "```"])
    answers = read_answers(text, words)
    assert answers.picks == {first["item"]: first["intruder"], second["item"]: second["intruder"]}
    assert len(answers.problems) == 5  # the prose line above the fence, notaword, the repeat, item 99, 'what?'
    assert sum("again" in p for p in answers.problems) == 1 and sum("no item 99" in p for p in answers.problems) == 1


def test_items_not_answered_count_as_missed(run):
    folder, key = run
    (folder / "cara.csv").write_text(f"{key[0]['item']},{key[0]['intruder']}\n", encoding="utf-8")
    report = score(folder, [folder / "cara.csv"])
    cell = report["readers"]["cara"]["cells"][f"{key[0]['corpus']}/{key[0]['method']}"]
    assert cell["answered"] == 1 and cell["correct"] == 1 and cell["precision"] == round(1 / 3, 3)
    assert len(report["readers"]["cara"]["missing_items"]) == len(key) - 1


def test_a_missing_answers_file_is_a_plain_error(run):
    folder, _ = run
    with pytest.raises(PoetryLabError, match="Not found"):
        score(folder, [folder / "nobody.csv"])


def test_an_item_is_a_plain_record():
    item = Item("c", "m", 0, ("a", "b", "c", "d", "e", "f"), "f", 1)
    assert items_text([item]).endswith("Item 1: a, b, c, d, e, f\n")
