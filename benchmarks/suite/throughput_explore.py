"""Where the default preset's training time goes, and what raises its throughput (part of throughput).

Variants of the default preset (threads, tokens per step, fused AdamW, no dropout) are trained in
interleaved rounds with the real Trainer; one step is profiled with torch.profiler, phase by phase,
in a copy of Trainer's step (train.py: Trainer._loop) with each phase labelled.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from benchmarks.suite.common import Context, md_table


@dataclass
class Variant:
    name: str
    threads: int | None = None  # None: the suite's threads
    train: dict = field(default_factory=dict)  # TrainConfig overrides
    model: dict = field(default_factory=dict)  # ModelConfig overrides
    fused_adamw: bool = False
    env: dict | None = None  # environment of a child process that runs the burst (None: in this process)
    full_only: bool = False  # child processes cost a few seconds each: quick mode leaves these out


VARIANTS = [
    Variant("as the preset"),
    Variant("1 thread", threads=1),
    Variant("B64×T64", train={"batch_size": 64}),
    Variant("B32×T128", train={"seq_len": 128}),
    Variant("B128×T64", train={"batch_size": 128}),
    Variant("fused AdamW", fused_adamw=True),
    Variant("no dropout", model={"dropout": 0.0}),
    Variant("as the preset, child process", env={}, full_only=True),
    Variant("OMP_WAIT_POLICY=PASSIVE, child process", env={"OMP_WAIT_POLICY": "PASSIVE"}, full_only=True),
]


def burst_child(model_kw: dict, train_kw: dict, seconds: float) -> dict:
    """A training burst on tinyshakespeare's training split, for run_child (a fresh process's environment)."""
    from benchmarks.suite.common import corpus_text, nanogpt_split
    from benchmarks.suite.throughput import train_burst
    from poetry_lab.core.vocab import Vocab

    text = corpus_text(None, "tinyshakespeare")
    vocab = Vocab.from_text(text)
    return {"chars_per_s": train_burst(model_kw, train_kw, vocab.encode(nanogpt_split(text)[0]), len(vocab), seconds)}


def burst(ctx: Context, v: Variant, model_kw: dict, train_kw: dict, ids, vocab_size: int, seconds: float) -> float:
    from benchmarks.suite.common import run_child
    from benchmarks.suite.throughput import train_burst

    threads = v.threads or ctx.threads
    if v.env is not None:
        kwargs = {"model_kw": model_kw, "train_kw": train_kw, "seconds": seconds}
        return run_child("benchmarks.suite.throughput_explore:burst_child", kwargs, threads, 600, v.env)["chars_per_s"]
    torch.set_num_threads(threads)
    try:
        return train_burst(model_kw, train_kw, ids, vocab_size, seconds, fused_adamw_trainer() if v.fused_adamw else None)
    finally:
        torch.set_num_threads(ctx.threads)


def fused_adamw_trainer():
    """A Trainer whose AdamW uses the fused CPU kernel (same groups and settings as train.py's)."""
    from poetry_lab.core.train import Trainer

    class FusedAdamWTrainer(Trainer):
        def _optimizer(self) -> torch.optim.Optimizer:
            groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in super()._optimizer().param_groups]
            c = self.config
            return torch.optim.AdamW(groups, lr=c.lr, betas=(c.beta1, c.beta2), fused=True)

    return FusedAdamWTrainer


def explore(ctx: Context, preset, ids, vocab_size: int, chars: int) -> dict:
    from benchmarks.suite.throughput import (
        flops_per_char,
        preset_shape,
        probe_peaks,
    )
    from poetry_lab.runs.presets import model_settings

    base_shape = preset_shape(preset, vocab_size, chars)
    model_kw, rounds, burst_s = model_settings(preset, chars), ctx.pick(2, 3), ctx.pick(1.5, 4.0)
    variants = [v for v in VARIANTS if not (v.full_only and ctx.quick)]
    cps: dict[str, list[float]] = {v.name: [] for v in variants}
    peaks: dict[tuple, list[dict]] = {}
    for _ in range(rounds):
        for v in variants:
            cps[v.name].append(burst(ctx, v, {**model_kw, **v.model}, {**preset.train, **v.train}, ids, vocab_size, burst_s))
        for bt in dict.fromkeys(_bt(preset, v) for v in variants):
            peaks.setdefault(bt, []).append(probe_peaks({**base_shape, "B": bt[0], "T": bt[1]}, ctx.pick(0.1, 0.2)))
    fpc = 3 * flops_per_char(base_shape["E"], base_shape["H"], base_shape["layers"], vocab_size, base_shape["cell"])
    out = []
    for v in variants:
        speed = statistics.median(cps[v.name])
        got = peaks[_bt(preset, v)]
        same = statistics.median(p["same_shape"] for p in got)
        square = statistics.median(p["square"] for p in got)
        out.append({"name": v.name, "threads": v.threads or ctx.threads, "batch_size": _bt(preset, v)[0],
                    "seq_len": _bt(preset, v)[1], "chars_per_s": speed, "gflops": speed * fpc / 1e9,
                    "same_shape_peak": same, "share_same": speed * fpc / 1e9 / same, "share_square": speed * fpc / 1e9 / square,
                    "samples": cps[v.name]})
    base = out[0]["chars_per_s"]
    for o in out:
        o["vs_preset"] = o["chars_per_s"] / base
    profile = profile_steps(model_kw, preset.train, ids, vocab_size, steps=ctx.pick(5, 30))
    return {"rounds": rounds, "burst_s": burst_s, "variants": out, "profile": profile}


def _bt(preset, v: Variant) -> tuple[int, int]:
    t = {**preset.train, **v.train}
    return t.get("batch_size", 32), t.get("seq_len", 64)


