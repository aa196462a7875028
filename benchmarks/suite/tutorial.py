"""Section: the tutorials' method vs Poetry Lab's trainer, validation loss over the same training time.

    .venv/bin/python -m benchmarks.suite.tutorial     # quick mode, prints the section's Markdown
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import plotly.graph_objects as go
import torch

from benchmarks.suite.common import LN2, Context, Section, Target, corpus_text, md_table
from benchmarks.suite.tutorial_method import (
    TutorialConfig,
    TutorialTrainer,
    build_tutorial_model,
    by_mode,
    char_table,
    encode,
    matmul_gflops,
    time_to_reach,
    val_targets,
    window_loss,
)
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig, Trainer, evaluate
from poetry_lab.core.vocab import Vocab
from poetry_lab.runs.presets import get_preset, model_settings

TITLE = "The tutorials' method vs Poetry Lab"
PRESET = "balanced"
# Poetry Lab passes the tutorial's loss within seconds: dense early evaluations measure when, not bound it
EARLY_STEPS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)
LABELS = {"scaled": "tutorial (ids scaled to [0,1])", "onehot": "tutorial (one-hot inputs)", "poetry_lab": "Poetry Lab"}


@dataclass
class Settings:
    budget_s: float  # training seconds per side, evaluation excluded
    tutorial_evals: int  # evaluations of each tutorial side, evenly spaced in its training time
    poetry_lab_evals: int  # evenly spaced evaluations of Poetry Lab, besides those after EARLY_STEPS
    val_sample: int | None  # tutorial validation: this many evenly spaced characters, or None for all
    text_chars: int | None  # use only the start of the text (tests), or None for all of it
    gflops_s: float  # length of each drift check


def settings_for(mode: str) -> Settings:
    return Settings(
        budget_s=by_mode(mode, 1.0, 25.0, 300.0),
        tutorial_evals=by_mode(mode, 2, 10, 12),
        poetry_lab_evals=by_mode(mode, 3, 12, 15),
        val_sample=by_mode(mode, 100, 2000, None),
        text_chars=by_mode(mode, 20_000, None, None),
        gflops_s=by_mode(mode, 0.05, 0.3, 0.5),
    )


def run_tutorial(text: str, cut: int, inputs: str, s: Settings) -> dict:
    chars = char_table(text)
    ids = torch.from_numpy(encode(text, chars))
    cfg = TutorialConfig(inputs=inputs)
    model = build_tutorial_model(len(chars), cfg)
    trainer = TutorialTrainer(model, ids[:cut], cfg)
    targets = val_targets(len(ids), cut, cfg.window, s.val_sample)
    curve, eval_s = [], 0.0
    for k in range(s.tutorial_evals + 1):
        if k:  # the clock stops between train_for calls, so evaluations are free
            trainer.train_for(s.budget_s * k / s.tutorial_evals - trainer.train_seconds)
        t0 = time.perf_counter()
        curve.append((trainer.train_seconds, window_loss(model, ids, targets), trainer.steps))
        eval_s += time.perf_counter() - t0
    return {"side": inputs, "config": asdict(cfg), "vocab": len(chars), "val_targets": len(targets),
            "steps": trainer.steps, "train_s": trainer.train_seconds, "targets_per_s": trainer.targets_seen / trainer.train_seconds,
            "input_chars_per_target": cfg.window, "epochs": trainer.epochs, "eval_s": eval_s, "curve": curve}


def run_poetry_lab(text: str, cut: int, s: Settings) -> dict:
    """The product's Trainer with the preset's settings. Its budget is wall-clock, evaluations included,
    so each evaluation here extends `minutes` by what it took: both sides get the same training seconds."""
    preset = get_preset(PRESET)
    vocab = Vocab.from_text(text)
    model_kw = model_settings(preset, len(text))
    train_kw = {k: v for k, v in preset.train.items() if k not in ("minutes", "eval_every_s")}
    # eval_every_s huge: the Trainer then validates only once, at the end; the schedule is ours
    cfg = TrainConfig(**train_kw, minutes=s.budget_s / 60, eval_every_s=1e12, patience=None, seed=0)
    model = build_model(ModelConfig(vocab_size=len(vocab), **model_kw), seed=0, device=torch.device("cpu"))
    val_ids = vocab.encode(text[cut:])
    trainer = Trainer(model, vocab.encode(text[:cut]), val_ids, cfg)
    curve, clock = [(0.0, evaluate(model, val_ids), 0)], {"eval_s": 0.0, "k": 1, "train_s": 0.0}

    def due(k: int) -> float:  # the last evaluation is the Trainer's own, at the end of the budget
        return s.budget_s * k / s.poetry_lab_evals if k < s.poetry_lab_evals else float("inf")

    def on_step(tr: Trainer, p) -> None:
        train_s = clock["train_s"] = p.elapsed - clock["eval_s"]
        if p.step not in EARLY_STEPS and train_s < due(clock["k"]):
            return
        while train_s >= due(clock["k"]):
            clock["k"] += 1
        t0 = time.perf_counter()
        curve.append((train_s, evaluate(tr.model, val_ids), p.step))
        took = time.perf_counter() - t0
        clock["eval_s"] += took
        tr.config.minutes += took / 60

    def on_eval(tr: Trainer, p) -> None:  # the Trainer's own, final validation
        if curve[-1][2] != p.step:  # unless on_step has just evaluated this same step
            curve.append((clock["train_s"], p.val_loss, p.step))

    trainer.add_callback("on_step", on_step)
    trainer.add_callback("on_eval", on_eval)
    result = trainer.fit()
    train_s = clock["train_s"]  # at the last step; result.elapsed also holds the final validation
    targets = result.steps * trainer.streams * trainer.seq_len
    return {"side": "poetry_lab", "preset": PRESET, "model": model_kw, "train": cfg.to_dict(), "vocab": len(vocab),
            "val_targets": len(val_ids) - 1, "steps": result.steps, "train_s": train_s, "targets_per_s": targets / train_s,
            "input_chars_per_target": 1, "epochs": result.epochs, "eval_s": clock["eval_s"], "curve": curve}


def _timed_side(fn, s: Settings) -> dict:
    before = matmul_gflops(s.gflops_s)
    side = fn()
    side["gflops_before"], side["gflops_after"] = before, matmul_gflops(s.gflops_s)
    vals = [v for _, v, _ in side["curve"]]
    best = min(range(len(vals)), key=vals.__getitem__)
    side.update(final_val=vals[-1], best_val=vals[best], best_t=side["curve"][best][0])
    return side


def reach_ratio(tutorial: dict, poetry_lab: dict) -> dict:
    """How much sooner Poetry Lab reaches the tutorial's best validation loss than the tutorial did."""
    level, t_tut = tutorial["best_val"], tutorial["best_t"]
    t_pl, exact = time_to_reach([(t, v) for t, v, _ in poetry_lab["curve"]], level)
    ratio = t_tut / t_pl if t_pl else None
    return {"tutorial": tutorial["side"], "level": level, "tutorial_s": t_tut, "poetry_lab_s": t_pl,
            "exact": exact, "ratio": ratio}


