"""Training the word-level writer (benchmarks/word_writer.py): a tiny run end to end on the Sonnets,
resumed, shipped beside a model file and writing a quatrain there."""

from __future__ import annotations

import json

import pytest

from benchmarks.word_writer import load, main
from poetry_lab.analysis.poetics import scan_line
from poetry_lab.compose import ComposeConfig, Composer
from poetry_lab.core.checkpoint import load_model, save_model


def test_a_tiny_word_writer_trains_resumes_ships_and_writes_in_form(tmp_path, capsys, tiny_bundle):
    data = tmp_path / "w"
    main(["prep", "--data", str(data), "--corpus", "sonnets", "--vocab", "3000", "--val-chars", "5000"])
    main(["train", "--data", str(data), "--hidden", "48", "--emb", "32", "--max-steps", "30", "--minutes", "5", "--lr", "1e-2",
          "--bptt", "16", "--batch", "8", "--val-tokens", "500"])
    model, vocab, facts = load(data / "word.safetensors")
    assert facts["step"] <= 30 and facts["val_ppl"] < 3000 and len(vocab) <= 3000
    main(["train", "--data", str(data), "--hidden", "48", "--emb", "32", "--max-steps", "40", "--minutes", "5", "--lr", "1e-2",
          "--bptt", "16", "--batch", "8", "--val-tokens", "500"])  # goes on from the resume checkpoint
    assert "resumed at step 30" in capsys.readouterr().out
    assert load(data / "word.safetensors")[2]["step"] in (30, 40)  # the best of the two evaluations
    shipped = tmp_path / "base" / "writer.safetensors"
    shipped.parent.mkdir()
    main(["ship", str(data / "word.safetensors"), "--out", str(shipped)])
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert card["training"]["step"] in (30, 40) and card["bytes"] == shipped.stat().st_size
    save_model(shipped.parent / "model.safetensors", tiny_bundle)
    again = tmp_path / "w2"  # a fresh folder (no resume checkpoint): training goes on from the shipped writer
    main(["prep", "--data", str(again), "--corpus", "sonnets", "--vocab", "3000", "--val-chars", "5000"])
    main(["train", "--data", str(again), "--hidden", "48", "--emb", "32", "--max-steps", "5", "--minutes", "5", "--lr", "1e-3",
          "--bptt", "16", "--batch", "8", "--val-tokens", "500", "--init", str(shipped)])
    out = capsys.readouterr().out
    assert f"from {shipped}" in out and "reading on at" in out
    went_on = load(again / "word.safetensors")[2]
    assert went_on["continued_from"]["step"] == card["training"]["step"] and went_on["val_ppl"] < 1.5 * card["training"]["val_ppl"]
    (again / "word.resume.pt").unlink()
    with pytest.raises(SystemExit, match="another vocabulary or shape"):  # a writer of another shape is refused
        main(["train", "--data", str(again), "--hidden", "64", "--emb", "32", "--max-steps", "1", "--init", str(shipped)])
    poem = Composer(load_model(shipped.parent / "model.safetensors", device="cpu")).compose(
        ComposeConfig(form="quatrain", seed=1, candidates=8))
    assert poem.writer == "words" and poem.lines[3].text[-1] in ".!?"
    assert all(7 <= scan_line(line.text, "iambic tetrameter")[0] <= 9 for line in poem.lines), poem.text
    main(["finetune", "--data", str(data), "--corpus", "sonnets", "--seconds", "1", "--out", str(tmp_path / "ft.safetensors")])
    assert load(tmp_path / "ft.safetensors")[2]["finetune_steps"] > 0
    main(["finetune", "--data", str(data), "--corpus", "sonnets", "--seconds", "1", "--decay", "--batch", "4", "--lr", "3e-4",
          "--out", str(tmp_path / "decayed.safetensors")])
    decayed = load(tmp_path / "decayed.safetensors")[2]
    assert decayed["finetune_decay"] and decayed["finetune_batch"] == 4 and decayed["finetune_lr"] == 3e-4 and decayed["finetune_steps"] > 0
    main(["transfer", "--data", str(data), "--corpus", "sonnets", "--finetune-s", "1", "--scratch-s", "1"])
    numbers = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"base", "finetuned_1s", "scratch_1s"} <= numbers.keys() and numbers["finetune_steps"] > 0
    main(["finetune", "--data", str(data), "--corpus", "sonnets", "--seconds", "1", "--plan", "--out", str(tmp_path / "plan.safetensors")])
    planner, _, planner_facts = load(tmp_path / "plan.safetensors")
    assert planner.config.plans and planner_facts["plans"] and not load(tmp_path / "ft.safetensors")[0].config.plans
    main(["transfer", "--data", str(data), "--model", str(tmp_path / "plan.safetensors"), "--corpus", "sonnets", "--finetune-s", "1",
          "--scratch-s", "1"])
    planned_numbers = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert planned_numbers["val_chars"] == numbers["val_chars"] and planned_numbers["val_tokens"] > numbers["val_tokens"]
    main(["heldout", str(tmp_path / "ft.safetensors"), str(tmp_path / "plan.safetensors"), "--corpus", "sonnets", "--chars", "3000"])
    per_char = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert per_char["chars"] <= 3000 and all(0 < per_char[str(tmp_path / f)] < 20 for f in ("ft.safetensors", "plan.safetensors"))
    parts = tmp_path / "parts"
    parts.mkdir()
    main(["split", str(data / "word.safetensors"), "--out", str(parts)])
    main(["join", *map(str, sorted(parts.iterdir())), "--out", str(tmp_path / "joined.safetensors")])
    joined, _, joined_facts = load(tmp_path / "joined.safetensors")
    assert joined_facts == facts or joined_facts["step"] in (30, 40)
    for a, b in zip(load(data / "word.safetensors")[0].state_dict().values(), joined.state_dict().values()):
        assert (a - b).abs().max() < 1e-2  # half precision on the way


