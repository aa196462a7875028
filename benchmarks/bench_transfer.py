"""Transfer beats scratch: fine-tune the pretrained base for 60 s against training from scratch for 5 min.

    python -m benchmarks.bench_transfer                       # Milton and the Sonnets, ~13 minutes
    python -m benchmarks.bench_transfer --corpora milton --finetune-s 60 --scratch-s 300

Each corpus: first 90% train, last 10% validation (an exact character cut). Both sides run in the
same process, one after the other, and report the validation loss over the whole held-out 10%.
Writes benchmarks/results/transfer.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from poetry_lab.core.checkpoint import load_model
from poetry_lab.core.model import ModelConfig, build_model
from poetry_lab.core.train import TrainConfig, Trainer, evaluate
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import decode_bytes
from poetry_lab.runs.prepare import copy_bundle, extend_vocab
from poetry_lab.runs.presets import (
    FINETUNE_MODEL,
    FINETUNE_TRAIN,
    SMALL_TEXT_DROPOUT,
    get_preset,
)

REPO = Path(__file__).resolve().parents[1]


def fit(model, vocab, train, val, seconds, train_kw) -> dict:
    cfg = TrainConfig(**{**train_kw, "minutes": seconds / 60, "patience": None, "seed": 0})
    trainer = Trainer(model, vocab.encode(train), vocab.encode(val), cfg)
    curve = []
    trainer.add_callback("on_eval", lambda t, p: curve.append((round(p.elapsed, 1), round(p.val_loss, 4))))
    result = trainer.fit()
    return {"best_val": round(result.best_val, 4), "bits": round(result.best_val / math.log(2), 4), "steps": result.steps,
            "elapsed_s": round(result.elapsed, 1), "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=str(REPO / "pretrained" / "base_forward.safetensors"))
    ap.add_argument("--compare-base", default=None, help="another base (e.g. the previous one), fine-tuned the same way in the same run")
    ap.add_argument("--corpora", default="milton,sonnets")
    ap.add_argument("--finetune-s", type=float, default=60)
    ap.add_argument("--scratch-s", type=float, default=300)
    ap.add_argument("--finetune-lr", type=float, default=FINETUNE_TRAIN["lr"])
    ap.add_argument("--finetune-dropout", type=float, default=FINETUNE_MODEL["dropout"])
    args = ap.parse_args()
    base = load_model(args.base, device="cpu")
    other = load_model(args.compare_base, device="cpu") if args.compare_base else None
    balanced = get_preset("balanced")
    report = {"base": Path(args.base).name, "compare_base": args.compare_base, "base_facts": {k: base.facts.get(k) for k in ("best_val_loss", "steps", "train_seconds")},
              "torch_threads": torch.get_num_threads()}
    for name in args.corpora.split(","):
        text = decode_bytes(resolve_corpus(name).read_bytes())
        cut = int(len(text) * 0.9)
        train, val = text[:cut], text[cut:]
        row = {"chars": len(text)}
        tuned = extend_vocab(copy_bundle(base), sorted(set(text) - set(base.vocab.chars)))
        row["base_zero_shot"] = round(evaluate(tuned.model, tuned.vocab.encode(val)), 4)
        tuned.model.config.dropout = args.finetune_dropout
        ft_kw = {**balanced.train, "lr": args.finetune_lr, "warmup_steps": 10, "eval_every_s": 10.0}
        print(f"{name}: fine-tuning the base for {args.finetune_s:g} s", flush=True)
        row["finetune"] = fit(tuned.model, tuned.vocab, train, val, args.finetune_s, ft_kw)
        if other is not None:
            was = extend_vocab(copy_bundle(other), sorted(set(text) - set(other.vocab.chars)))
            row["compare_base_zero_shot"] = round(evaluate(was.model, was.vocab.encode(val)), 4)
            was.model.config.dropout = args.finetune_dropout
            print(f"{name}: fine-tuning {Path(args.compare_base).name} for {args.finetune_s:g} s", flush=True)
            row["compare_base_finetune"] = fit(was.model, was.vocab, train, val, args.finetune_s, ft_kw)
        vocab = Vocab.from_text(text)
        model_kw = {**balanced.model, "dropout": SMALL_TEXT_DROPOUT}
        scratch = build_model(ModelConfig(vocab_size=len(vocab), **model_kw), seed=0, device=torch.device("cpu"))
        print(f"{name}: training from scratch for {args.scratch_s:g} s", flush=True)
        row["scratch"] = fit(scratch, vocab, train, val, args.scratch_s, {**balanced.train, "eval_every_s": 15.0})
        row["scratch_model"] = model_kw
        report[name] = row
        print(f"{name}: base zero-shot {row['base_zero_shot']:.4f}; fine-tuned {args.finetune_s:g}s {row['finetune']['best_val']:.4f} "
              f"({row['finetune']['steps']} steps); scratch {args.scratch_s:g}s {row['scratch']['best_val']:.4f} nats/char; "
              f"fine-tuned beats scratch by {row['scratch']['best_val'] - row['finetune']['best_val']:.4f}", flush=True)
        if other is not None:
            print(f"{name}: {Path(args.compare_base).name} zero-shot {row['compare_base_zero_shot']:.4f}, fine-tuned "
                  f"{row['compare_base_finetune']['best_val']:.4f} ({row['compare_base_finetune']['steps']} steps)", flush=True)
    out = REPO / "benchmarks" / "results" / "transfer.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
