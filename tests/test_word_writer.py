"""The word-level writer experiment (benchmarks/word_writer.py): a tiny run end to end on the Sonnets,
and every quatrain it writes keeps the form: ten syllables a line, true ABAB rhymes, a closed sentence,
no line of its corpus."""

from __future__ import annotations

import json

from benchmarks.bench_compose import true_rhyme
from benchmarks.word_writer import line_key, load, main, read_corpus, shown
from poetry_lab.analysis.poetics import scan_line


def test_a_tiny_word_writer_trains_resumes_and_writes_in_form(tmp_path, capsys):
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
    out = tmp_path / "run"
    main(["write", "--data", str(data), "--corpus", "sonnets", "--pairs", "3", "--candidates", "16", "--out", str(out)])
    key = json.loads((out / "key.json").read_text())
    corpus = {line_key(ln) for ln in read_corpus("sonnets").split("\n")}
    assert key["pairs"], "no quatrain was written"
    for pair in key["pairs"]:
        lines = pair["poetry_lab_text"].split("\n")
        assert len(lines) == 4 and lines[3][-1] in ".!?"
        assert all(scan_line(ln, "iambic pentameter")[0] in (10, 11) for ln in lines), lines
        ends = [ln.rstrip(",.;:!?").split()[-1].lower() for ln in lines]
        assert true_rhyme(ends[0], ends[2]) and true_rhyme(ends[1], ends[3]), ends
        assert not any(line_key(ln) in corpus for ln in lines)
    main(["finetune", "--data", str(data), "--corpus", "sonnets", "--seconds", "1", "--out", str(tmp_path / "ft.safetensors")])
    assert load(tmp_path / "ft.safetensors")[2]["finetune_steps"] > 0
    main(["transfer", "--data", str(data), "--corpus", "sonnets", "--finetune-s", "1", "--scratch-s", "1"])
    numbers = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"base", "finetuned_1s", "scratch_1s"} <= numbers.keys() and numbers["finetune_steps"] > 0
    parts = tmp_path / "parts"
    parts.mkdir()
    main(["split", str(data / "word.safetensors"), "--out", str(parts)])
    main(["join", *map(str, sorted(parts.iterdir())), "--out", str(tmp_path / "joined.safetensors")])
    joined, _, joined_facts = load(tmp_path / "joined.safetensors")
    assert joined_facts == facts or joined_facts["step"] in (30, 40)
    for a, b in zip(load(data / "word.safetensors")[0].state_dict().values(), joined.state_dict().values()):
        assert (a - b).abs().max() < 1e-2  # half precision on the way
    assert shown(["i", "saw", "the", "sea", ".", "and", "i'll", "go"]) == "I saw the sea. And I'll go"
