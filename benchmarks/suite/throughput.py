"""Training throughput: characters per second and achieved GFLOP/s per preset, against this machine's
fp32 matmul peak measured in the same run on the same shapes.

FLOPs per character, forward: per layer 2·gH·(E + H) (the input and recurrent products, g = 4 gates
for an LSTM, E the layer's input size: emb_dim for the first, H above), plus the head 2·H·V; training
counts 3x (forward + backward). Elementwise gate maths, embedding, dropout, loss and optimizer are
not counted: they are overheads that lower the share.

The same-shape peak: each matmul the LSTM makes (the recurrent product (B×H)·(H×gH) at the preset's
batch B, the input projection (T·B×E)·(E×gH), the head (T·B×H)·(H×V)) timed alone at its best rate,
combined by FLOPs (total FLOPs / sum of each shape's FLOPs at its peak rate). A large square
product gives the machine's reference peak. Probes and training bursts are interleaved, medians kept.
"""

from __future__ import annotations

import statistics
import time

import plotly.graph_objects as go
import torch

from benchmarks.suite.common import (
    Context,
    Section,
    Target,
    corpus_text,
    md_table,
    nanogpt_split,
)
from poetry_lab.core.model import CELLS

TITLE = "Training throughput against the measured matmul peak"
TARGET_NAME = "training uses the measured matmul peak on the same shapes, default preset (%)"
SQUARE = 2048


def flops_per_char(emb_dim: int, hidden: int, layers: int, vocab: int, cell: str = "lstm") -> float:
    """Forward matmul FLOPs per character (multiply-adds count 2); training is 3x this."""
    g = CELLS[cell].gates * hidden
    return sum(2 * g * ((emb_dim if i == 0 else hidden) + hidden) for i in range(layers)) + 2 * hidden * vocab


def matmul_shapes(batch: int, seq_len: int, emb_dim: int, hidden: int, layers: int, vocab: int,
                  cell: str = "lstm") -> list[dict]:
    """The products one training step makes, as (m, k, n) with their forward FLOPs per character."""
    g, rows = CELLS[cell].gates * hidden, seq_len * batch
    shapes = [{"name": "recurrent (B×H)·(H×gH)", "m": batch, "k": hidden, "n": g, "fpc": layers * 2 * hidden * g},
              {"name": "input (T·B×E)·(E×gH)", "m": rows, "k": emb_dim, "n": g, "fpc": 2 * emb_dim * g}]
    if layers > 1:
        shapes.append({"name": "input above (T·B×H)·(H×gH)", "m": rows, "k": hidden, "n": g,
                       "fpc": (layers - 1) * 2 * hidden * g})
    shapes.append({"name": "head (T·B×H)·(H×V)", "m": rows, "k": hidden, "n": vocab, "fpc": 2 * hidden * vocab})
    return shapes


def combined_peak(fpcs: list[float], rates: list[float]) -> float:
    """FLOP-weighted harmonic combination: all the FLOPs over the time each shape takes at its own rate."""
    return sum(fpcs) / sum(f / r for f, r in zip(fpcs, rates))


def matmul_rate(m: int, k: int, n: int, seconds: float = 0.2, batch_s: float = 0.02) -> float:
    """Best GFLOP/s of (m×k)·(k×n) in fp32 over batches of back-to-back calls lasting about batch_s each."""
    a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    for _ in range(3):
        torch.mm(a, b, out=out)
    t0 = time.perf_counter()
    torch.mm(a, b, out=out)
    reps = max(1, int(batch_s / max(time.perf_counter() - t0, 1e-7)))
    best, end = 0.0, time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        best = max(best, 2.0 * m * k * n * reps / (time.perf_counter() - t0) / 1e9)
        if time.perf_counter() >= end:
            return best


def train_burst(model_kw: dict, train_kw: dict, ids, vocab_size: int, seconds: float, trainer_cls=None,
                skip: int = 3) -> float:
    """Training characters per second of the real Trainer over a burst, its first `skip` steps left out
    (one-off set-up costs). No validation data: evaluation is not part of this figure."""
    from poetry_lab.core.model import ModelConfig, build_model
    from poetry_lab.core.train import TrainConfig, Trainer

    model = build_model(ModelConfig(vocab_size=vocab_size, **model_kw), seed=0, device=torch.device("cpu"))
    cfg = TrainConfig(**{**train_kw, "minutes": seconds / 60, "patience": None})
    trainer = (trainer_cls or Trainer)(model, ids, None, cfg)
    stamps: list[float] = []
    trainer.add_callback("on_step", lambda t, p: stamps.append(time.perf_counter()))
    result = trainer.fit()
    per_step = trainer.streams * trainer.seq_len
    if len(stamps) - skip < 3:  # a very slow machine: count the whole burst
        return result.steps * per_step / result.elapsed
    return (len(stamps) - 1 - skip) * per_step / (stamps[-1] - stamps[skip])


