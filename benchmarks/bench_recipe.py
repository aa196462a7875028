"""Recipe ideas, side by side at equal steps (so a busy machine changes the time, not the result).

    python -m benchmarks.bench_recipe                      # fine-tune the base on the Sonnets and Milton; scratch on tinyshakespeare
    python -m benchmarks.bench_recipe --only finetune --finetune-steps 600

Fine-tuning: the shipped base on the Sonnets and Milton (first 90% / last 10%), as many steps as 60 s gives on
this machine (--finetune-steps). From scratch: the balanced preset on tinyshakespeare with nanoGPT's
split, as many steps as 5 minutes give (--scratch-steps). Each variant changes one thing against the
recipe in use; the table reports the best validation loss (nats/char). Writes benchmarks/results/recipe.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig, Trainer
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import decode_bytes
from poetry_lab.runs.prepare import copy_bundle, extend_vocab
from poetry_lab.runs.presets import FINETUNE_MODEL, FINETUNE_TRAIN, get_preset

REPO = Path(__file__).resolve().parents[1]
FINETUNE_VARIANTS = {"recipe in use": {}, "weight average 0.99": {"ema": 0.99}, "lr 3e-3": {"lr": 3e-3},
                     "dropout 0.2": {"dropout": 0.2}, "dropout 0": {"dropout": 0.0}, "dropout 0.05": {"dropout": 0.05},
                     "lr 1e-3": {"lr": 1e-3}, "weight average 0.995": {"ema": 0.995},
                     "dropout 0 + lr 1e-3": {"dropout": 0.0, "lr": 1e-3}, "dropout 0 + lr 1.5e-3": {"dropout": 0.0, "lr": 1.5e-3}}
SCRATCH_VARIANTS = {"recipe in use": {}, "weight average 0.999": {"ema": 0.999}}


def text_of(name: str) -> str:
    """The corpus as bench_transfer.py reads it (decoded, not normalised), so the numbers compare."""
    return decode_bytes(resolve_corpus(name).read_bytes())


def run(model, vocab, train: str, val: str, steps: int, train_kw: dict) -> dict:
    cfg = TrainConfig(**{**train_kw, "minutes": None, "max_steps": steps, "eval_every_steps": max(steps // 8, 1),
                         "patience": None, "seed": 0})
    t0 = time.perf_counter()
    result = Trainer(model, vocab.encode(train), vocab.encode(val), cfg).fit()
    return {"best_val": round(result.best_val, 4), "steps": result.steps, "seconds": round(time.perf_counter() - t0, 1)}


def finetune(args) -> dict:
    base = load_model(args.base, device="cpu")
    rows = {}
    for corpus in ("sonnets", "milton"):
        text = text_of(corpus)
        cut = int(len(text) * 0.9)
        for name, change in FINETUNE_VARIANTS.items():
            if args.variants and name not in args.variants:
                continue
            tuned = extend_vocab(copy_bundle(base), sorted(set(text) - set(base.vocab.chars)))
            tuned.model.config.dropout = change.get("dropout", FINETUNE_MODEL["dropout"])
            kw = {**get_preset("balanced").train, **FINETUNE_TRAIN, **{k: v for k, v in change.items() if k != "dropout"}}
            rows[f"{corpus}: {name}"] = run(tuned.model, tuned.vocab, text[:cut], text[cut:], args.finetune_steps, kw)
            print(f"fine-tune {corpus}, {name}: {rows[f'{corpus}: {name}']}", flush=True)
    return rows


def scratch(args) -> dict:
    text = text_of("tinyshakespeare")
    cut = int(len(text) * 0.9)
    preset = get_preset("balanced")
    vocab = Vocab.from_text(text)
    rows = {}
    for name, change in SCRATCH_VARIANTS.items():
        if args.variants and name not in args.variants:
            continue
        model = build_model(ModelConfig(vocab_size=len(vocab), **preset.model), seed=0, device=torch.device("cpu"))
        rows[name] = run(model, vocab, text[:cut], text[cut:], args.scratch_steps, {**preset.train, **change})
        print(f"scratch tinyshakespeare, {name}: {rows[name]}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=str(REPO / "pretrained" / "base_forward.safetensors"))
    ap.add_argument("--only", choices=["finetune", "scratch"], default=None)
    ap.add_argument("--finetune-steps", type=int, default=500)
    ap.add_argument("--scratch-steps", type=int, default=8500)
    ap.add_argument("--variants", type=lambda t: [v.strip() for v in t.split(",")], default=None,
                    help="only these variants, by name (comma-separated), e.g. 'recipe in use,dropout 0'")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "recipe.json")
    args = ap.parse_args()
    report = {"threads": torch.get_num_threads()}
    if args.only in (None, "finetune"):
        report["finetune"] = finetune(args)
    if args.only in (None, "scratch"):
        report["scratch"] = scratch(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