def test_the_verse_in_measure_is_runs_of_lines_of_nine_to_eleven_syllables(tmp_path):
    import gzip

    from poetry_lab.compose import load_lexicon
    from poetry_lab.data.text import words

    out = tmp_path / "m.txt.gz"
    main(["metred", "--out", str(out), "--corpus", "milton", "--val-chars", "20000"])
    blocks = gzip.open(out, "rt", encoding="utf-8").read().strip().split("\n\n")
    info = load_lexicon().info
    assert len(blocks) > 20
    for block in blocks:
        lines = block.split("\n")
        assert len(lines) >= 4
        for line in lines:
            assert 9 <= sum(info[w].syllables for w in words(line.replace("’", "'"))) <= 11, line


def test_rhymed_verse_in_measure_keeps_only_lines_that_rhyme_with_a_neighbour(tmp_path):
    import gzip

    from poetry_lab.analysis.poetics import FULL_RHYME, rhyme_strength
    from poetry_lab.data.text import words

    main(["metred", "--out", str(tmp_path / "all.txt.gz"), "--corpus", "sonnets", "--val-chars", "20000"])
    main(["metred", "--rhymed", "--out", str(tmp_path / "r.txt.gz"), "--corpus", "sonnets", "--val-chars", "20000"])
    runs = [b.split("\n") for b in gzip.open(tmp_path / "all.txt.gz", "rt", encoding="utf-8").read().strip().split("\n\n")]
    blocks = [b.split("\n") for b in gzip.open(tmp_path / "r.txt.gz", "rt", encoding="utf-8").read().strip().split("\n\n")]
    neighbours = {}  # each line in measure -> the lines one or two away in its run
    for run in runs:
        for i, line in enumerate(run):
            neighbours[line] = [run[j] for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < len(run)]
    kept = [line for block in blocks for line in block]
    # the runs in measure break where a line is not (one known word short of it, "thy self thy foe, to thy sweet self too
    # cruel"), so a rhyme's partner is often gone: about 40% of the lines stay
    assert set(kept) < set(neighbours) and len(kept) > 0.25 * len(neighbours)
    assert all(len(block) >= 4 for block in blocks)

    def end(line):
        return words(line.replace("’", "'"))[-1]

    for line in kept:
        assert any(end(n) != end(line) and rhyme_strength(end(n), end(line)) == FULL_RHYME for n in neighbours[line]), line


def test_a_sonnets_quatrains_rhyme_abab_and_end_a_sentence(tmp_path):
    import gzip

    from poetry_lab.analysis.poetics import FULL_RHYME, rhyme_strength
    from poetry_lab.data.text import words

    main(["metred", "--quatrains", "--out", str(tmp_path / "q.txt.gz"), "--corpus", "sonnets", "--val-chars", "20000"])
    main(["metred", "--quatrains", "--heldout", "--out", str(tmp_path / "qh.txt.gz"), "--corpus", "sonnets", "--val-chars", "20000"])
    blocks = [b.split("\n") for b in gzip.open(tmp_path / "q.txt.gz", "rt", encoding="utf-8").read().strip().split("\n\n")]
    tail = gzip.open(tmp_path / "qh.txt.gz", "rt", encoding="utf-8").read()
    assert len(blocks) > 10 and tail.strip() and not set(tail.split("\n")) & {line for b in blocks for line in b} - {""}

    def rhyme(a, b):
        a, b = (words(x.replace("’", "'"))[-1] for x in (a, b))
        return a != b and rhyme_strength(a, b) == FULL_RHYME

    for block in blocks:
        assert len(block) % 4 == 0, block
        for i in range(0, len(block), 4):
            q = block[i : i + 4]
            assert rhyme(q[0], q[2]) and rhyme(q[1], q[3]) and not rhyme(q[0], q[1]) and q[3].rstrip()[-1] in ".!?", q
