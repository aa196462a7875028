"""The benchmark suite: the runner (with stub sections) and the sections' pure helpers. No real benchmark runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import types

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from benchmarks import run_suite
from benchmarks.suite import (
    common,
    growth,
    memory,
    presets,
    throughput,
    throughput_explore,
)
from benchmarks.suite.common import Context, Section, Target
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig
from poetry_lab.runs.presets import Preset


def stub(title: str, run):
    return types.SimpleNamespace(TITLE=title, run=run)


def good_section(ctx: Context) -> Section:
    fig = go.Figure(go.Bar(x=["a"], y=[1.0]))
    return Section("presets", "Good", "| a |\n|---|\n| 1 |", {"value": np.float64(1.5), "nan": float("nan")}, {"bars": fig},
                   [Target("speed", 2.0, 1.0), Target("loss", 3.0, 1.0, higher_is_better=False), Target("later", None, 1.0)])


def broken_section(ctx: Context) -> Section:
    raise ValueError("the section broke here")


def test_runner_reports_a_failed_section_runs_the_others_and_exits_non_zero(tmp_path):
    calls = []

    def loader(key):
        calls.append(key)
        return {"presets": stub("Good", good_section), "memory": stub("Broken", broken_section)}.get(key)

    code = run_suite.main(["--quick", "--threads", "1", "--out", str(tmp_path), "--only", "memory,presets,growth"], loader=loader)
    assert code == 1
    assert calls == ["presets", "memory", "growth"]  # the suite's order, whatever --only's
    report = (tmp_path / "report.md").read_text()
    assert "the section broke here" in report and "**Failed**" in report
    assert "does not exist yet" in report  # growth: no module
    assert "| presets | speed | 2 | ≥ 1 | **met** |" in report
    assert "| presets | loss | 3 | ≤ 1 | **missed** |" in report
    assert "| presets | later | not evaluated |" in report
    assert "[presets_bars.html](figures/presets_bars.html)" in report
    results = json.loads((tmp_path / "results.json").read_text())
    sections = results["sections"]
    assert [sections[k]["status"] for k in ("presets", "memory", "growth")] == ["ok", "failed", "skipped"]
    assert sections["presets"]["data"] == {"value": 1.5, "nan": None}
    assert results["mode"] == "quick" and "cpu" in results["machine"]
    html = (tmp_path / "figures" / "presets_bars.html").read_text()
    assert 'src="plotly.min.js"' in html and "cdn.plot.ly" not in html  # opens offline
    assert (tmp_path / "figures" / "plotly.min.js").stat().st_size > 100_000


def test_runner_exits_zero_when_every_section_runs_and_passes_results_on(tmp_path):
    seen = {}

    def later(ctx):
        seen.update(ctx.results)
        assert torch.get_num_threads() == 1
        return Section("memory", "Later", "text", {})

    loader = {"presets": stub("Good", good_section), "memory": stub("Later", later)}.get
    assert run_suite.main(["--full", "--threads", "1", "--out", str(tmp_path), "--only", "presets,memory"], loader=loader) == 0
    assert seen["presets"]["value"] == 1.5
    assert json.loads((tmp_path / "results.json").read_text())["mode"] == "full"


def test_runner_rejects_unknown_sections_and_skips_missing_modules():
    with pytest.raises(SystemExit):
        run_suite.parse_args(["--only", "presets,nosuch"])
    assert run_suite.load_section("no_such_section_here") is None
    assert run_suite.load_section("presets") is presets


def test_jsonable_makes_numpy_and_non_finite_values_safe():
    out = run_suite.jsonable({"a": np.arange(3), 1: (np.float32(0.5), math.inf), "p": common.ROOT})
    assert out == {"a": [0, 1, 2], "1": [0.5, None], "p": str(common.ROOT)}
    json.dumps(out, allow_nan=False)


def test_flops_per_char_counts_every_product_once():
    # LSTM E=64, H=256, V=66: 2*4H*(E+H) + 2*H*V
    assert throughput.flops_per_char(64, 256, 1, 66) == 2 * 1024 * 320 + 2 * 256 * 66
    for layers, cell in ((1, "lstm"), (2, "lstm"), (3, "gru")):
        shapes = throughput.matmul_shapes(32, 64, 64, 256, layers, 66, cell)
        assert sum(s["fpc"] for s in shapes) == throughput.flops_per_char(64, 256, layers, 66, cell)
    rec = throughput.matmul_shapes(32, 64, 64, 256, 1, 66)[0]
    assert (rec["m"], rec["k"], rec["n"]) == (32, 256, 1024)


def test_combined_peak_is_the_flop_weighted_harmonic_mean():
    assert throughput.combined_peak([1.0, 1.0], [100.0, 50.0]) == pytest.approx(2 / (1 / 100 + 1 / 50))
    assert throughput.combined_peak([3.0, 1.0], [80.0, 80.0]) == pytest.approx(80.0)
    assert throughput.combined_peak([9.0, 1.0], [100.0, 10.0]) == pytest.approx(10 / (0.09 + 0.1))


def test_matmul_rate_and_a_training_burst_measure_something():
    assert throughput.matmul_rate(64, 64, 64, seconds=0.02) > 0.01
    ids = np.tile(np.arange(10), 200)
    for cls in (None, throughput_explore.fused_adamw_trainer()):
        cps = throughput.train_burst({"hidden": 16, "emb_dim": 8}, {"batch_size": 4, "seq_len": 8}, ids, 10, 0.5, cls)
        assert math.isfinite(cps) and cps > 10  # 32 characters a step: any working burst passes this
    model = build_model(ModelConfig(vocab_size=10, hidden=8, emb_dim=4))
    trainer = throughput_explore.fused_adamw_trainer()(model, ids, None, TrainConfig(batch_size=4, seq_len=8, max_steps=1))
    assert trainer._optimizer().defaults["fused"] is True


def test_fit_exponent_and_its_words():
    xs = [10, 100, 1000, 10000]
    b, a = growth.fit_exponent(xs, [3 * x**1.5 for x in xs])
    assert b == pytest.approx(1.5) and a == pytest.approx(3.0)
    assert growth.describe_growth(1.04) == "linear (exponent 1.04)"
    assert growth.describe_growth(0.7).startswith("sub-linear")
    assert growth.describe_growth(1.3).startswith("super-linear")
    assert growth.epochs_for(10_000, 200_000) == 20 and growth.epochs_for(1_000_000, 200_000) == 1


def test_presets_that_differ_only_in_budget_share_one_run():
    P = Preset
    groups = presets.preset_groups({
        "a": P("a", "", {"hidden": 8}, {"minutes": 1.0, "lr": 1e-3, "eval_every_s": 10.0}),
        "b": P("b", "", {"hidden": 8}, {"minutes": 5.0, "lr": 1e-3, "eval_every_s": 15.0}),
        "c": P("c", "", {"hidden": 8}, {"minutes": 5.0, "lr": 2e-3}),
        "d": P("d", "", {"hidden": 16}, {"minutes": 1.0, "lr": 1e-3}),
    })
    assert [names for names, _ in groups] == [["a", "b"], ["c"], ["d"]]


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_presets_section_evaluates_the_target_only_in_full_mode(monkeypatch, tmp_path, mode):
    calls = []

    def fake_child(function, kwargs, threads=2, timeout=None):
        calls.append(kwargs["train"]["minutes"])
        val = 2.0 / kwargs["train"]["minutes"] ** 0.1 - (0.1 if kwargs["model"]["hidden"] == 512 else 0.0)
        return {"best_val": val, "steps": 10, "chars_per_s": 1000.0, "peak_rss_mb": 300.0, "params": 1}

    monkeypatch.setattr(presets, "run_child", fake_child)
    monkeypatch.setattr(presets, "corpus_text", lambda ctx, name: "x" * 1_000_000)
    section = presets.run(Context(mode, tmp_path, threads=1))
    groups = len(presets.preset_groups())
    assert len(calls) == groups * (2 if mode == "quick" else 3)
    assert all(not r["train"]["patience"] for r in section.data["runs"])
    target = section.targets[0]
    if mode == "quick":
        assert target.measured is None and "not evaluated" in section.markdown
    else:
        assert target.measured == pytest.approx(2.0 / 5**0.1 - 0.1)
    assert "1.898" in section.markdown and "1.596" in section.markdown
    assert len(section.figures["val_loss"].data) == groups + 2  # one line per group + the two nanoGPT markers


def test_run_child_returns_the_result_and_its_own_peak_memory():
    ballast = np.ones(40_000_000)  # 320 MB held here: a child's ru_maxrss would include it, its own peak must not
    out = common.run_child("benchmarks.suite.memory:import_baseline", {}, threads=1, timeout=120)
    assert 50 < out["peak_rss_mb"] < memory.proc_rss_mb(os.getpid())["rss"] - 250
    del ballast
    with pytest.raises(RuntimeError, match="failed in a child process"):
        common.run_child("benchmarks.suite.growth:fit_exponent", {"xs": [1]}, threads=1, timeout=120)


def test_proc_memory_and_descendants():
    assert memory.proc_rss_mb(os.getpid())["rss"] > 10
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in memory.descendants(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in memory.descendants(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_nanogpt_split_is_an_exact_character_cut():
    train, val = common.nanogpt_split("abcdefghij" * 10)
    assert len(train) == 90 and train + val == "abcdefghij" * 10


def test_profile_of_a_tiny_step_and_the_exploration_markdown():
    ids = np.tile(np.arange(10), 200)
    prof = throughput_explore.profile_steps({"hidden": 16, "emb_dim": 8}, {"batch_size": 4, "seq_len": 8}, ids, 10, steps=3)
    assert set(prof["phases_ms"]) == set(throughput_explore.PHASES)
    assert prof["phases_ms"]["forward (embedding, LSTM, head, loss)"] > 0 and prof["top_ops"]
    variants = [{"name": n, "threads": t, "chars_per_s": c, "vs_preset": c / 100.0, "gflops": 1.0, "share_same": 0.5,
                 "share_square": 0.25} for n, t, c in (("as the preset", 2, 100.0), ("1 thread", 1, 70.0),
                                                      ("as the preset, child process", 2, 90.0),
                                                      ("OMP_WAIT_POLICY=PASSIVE, child process", 2, 45.0))]
    md = throughput_explore.markdown({"rounds": 2, "burst_s": 1.0, "variants": variants, "profile": prof})
    assert "0.70x" in md and "PASSIVE" in md and "0.50x the default" in md
    assert "Fastest variant here: as the preset (1.00x" in md