def loss_figure(sides: list[dict], level: float) -> go.Figure:
    fig = go.Figure()
    for side in sides:
        pts = [(t, v) for t, v, _ in side["curve"] if t > 0]  # t = 0 has no place on a log axis
        fig.add_scatter(x=[t for t, _ in pts], y=[v for _, v in pts], mode="lines+markers", name=LABELS[side["side"]],
                        customdata=[v / LN2 for _, v in pts],
                        hovertemplate="%{x:.2f} s: %{y:.3f} nats/char (%{customdata:.3f} bits/char)")
    fig.add_hline(y=level, line_dash="dot", line_color="grey", annotation_position="top left",
                  annotation_text=f"tutorial's best: {level:.3f} nats = {level / LN2:.3f} bits/char")
    fig.update_layout(template="plotly_white", title="Validation loss over training time, alice.txt (lowercased)",
                      xaxis={"type": "log", "title": "training seconds (evaluations excluded; log scale)"},
                      yaxis={"title": "validation loss, nats/char (bits = nats / 0.693)"},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0})
    return fig


def _markdown(sides: list[dict], ratios: list[dict], head: dict | None, text: str, cut: int, s: Settings, ctx: Context) -> str:
    tut, pl = sides[0], sides[1]
    plc = pl["model"]
    val_what = (f"all {tut['val_targets']:,} validation characters" if s.val_sample is None
                else f"{tut['val_targets']:,} evenly spaced validation characters (a quick-mode sample)")
    lines = [
        (f"**Text**: alice.txt lowercased, {len(text):,} characters, {tut['vocab']} distinct; train on the first "
        f"{cut:,} (90%), validate on the last {len(text) - cut:,} (exact character cut, the same for every side)."),
        (f"**Budget**: {s.budget_s:g} training seconds per side, run one after another in this process (tutorial with "
        f"scaled ids, then Poetry Lab, then tutorial with one-hot inputs), torch threads: {ctx.threads} for every side."),
        ("**Tutorial**: windows of 100 characters starting at every character (step 1, as in the Alice slides; the "
        "Keras example's step 3 only thins the windows, which a time budget never exhausts), each predicting the one "
        "character after it; LSTM(256) -> Dropout(0.2) -> Dense softmax; Adam lr 0.001, batch 128; Keras's weight "
        "initialisation; inputs as id / vocabulary size (slides) or one-hot (Keras example). Validation loss: mean "
        f"cross-entropy of {val_what}, each predicted from its preceding 100 characters."),
        (f"**Poetry Lab**: preset '{PRESET}' (LSTM {plc['hidden']}, embedding {plc['emb_dim']}, dropout {plc['dropout']} "
        f"for texts under 500k characters, lr {pl['train']['lr']:g}, {pl['train']['batch_size']} streams x "
        f"{pl['train']['seq_len']} characters, every character a target), `Trainer` with minutes = budget, no early "
        "stop. Validation loss: `poetry_lab.core.train.evaluate` over the whole validation split (32 streams, every "
        "character predicted from all the text before it in its stream)."),
        ("**Evaluation time is excluded from both clocks**: the tutorial's loop stops its clock while it evaluates; "
        "Poetry Lab's Trainer counts evaluations against its budget, so each evaluation extends its budget by what "
        f"it took. Poetry Lab was also evaluated after steps {', '.join(map(str, EARLY_STEPS))} so that the time it "
        "needs to reach the tutorial's loss is measured, not bounded."),
        "",
        md_table(["side", "steps", "epochs", "targets/s", "input chars read/s", "final val (nats)", "best val (nats)",
                  "best val (bits)", "GFLOP/s before -> after"],
                 [[LABELS[d["side"]], d["steps"], f"{d['epochs']:.2f}", f"{d['targets_per_s']:,.0f}",
                   f"{d['targets_per_s'] * d['input_chars_per_target']:,.0f}", d["final_val"], d["best_val"],
                   d["best_val"] / LN2, f"{d['gflops_before']:.0f} -> {d['gflops_after']:.0f}"] for d in sides]),
        "",
    ]
    for r in ratios:
        if r["ratio"] is None:
            lines.append(f"- {LABELS[r['tutorial']]}: best {r['level']:.4f} nats/char at {r['tutorial_s']:.1f} s; "
                         "Poetry Lab never reached it.")
        else:
            how = "interpolated between evaluations" if r["exact"] else "already there at its first evaluation: an upper bound"
            lines.append(f"- {LABELS[r['tutorial']]}: best {r['level']:.4f} nats/char at {r['tutorial_s']:.1f} s; Poetry "
                         f"Session reached it after {r['poetry_lab_s']:.2f} s ({how}): **{r['ratio']:.0f}x sooner**.")
    if head is not None:
        lines.append(f"\nHeadline (the tutorial variant hardest to beat): Poetry Lab reaches the tutorial's best "
                     f"validation loss **{head['ratio']:.0f}x sooner**.")
    lines.append("\nThe drift check is an fp32 matmul speed taken before and after each side: sides run at different "
                 "times on a shared VM, and a large change means the comparison is distorted.")
    return "\n".join(lines)


