"""The benchmark suite's reimplementation of the tutorials' method, and its two sections in tiny mode."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import requires_shared

from benchmarks.suite.common import Context
from benchmarks.suite.tutorial_method import (
    TutorialConfig,
    TutorialTrainer,
    build_tutorial_model,
    by_mode,
    char_table,
    encode,
    gather_windows,
    generate,
    time_to_reach,
    val_targets,
    window_loss,
    window_starts,
)

SMALL = {"window": 4, "hidden": 8}


def test_windows_follow_the_slides():
    # range(0, n_chars - seq_length, step): the last window's target is the text's last character
    assert window_starts(10, 3).tolist() == list(range(7))
    assert window_starts(10, 3, step=3).tolist() == [0, 3, 6]
    assert window_starts(3, 3).tolist() == []
    ids = torch.arange(100, 110)
    x, y = gather_windows(ids, torch.tensor([0, 6]), 3)
    assert x.tolist() == [[100, 101, 102], [106, 107, 108]]
    assert y.tolist() == [103, 109]


def test_vocabulary_is_the_sorted_characters():
    chars = char_table("hello, world")
    assert chars == sorted(set("hello, world"))
    assert "".join(chars[i] for i in encode("world", chars)) == "world"


def test_inputs_as_the_tutorials_fed_them():
    idx = torch.tensor([[0, 1, 4], [2, 3, 3]])
    scaled = build_tutorial_model(5, TutorialConfig(inputs="scaled", **SMALL)).encode_inputs(idx)
    assert scaled.shape == (2, 3, 1)
    assert torch.allclose(scaled[..., 0], idx.float() / 5)  # X / float(n_vocab)
    onehot = build_tutorial_model(5, TutorialConfig(inputs="onehot", **SMALL))
    assert onehot.lstm.input_size == 5
    assert torch.equal(onehot.encode_inputs(idx).argmax(-1), idx)
    with pytest.raises(ValueError):
        TutorialConfig(inputs="embedding")


def test_keras_initialisation():
    cfg = TutorialConfig(hidden=16)
    model = build_tutorial_model(7, cfg)
    H = cfg.hidden
    assert torch.equal(model.lstm.bias_ih_l0[H : 2 * H], torch.ones(H))  # unit_forget_bias
    assert model.lstm.bias_ih_l0[:H].abs().sum() == 0 and model.lstm.bias_hh_l0.abs().sum() == 0
    w_hh = model.lstm.weight_hh_l0  # (4H, H): orthonormal columns
    assert torch.allclose(w_hh.t() @ w_hh, torch.eye(H), atol=1e-5)
    assert model.lstm.weight_ih_l0.abs().max() <= math.sqrt(6 / (1 + 4 * H))
    assert model.head.bias.abs().sum() == 0
    again = build_tutorial_model(7, cfg)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_window_loss_is_the_mean_over_targets():
    torch.manual_seed(0)
    model = build_tutorial_model(6, TutorialConfig(**SMALL))
    ids = torch.randint(0, 6, (40,))
    targets = val_targets(40, 30, window=4)
    assert targets.tolist() == list(range(30, 40))
    model.eval()
    with torch.no_grad():
        direct = [F.cross_entropy(model(ids[t - 4 : t].unsqueeze(0)), ids[t : t + 1]).item() for t in targets]
    assert window_loss(model, ids, targets, batch=3) == pytest.approx(np.mean(direct), rel=1e-5)
    assert model.training is False  # restored as it was


def test_val_targets_sample_is_evenly_spread():
    positions = val_targets(1000, 900, window=100, sample=11)
    assert positions[0] == 900 and positions[-1] == 999 and len(positions) == 11
    assert np.all(np.diff(positions) > 0)
    assert val_targets(150, 50, window=100).tolist() == list(range(100, 150))  # context needs 100 chars


def test_trainer_learns_a_repeating_text_and_is_repeatable():
    ids = torch.tensor([0, 1, 2, 3] * 60)
    cfg = TutorialConfig(window=4, hidden=16, lr=0.02, batch_size=16, dropout=0.0)

    def losses():
        trainer = TutorialTrainer(build_tutorial_model(4, cfg), ids, cfg)
        return [trainer.step() for _ in range(60)], trainer

    first, trainer = losses()
    assert first[-1] < 0.3 * first[0]
    assert losses()[0] == first  # explicit generators: the same seed, the same run
    # 236 windows: 14 batches of 16 and a last one of 12 (kept, as Keras does): 60 steps are 4 epochs
    assert len(trainer.starts) == 236 and trainer.targets_seen == 4 * 236 and trainer.epochs == 4.0
    steps = trainer.steps
    trainer.train_for(0.0)  # at least one step, and the clock moves
    assert trainer.steps == steps + 1 and trainer.train_seconds > 0


def test_generation_reads_the_whole_window_every_time():
    model = build_tutorial_model(5, TutorialConfig(**SMALL))
    seed = [0, 1, 2, 3, 4, 0]  # longer than the window: only the last 4 count
    out = generate(model, seed, 6, temperature=0)
    window, expected = seed[-4:], []
    with torch.no_grad():
        for _ in range(6):
            nxt = int(model(torch.tensor([window])).argmax())
            expected.append(nxt)
            window = window[1:] + [nxt]
    assert out == expected
    a = generate(model, seed, 20, 1.0, torch.Generator().manual_seed(3))
    b = generate(model, seed, 20, 1.0, torch.Generator().manual_seed(3))
    assert a == b and len(a) == 20 and set(a) <= set(range(5))


def test_time_to_reach_interpolates():
    curve = [(0.0, 4.0), (1.0, 3.0), (3.0, 2.0)]
    assert time_to_reach(curve, 2.5) == (pytest.approx(2.0), True)
    assert time_to_reach(curve, 3.0) == (pytest.approx(1.0), True)
    assert time_to_reach(curve, 1.0) == (None, False)
    assert time_to_reach(curve, 5.0) == (0.0, False)  # already below at the first point: a bound
    assert time_to_reach([], 1.0) == (None, False)


def test_by_mode():
    assert [by_mode(m, 1, 2, 3) for m in ("tiny", "quick", "full")] == [1, 2, 3]


def _tiny_context(tmp_path) -> Context:
    requires_shared("alice.txt")
    return Context(mode="tiny", out_dir=tmp_path, threads=1)


def test_tutorial_section_tiny(tmp_path):
    from benchmarks.suite import tutorial

    section = tutorial.run(_tiny_context(tmp_path))
    assert section.key == "tutorial" and section.title == tutorial.TITLE
    sides = {d["side"]: d for d in section.data["sides"]}
    assert list(sides) == ["scaled", "poetry_lab", "onehot"]
    for d in sides.values():
        times = [t for t, _, _ in d["curve"]]
        assert times == sorted(times) and times[0] == 0.0
        assert d["best_val"] <= d["final_val"] and d["steps"] >= 1 and d["gflops_before"] > 0
    pl = sides["poetry_lab"]
    assert pl["curve"][1][2] == 1  # evaluated right after its first step
    assert pl["train_s"] >= tutorial.settings_for("tiny").budget_s  # evaluations did not eat its budget
    assert pl["best_val"] < pl["curve"][0][1]  # it learnt something
    for r in section.data["ratios"]:
        assert r["ratio"] is None or r["ratio"] > 0
    assert section.targets[0].goal == 30
    assert len(section.figures["tutorial_loss"].to_dict()["data"]) == 3
    assert "Poetry Lab" in section.markdown and "| side |" in section.markdown
    json.dumps(section.data)


def test_generation_section_tiny(tmp_path):
    from benchmarks.suite import generation

    section = generation.run(_tiny_context(tmp_path))
    lengths = generation.settings_for("tiny").lengths
    results = section.data["results"]
    for n in lengths:
        assert results["tutorial"][str(n)]["chars"] == n
        assert results["batch1"][str(n)]["chars"] == n
        assert results["batch5"][str(n)]["chars"] == len(generation.TEMPERATURES) * n
        assert results["same1"][str(n)]["chars"] == n
        assert results["same5"][str(n)]["chars"] == len(generation.TEMPERATURES) * n
        assert section.data["ratios"][str(n)]["batch1"] > 0
    assert section.data["models"]["tutorial"]["hidden"] == 256 == section.data["models"]["same_size"]["hidden"]
    assert section.targets[0].measured == pytest.approx(section.data["ratios"][str(max(lengths))]["batch1"], rel=1e-2)
    assert len(section.figures["generation_speed"].to_dict()["data"]) == len(generation.SIDES) == 5
    json.dumps(section.data)
