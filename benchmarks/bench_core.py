"""Core engine benchmarks (issue 2): validation loss under a wall-clock budget, and generation speed.

    python -m benchmarks.bench_core --task all            # ~11 minutes on a 2-core CPU
    python -m benchmarks.bench_core --task alice --minutes 1

Writes benchmarks/results/core.json and prints a Markdown table. Corpora come from ../shared/corpora
(or POETRY_LAB_CORPORA). Splits: tinyshakespeare first 90% / last 10% (nanoGPT's), alice.txt
lowercased with its last 10% as validation (the tutorials' setting).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.sampling import SampleConfig, sample
from poetry_lab.core.train import TrainConfig, Trainer
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import decode_bytes
from poetry_lab.runs.presets import get_preset

RESULTS = Path(__file__).resolve().parent / "results"


def raw_text(name: str, lowercase: bool = False) -> str:
    text = decode_bytes(resolve_corpus(name).read_bytes())
    return text.lower() if lowercase else text


def run_budget(text: str, minutes: float, model_kw: dict, train_kw: dict, eval_every_s: float = 10.0) -> dict:
    """Train on the first 90%, validate on the last 10% (exact character cut, as nanoGPT does)."""
    cut = int(len(text) * 0.9)
    vocab = Vocab.from_text(text)
    model = build_model(ModelConfig(vocab_size=len(vocab), **model_kw), seed=0, device=torch.device("cpu"))
    cfg = TrainConfig(**{**train_kw, "minutes": minutes, "eval_every_s": eval_every_s, "patience": None, "seed": 0})
    trainer = Trainer(model, vocab.encode(text[:cut]), vocab.encode(text[cut:]), cfg)
    curve = []
    trainer.add_callback("on_eval", lambda t, p: curve.append((round(p.elapsed, 1), round(p.val_loss, 4))))
    trainer.add_callback("on_eval", lambda t, p: print(f"  {p.elapsed:6.1f}s step {p.step:5d} train {p.train_loss:.4f} val {p.val_loss:.4f}", flush=True))
    result = trainer.fit()
    return {
        "model": model_kw,
        "train": {k: v for k, v in cfg.to_dict().items() if k in ("lr", "seq_len", "batch_size", "weight_decay", "minutes")},
        "params": model.num_params(),
        "steps": result.steps,
        "elapsed_s": round(result.elapsed, 1),
        "chars_per_s": round(result.steps * trainer.streams * trainer.seq_len / result.elapsed),
        "final_val": round(curve[-1][1], 4),
        "best_val": round(result.best_val, 4),
        "curve": curve,
    }


def first_time_below(curve: list, bound: float) -> float | None:
    return next((t for t, v in curve if v < bound), None)


def bench_generation(repeats: int = 5) -> dict:
    """With the model the app opens with (the same code path as the comparison view)."""
    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.settings import default_model_path

    bundle = load_model(default_model_path(), device="cpu")
    model, vocab = bundle.model, bundle.vocab
    cfg = SampleConfig(temperatures=(0.2, 0.5, 0.8, 1.0, 1.2), max_chars=400, seed=0)
    sample(model, vocab, "", cfg)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sample(model, vocab, "Shall I compare thee", cfg)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"what": f"5 temperatures x 400 chars, {default_model_path().name} ({model.num_params():,} parameters)", "median_s": round(times[len(times) // 2], 4), "all_s": [round(t, 4) for t in times]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["all", "tinyshakespeare", "alice", "generation"], default="all")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--dropout", type=float, default=None)
    ap.add_argument("--wd", type=float, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--layers", type=int, default=None)
    args = ap.parse_args()
    preset = get_preset("balanced")
    model_kw, train_kw = dict(preset.model), dict(preset.train)
    for k, v in (("hidden", args.hidden), ("dropout", args.dropout), ("layers", args.layers)):
        if v is not None:
            model_kw[k] = v
    for k, v in (("lr", args.lr), ("weight_decay", args.wd), ("batch_size", args.batch), ("seq_len", args.seq_len)):
        if v is not None:
            train_kw[k] = v
    report = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"}
    if args.task in ("all", "tinyshakespeare"):
        print("tinyshakespeare", flush=True)
        report["tinyshakespeare"] = run_budget(raw_text("tinyshakespeare"), args.minutes, model_kw, train_kw, eval_every_s=30.0)
    if args.task in ("all", "alice"):
        print("alice (lowercased)", flush=True)
        alice_model = {**model_kw, "dropout": args.dropout if args.dropout is not None else 0.3}
        r = run_budget(raw_text("alice", lowercase=True), args.minutes, alice_model, train_kw)
        r["first_below_1.717_s"] = first_time_below(r["curve"], 1.717)
        report["alice"] = r
    if args.task in ("all", "generation"):
        report["generation"] = bench_generation()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"core_{args.task}.json"
    out.write_text(json.dumps(report, indent=1))
    print("\n| benchmark | final val (nats/char) | bits/char | best | chars/s | steps |\n|---|---|---|---|---|---|")
    for key in ("tinyshakespeare", "alice"):
        if key in report:
            r = report[key]
            print(f"| {key} {args.minutes:g} min | {r['final_val']:.4f} | {r['final_val'] / math.log(2):.4f} | {r['best_val']:.4f} | {r['chars_per_s']:,} | {r['steps']} |")
    if "alice" in report:
        print(f"alice: first evaluation below 1.717 at {report['alice']['first_below_1.717_s']} s")
    if "generation" in report:
        print(f"generation: {report['generation']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