def run(ctx: Context) -> Section:
    s = settings_for(ctx.mode)
    text = corpus_text(ctx, "alice", lowercase=True)[: s.text_chars]
    cut = int(len(text) * 0.9)
    threads = torch.get_num_threads()
    torch.set_num_threads(ctx.threads)
    try:
        sides = [_timed_side(lambda: run_tutorial(text, cut, "scaled", s), s),
                 _timed_side(lambda: run_poetry_lab(text, cut, s), s),
                 _timed_side(lambda: run_tutorial(text, cut, "onehot", s), s)]
    finally:
        torch.set_num_threads(threads)
    ratios = [reach_ratio(t, sides[1]) for t in (sides[0], sides[2])]
    measured = [r for r in ratios if r["ratio"] is not None]
    head = min(measured, key=lambda r: r["ratio"]) if len(measured) == len(ratios) else None
    level = min(t["best_val"] for t in (sides[0], sides[2]))
    data = {"settings": asdict(s), "text_chars": len(text), "train_chars": cut, "val_chars": len(text) - cut,
            "threads": ctx.threads, "order": [d["side"] for d in sides], "sides": sides, "ratios": ratios,
            "headline": head}
    target = Target("Poetry Lab reaches the tutorial's final validation loss sooner (x)",
                    None if head is None else round(head["ratio"], 2), 30, unit="x")
    return Section(key="tutorial", title=TITLE, markdown=_markdown(sides, ratios, head, text, cut, s, ctx), data=data,
                   figures={"tutorial_loss": loss_figure(sides, level)}, targets=[target])


if __name__ == "__main__":
    import tempfile

    section = run(Context(mode="quick", out_dir=Path(tempfile.mkdtemp())))
    print(section.markdown)
    print([t.to_dict() for t in section.targets])