PHASES = ("data + state", "forward (embedding, LSTM, head, loss)", "zero_grad + backward", "clip_grad_norm", "optimizer",
          "loss.item")


def profile_steps(model_kw: dict, train_kw: dict, ids, vocab_size: int, steps: int = 20) -> dict:
    """ms per step in each phase of a training step (a labelled copy of Trainer._loop's body) and the
    ten operators with the most self time, under torch.profiler (which adds its own overhead)."""
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity, profile

    from poetry_lab.core.model import ModelConfig, build_model, detach_state
    from poetry_lab.core.train import TrainConfig, Trainer

    model = build_model(ModelConfig(vocab_size=vocab_size, **model_kw), seed=0, device=torch.device("cpu"))
    cfg = TrainConfig(**{**train_kw, "patience": None})
    trainer = Trainer(model, ids, None, cfg)
    opt, batches = trainer._optimizer(), trainer._epoch_batches(torch.Generator().manual_seed(0))
    model.dropout_generator = torch.Generator().manual_seed(1)
    model.train()

    def step(state):
        with record_function(PHASES[0]):
            x, y, new_epoch = next(batches)
            state = None if new_epoch or state is None else detach_state(state)
        with record_function(PHASES[1]):
            _, loss, state = model(x, y, state)
        with record_function(PHASES[2]):
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with record_function(PHASES[3]):
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        with record_function(PHASES[4]):
            opt.step()
        with record_function(PHASES[5]):
            loss.item()
        return state

    state = None
    for _ in range(3):  # warm-up: oneDNN primitives are created on first use
        state = step(state)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            state = step(state)
    wall_ms = (time.perf_counter() - t0) / steps * 1000
    events = prof.key_averages()
    phases = {e.key: e.cpu_time_total / steps / 1000 for e in events if e.key in PHASES}
    ops = sorted((e for e in events if e.key not in PHASES and not e.key.startswith("ProfilerStep")),
                 key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    total_self = sum(e.self_cpu_time_total for e in events) or 1.0
    return {"steps": steps, "wall_ms_per_step": wall_ms, "phases_ms": {p: phases.get(p, 0.0) for p in PHASES},
            "top_ops": [{"op": e.key, "self_ms_per_step": e.self_cpu_time_total / steps / 1000,
                         "share": e.self_cpu_time_total / total_self, "calls_per_step": e.count / steps} for e in ops]}


def markdown(explore: dict) -> str:
    v = explore["variants"]
    table = md_table(["variant of the default preset", "threads", "chars/s", "vs preset", "GFLOP/s", "share of its same-shape peak",
                      "share of square peak"],
                     [[o["name"], o["threads"], round(o["chars_per_s"]), f"{o['vs_preset']:.2f}x", round(o["gflops"], 1),
                       f"{100 * o['share_same']:.0f}%", f"{100 * o['share_square']:.0f}%"] for o in v])
    p = explore["profile"]
    total = sum(p["phases_ms"].values()) or 1.0
    phases = md_table(["phase of one step", "ms per step", "share"],
                      [[k, round(ms, 2), f"{100 * ms / total:.0f}%"] for k, ms in p["phases_ms"].items()])
    ops = md_table(["operator (self time)", "ms per step", "share", "calls per step"],
                   [[f"`{o['op']}`", round(o["self_ms_per_step"], 2), f"{100 * o['share']:.0f}%", round(o["calls_per_step"], 1)]
                    for o in p["top_ops"]])
    return "\n\n".join([
        "### Raising the default preset's throughput",
        (f"Each variant changes one thing; {explore['rounds']} interleaved rounds of {explore['burst_s']:g} s bursts, "
         "medians; peaks measured with the suite's threads. Larger batches or chunks raise characters per second but give fewer updates per minute: whether "
         "they buy quality per minute is for the presets section to show, not this one."),
        table,
        (f"Profile of {p['steps']} steps of the preset (torch.profiler, CPU; {p['wall_ms_per_step']:.1f} ms per step "
         "wall-clock with the profiler on):"),
        phases, ops, findings(explore)])


def findings(explore: dict) -> str:
    """A few plain sentences read off the measurements (no claims the numbers do not carry)."""
    by_name = {o["name"]: o for o in explore["variants"]}
    best = max(explore["variants"], key=lambda o: o["chars_per_s"])
    rnn = sum(o["share"] for o in explore["profile"]["top_ops"] if "rnn" in o["op"] or "lstm" in o["op"])
    rest = "the head, loss, clipping, optimizer and data are small next to them" if rnn >= 0.6 else "see the tables"
    lines = [(f"- The LSTM kernels (oneDNN `*rnn*` operators, forward and backward) take {100 * rnn:.0f}% of the "
              f"operator self time: {rest}."),
             f"- Fastest variant here: {best['name']} ({best['vs_preset']:.2f}x the preset's characters per second)."]
    if "1 thread" in by_name and by_name["as the preset"]["threads"] != 1:
        lines.append(f"- One torch thread gives {by_name['1 thread']['vs_preset']:.2f}x the preset's speed with "
                     f"{by_name['as the preset']['threads']}: the second core's gain shows whether another process "
                     "competed for the CPU.")
    child, passive = by_name.get("as the preset, child process"), by_name.get("OMP_WAIT_POLICY=PASSIVE, child process")
    if child and passive:
        lines.append(f"- OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of spinning at barriers): "
                     f"{passive['chars_per_s'] / child['chars_per_s']:.2f}x the default in the same kind of process.")
    lines.append("- No `torch.backends` switch that affects the CPU LSTM is per-thread in this torch (`mkldnn.enabled` "
                 "and the fp32 precision settings are process-wide); bf16 autocast, which is thread-local, was about "
                 "4x slower here (PERF-NOTES), so neither is tried.")
    return "\n".join(lines)