def preset_shape(preset, vocab: int, chars: int) -> dict:
    from poetry_lab.runs.presets import model_settings

    model = model_settings(preset, chars)
    return {"B": preset.train.get("batch_size", 32), "T": preset.train.get("seq_len", 64), "E": model.get("emb_dim", 64),
            "H": model.get("hidden", 256), "layers": model.get("layers", 1), "V": vocab, "cell": model.get("cell", "lstm")}


def probe_peaks(s: dict, seconds: float) -> dict:
    """Same-shape peak (GFLOP/s) for one model/batch shape, each shape's rate, and the square peak."""
    shapes = matmul_shapes(s["B"], s["T"], s["E"], s["H"], s["layers"], s["V"], s["cell"])
    rates = [matmul_rate(x["m"], x["k"], x["n"], seconds) for x in shapes]
    return {"same_shape": combined_peak([x["fpc"] for x in shapes], rates),
            "shapes": {x["name"]: r for x, r in zip(shapes, rates)},
            "square": matmul_rate(SQUARE, SQUARE, SQUARE, seconds)}


def run(ctx: Context) -> Section:
    from benchmarks.suite import throughput_explore
    from benchmarks.suite.presets import preset_groups
    from poetry_lab.core.vocab import Vocab
    from poetry_lab.runs.presets import DEFAULT_PRESET, PRESETS, model_settings

    torch.set_num_threads(ctx.threads)
    text = corpus_text(ctx, "tinyshakespeare")
    vocab = Vocab.from_text(text)
    ids = vocab.encode(nanogpt_split(text)[0])
    rounds, burst_s, probe_s = ctx.pick(2, 3), ctx.pick(2.0, 6.0), ctx.pick(0.1, 0.3)
    groups = preset_groups()
    samples: dict[str, list[dict]] = {"/".join(n): [] for n, _ in groups}
    for _ in range(rounds):  # probe, burst, probe, burst ...: drift on the shared VM hits both sides
        for names, preset in groups:
            shape = preset_shape(preset, len(vocab), len(text))
            peaks = probe_peaks(shape, probe_s)
            cps = train_burst(model_settings(preset, len(text)), preset.train, ids, len(vocab), burst_s)
            samples["/".join(names)].append({"chars_per_s": cps, **peaks})
    rows, data_rows = [], []
    for names, preset in groups:
        key, shape = "/".join(names), preset_shape(preset, len(vocab), len(text))
        got = samples[key]
        cps = statistics.median(g["chars_per_s"] for g in got)
        same = statistics.median(g["same_shape"] for g in got)
        square = statistics.median(g["square"] for g in got)
        gflops = cps * 3 * flops_per_char(shape["E"], shape["H"], shape["layers"], shape["V"], shape["cell"]) / 1e9
        entry = {"presets": names, "shape": shape, "chars_per_s": cps, "gflops": gflops, "same_shape_peak": same,
                 "square_peak": square, "share_same": gflops / same, "share_square": gflops / square, "rounds": got}
        data_rows.append(entry)
        rows.append([key, f"H{shape['H']}, B{shape['B']}×T{shape['T']}", round(cps), round(gflops, 1), round(same, 1),
                     f"{100 * gflops / same:.0f}%", round(square, 1), f"{100 * gflops / square:.0f}%"])
    default = next(e for e in data_rows if DEFAULT_PRESET in e["presets"])
    explore = throughput_explore.explore(ctx, PRESETS[DEFAULT_PRESET], ids, len(vocab), len(text))
    md = "\n\n".join([
        md_table(["preset(s)", "shape", "chars/s", "GFLOP/s", "same-shape peak", "share", f"{SQUARE}² peak", "share"], rows),
        (f"{ctx.threads} torch threads; {rounds} interleaved rounds of a matmul probe and a {burst_s:g} s training burst "
         "(the real `Trainer`, no validation, first 3 steps left out), medians. GFLOP/s counts 3x the forward matmul "
         "FLOPs per character (see the module docstring); the share is of the peak measured in the same rounds. It "
         "can pass 100%: oneDNN's LSTM kernel packs its weights once per call, a plain matmul does not."),
        throughput_explore.markdown(explore)])
    data = {"threads": ctx.threads, "rounds": rounds, "burst_s": burst_s, "presets": data_rows, "explore": explore}
    target = Target(TARGET_NAME, 100 * default["share_same"], 50, unit="%")
    return Section("throughput", TITLE, md, data, {"share": _figure(data_rows, explore)}, [target])


def _figure(rows: list[dict], explore: dict) -> go.Figure:
    names = ["/".join(r["presets"]) for r in rows] + [f"default: {v['name']}" for v in explore["variants"]]
    shares = [100 * r["share_same"] for r in rows] + [100 * v["share_same"] for v in explore["variants"]]
    fig = go.Figure(go.Bar(x=names, y=shares, text=[f"{s:.0f}%" for s in shares], textposition="outside"))
    fig.add_hline(y=50, line_dash="dot", annotation_text="target 50%")
    fig.update_layout(title="Training GFLOP/s as a share of the same-shape matmul peak", yaxis_title="% of peak",
                      template="plotly_white")
    return fig
