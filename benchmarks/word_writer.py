"""Training Poetry Lab's word-level writer (issue 21; the model is poetry_lab.core.wordmodel.WordLSTM).

The writer is trained on the Gutenberg Poetry Corpus (the char base's train / held-out split: the last
1,000,000 characters held out), and `ship` turns its best file into pretrained/writer.safetensors (half
precision, with its card pretrained/writer.json), which the composer uses beside the shipped base:

    python -m benchmarks.word_writer prep --data /tmp/wordlm                     # tokenise (~20 s)
    python -m benchmarks.word_writer train --data /tmp/wordlm --minutes 95       # one thread; resumable
    python -m benchmarks.word_writer train --data /tmp/wordlm --init pretrained/writer.safetensors --lr 4e-4  # on from the shipped one
    python -m benchmarks.word_writer metred --out /tmp/metred.txt.gz                 # verse in measure (~40 s)
    python -m benchmarks.word_writer finetune --model /tmp/wordlm/word.safetensors --corpus /tmp/metred.txt.gz \
        --seconds 1200 --lr 2e-4 --out /tmp/wordlm/m20.safetensors                      # then 2400 s more at 1.5e-4
    python -m benchmarks.word_writer metred --rhymed --out /tmp/rhymed.txt.gz        # its lines that rhyme (~40 s)
    python -m benchmarks.word_writer finetune --model /tmp/wordlm/m60.safetensors --corpus /tmp/rhymed.txt.gz \
        --seconds 1200 --lr 1e-4 --out /tmp/wordlm/r20.safetensors                      # then 900 s twice more
    python -m benchmarks.word_writer ship /tmp/wordlm/r50.safetensors --out pretrained/writer.safetensors  # pretrained/README.md
    python -m benchmarks.word_writer finetune --data /tmp/wordlm --corpus sonnets --seconds 60 --out FT.safetensors
    python -m benchmarks.word_writer transfer --data /tmp/wordlm --corpus sonnets   # fine-tune 1 min against scratch 3 min
    python -m benchmarks.bench_readability build --writer words=pretrained/base_forward.safetensors@writer=FT.safetensors ...

Tokens are poetry_lab.core.wordmodel's (lower-case words, the marks , . ; : ! ? and the newline); the
VOCAB commonest of the training text, the rest one <unk> (never written). The model: embedding 256,
one LSTM layer (768), a projection back to 256 and an adaptive softmax (cutoffs 2,000 and 6,000): the
full 16,000-way softmax cost more than the LSTM and ran at 1,350 tokens/s against 2,000 here.
Held-out perplexity is per token; it is not comparable with the char base's nats per character (case,
quotes and dashes are dropped and <unk> hides the spelling of 7% of the held-out words).
Model files are Poetry Lab writer files (poetry_lab.core.checkpoint.save_writer: safetensors, the config,
vocabulary and facts in the metadata, no pickle); `load` also reads this experiment's earlier files.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from collections import Counter
from dataclasses import replace
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from poetry_lab.core.checkpoint import WRITER_FORMAT, WriterBundle, load_writer, save_writer
from poetry_lab.core.wordmodel import (
    FINETUNE_LR,
    TOKEN,
    WordConfig,
    WordLSTM,
    WordVocab,
    fit_words,
    held_out_nats,
    nats_per_char,
    tokenize,
)
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import normalise

VAL_CHARS = 1_000_000  # the char base's held-out tail
CUTOFFS = (2000, 6000)


def training_device() -> torch.device:
    """A lent machine's GPU where there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def small_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """CUTOFFS inside a vocabulary of this size (a small one: fewer bands)."""
    return tuple(c for c in CUTOFFS if c < vocab_size - 1) or (max(1, vocab_size // 2),)


def save(path: Path, model: WordLSTM, vocab: list[str], facts: dict) -> None:
    """A full-precision writer file (training's; `ship` halves it)."""
    save_writer(path, WriterBundle(model, WordVocab(vocab), facts), half=False)


def load(path: Path) -> tuple[WordLSTM, list[str], dict]:
    """A writer file, or one this experiment wrote before it had the writer format (config keys vocab, emb, hidden)."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") == WRITER_FORMAT:
        bundle = load_writer(path)
        return bundle.model, bundle.vocab.tokens, bundle.facts
    old = json.loads(meta["config"])
    model = WordLSTM(WordConfig(vocab_size=old["vocab"], emb=old["emb"], hidden=old["hidden"],
                                cutoffs=small_cutoffs(old["vocab"])))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), json.loads(meta["vocab"]), json.loads(meta["facts"])


def ship(path: Path, out: Path) -> dict:
    """The trained file as the shipped writer: half precision, and its card (out with .json) beside it."""
    model, vocab, facts = load(path)
    save_writer(out, WriterBundle(model, WordVocab(vocab), facts))
    card = {"file": out.name, "what": "the word-level writer of poems in form (poetry_lab.core.wordmodel.WordLSTM)",
            "config": model.config.to_dict(), "parameters": model.num_params(), "bytes": out.stat().st_size,
            "data": "Gutenberg Poetry Corpus (gutenberg_poetry), the char base's split: the last 1,000,000 characters held out",
            "training": facts, "made_by": f"python -m benchmarks.word_writer ship {path.name} --out {out}"}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    print(json.dumps(card))
    return card


def split(path: Path, out: Path, parts: int = 3) -> list[Path]:
    """The model file as `parts` half-precision files (each under the device tool's 16 MiB per file);
    join() puts them back together. The metadata rides on every part."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = sorted(load_file(str(path)).items(), key=lambda kv: -kv[1].numel())
    groups: list[dict] = [{} for _ in range(parts)]
    for name, t in tensors:  # the largest first, each to the lightest part so far
        min(groups, key=lambda g: sum(x.numel() for x in g.values()))[name] = t.half().contiguous()
    files = [out / f"{path.stem}.part{i}.safetensors" for i in range(parts)]
    for g, f in zip(groups, files):
        save_file(g, str(f), metadata=meta)
    return files


def join(parts: list[Path], out: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(parts[0]), "pt") as f:
        meta = f.metadata()
    tensors = {k: v.float() for p in parts for k, v in load_file(str(p)).items()}
    save_file(tensors, str(out), metadata=meta)


# ---- prep and train ------------------------------------------------------------------------------

def read_corpus(name: str) -> str:
    path = resolve_corpus(name)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return normalise(f.read()).replace("’", "'")


def prep(data: Path, vocab_size: int, corpus: str = "gutenberg_poetry", val_chars: int = VAL_CHARS) -> None:
    t0 = time.perf_counter()
    text = read_corpus(corpus)
    train_text, val_text = text[:-val_chars], text[-val_chars:]
    train, val = tokenize(train_text), tokenize(val_text)
    vocab = ["<unk>"] + [w for w, _ in Counter(train).most_common(vocab_size - 1)]
    stoi = {w: i for i, w in enumerate(vocab)}
    data.mkdir(parents=True, exist_ok=True)
    for name, toks in (("train", train), ("val", val)):
        np.save(data / f"{name}.npy", np.fromiter((stoi.get(w, 0) for w in toks), dtype=np.int32, count=len(toks)))
    (data / "vocab.json").write_text(json.dumps({"vocab": vocab, "corpus": corpus, "val_chars": len(val_text), "train_chars": len(train_text)}))
    print(f"{len(train):,} training and {len(val):,} held-out tokens, vocabulary {len(vocab):,}, {time.perf_counter() - t0:.0f} s")


def train(data: Path, emb: int, hidden: int, minutes: float, lr: float, batch: int, bptt: int, eval_every_s: float,
          val_tokens: int, max_steps: int | None = None, init: Path | None = None) -> dict:
    """AdamW, 200 warm-up steps, cosine to 0.1x over the minutes, clip 1.0; carried state. The best model by
    held-out perplexity goes to data/word.safetensors; data/word.resume.pt resumes a killed run.
    init: where there is no resume checkpoint, start from this writer file (the shipped one: its weights, a fresh
    optimizer and schedule, reading on from where its training stopped); its vocabulary must be prep's."""
    torch.manual_seed(0)
    device = training_device()
    meta = json.loads((data / "vocab.json").read_text())
    vocab = meta["vocab"]
    cfg = WordConfig(vocab_size=len(vocab), emb=emb, hidden=hidden, cutoffs=small_cutoffs(len(vocab)))
    tr = torch.from_numpy(np.load(data / "train.npy").astype(np.int64)).to(device)
    val = torch.from_numpy(np.load(data / "val.npy").astype(np.int64))[: val_tokens + 1].to(device)
    model = WordLSTM(cfg)
    model.init_weights(seed=0)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    n = (len(tr) - 1) // batch
    X, Y = tr[: n * batch].view(batch, n), tr[1 : n * batch + 1].view(batch, n)
    resume = data / "word.resume.pt"
    pos, step, elapsed, best, before = 0, 0, 0.0, math.inf, {}
    if resume.is_file():
        ck = torch.load(resume, weights_only=True, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        pos, step, elapsed, best, before = ck["pos"], ck["step"], ck["elapsed"], ck["best"], json.loads(ck.get("before", "{}"))
        print(f"resumed at step {step}", flush=True)
    elif init is not None:
        start, tokens, start_facts = load(init)
        if tokens != vocab or start.config.to_dict() != cfg.to_dict():
            raise SystemExit(f"{init} has another vocabulary or shape than {data}'s prep and --emb/--hidden")
        model.load_state_dict({k: v.float() for k, v in start.state_dict().items()})
        pos = start_facts.get("step", 0) * start_facts.get("bptt", bptt) % max(n - bptt, 1)  # on into text it has not read
        before = {"continued_from": {k: start_facts.get(k) for k in ("step", "seconds", "val_ppl", "epochs", "lr")}}
        print(f"from {init} (step {start_facts.get('step')}, perplexity {start_facts.get('val_ppl')}), reading on at {pos * batch:,}", flush=True)

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        nll, state = 0.0, None
        for i in range(0, len(val) - 1, 512):
            y = val[i + 1 : i + 513][None]
            f, state = model(val[i : i + y.shape[1]][None], state)
            nll += model.nll(f, y).item()
        model.train()
        return nll / (len(val) - 1)

    total, state = minutes * 60, None
    t_start, last_eval = time.perf_counter() - elapsed, time.perf_counter()
    facts: dict = {}
    while True:
        now = time.perf_counter() - t_start
        done = now > total or (max_steps is not None and step >= max_steps)
        if done or time.perf_counter() - last_eval > eval_every_s:
            last_eval = time.perf_counter()
            v = evaluate()
            facts = {"step": step, "seconds": round(now, 1), "val_nats_per_token": round(v, 4), "val_ppl": round(math.exp(v), 1),
                     "epochs": round(step * batch * bptt / len(tr), 4), "tokens_per_s": round(step * batch * bptt / max(now, 1e-9)),
                     "config": cfg.to_dict(), "lr": lr, "batch": batch, "bptt": bptt, "threads": torch.get_num_threads(),
                     "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", **before}
            print(f"EVAL {json.dumps(facts)}", flush=True)
            if v < best:
                best = v
                save(data / "word.safetensors", model.cpu(), vocab, facts)
                model.to(device)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "pos": pos, "step": step, "elapsed": now, "best": best,
                        "before": json.dumps(before)}, resume)
            if done:
                return facts
        frac = min(now / total, 1.0)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        if pos + bptt >= n:
            pos, state = 0, None
        x, y = X[:, pos : pos + bptt], Y[:, pos : pos + bptt]
        pos += bptt
        if state is not None:
            state = tuple(s.detach() for s in state)
        f, state = model(x, state)
        loss = model.nll(f, y) / y.numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} {now:.0f}s loss {loss.item():.3f}", flush=True)


def metred(out: Path, corpus: str = "gutenberg_poetry", lo: int = 9, hi: int = 11, min_lines: int = 4,
           val_chars: int = VAL_CHARS, rhymed: bool = False, heldout: bool = False, quatrains: bool = False) -> dict:
    """The verse in measure of the training part (the held-out tail left out): every run of at least `min_lines`
    lines of lo..hi syllables, each word a known one (poetry_lab.compose.words), runs a blank line apart; gzipped
    to `out`. The shipped writer was fine-tuned an hour on it (`finetune --corpus OUT`, pretrained/README.md): four
    blind readers rated its sonnet quatrains 2.71 against 2.31 for the writer before, in one pass (2026-12-03; README).
    With `rhymed`, only lines whose last word truly rhymes with the last word of a line one or two before or
    after (couplets, alternate rhymes) are kept, in runs of at least `min_lines` (7.3 M characters): the shipped
    writer's next 50 minutes, rated 2.62 against 2.39 before them by four blind readers in one pass (README, run 14).
    With `heldout`, the same from the held-out tail instead (to measure a writer on verse of the register it learns).
    With `quatrains`, only a sonnet's quatrains: four lines rhymed ABAB (A not rhyming with B) whose fourth ends a
    sentence (. ! or ?), as the composer writes them; the quatrains that follow one another in a run stay together."""
    from poetry_lab.analysis.poetics import FULL_RHYME, rhyme_strength
    from poetry_lab.compose.words import load_lexicon

    t0 = time.perf_counter()
    info = load_lexicon().info
    text = read_corpus(corpus)
    lines = (text[-val_chars:] if heldout else text[:-val_chars]).split("\n")

    def words(line: str) -> list[str]:
        return [w for w in TOKEN.findall(line.lower()) if w[0].isalpha()]

    def measured(line: str) -> bool:
        found = words(line)
        return all(w in info for w in found) and lo <= sum(info[w].syllables for w in found) <= hi

    def rhymes(a: str, b: str) -> bool:
        return a != b and rhyme_strength(a, b) == FULL_RHYME

    def rhyming(run: list[str]) -> list[list[str]]:
        """The stretches of `run` whose lines each rhyme with a line one or two away."""
        ends = [words(line)[-1] for line in run]  # a measured line has a word
        keep = [any(rhymes(ends[i], ends[j]) for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < len(run)) for i in range(len(run))]
        return [[line for line, _ in group] for kept, group in groupby(zip(run, keep), key=itemgetter(1)) if kept]

    def abab(run: list[str]) -> list[list[str]]:
        """The stretches of `run` made of ABAB quatrains that each end a sentence."""
        ends = [words(line)[-1] for line in run]
        out, i, last = [], 0, -1
        while i + 4 <= len(run):
            a, b, c, d = ends[i : i + 4]
            if rhymes(a, c) and rhymes(b, d) and not rhymes(a, b) and run[i + 3].rstrip()[-1:] in ".!?":
                if last != i:
                    out.append([])
                out[-1] += run[i : i + 4]
                i = last = i + 4
            else:
                i += 1
        return out

    blocks, run = [], []
    for line in [*lines, ""]:
        if line.strip() and measured(line):
            run.append(line)
            continue
        cut = abab if quatrains else rhyming if rhymed else None
        for part in cut(run) if cut and len(run) >= min_lines else [run]:
            if len(part) >= min_lines:
                blocks.append("\n".join(part))
        run = []
    text = "\n\n".join(blocks) + "\n"
    with gzip.open(out, "wt", encoding="utf-8") as f:
        f.write(text)
    facts = {"out": str(out), "lines": len(lines), "blocks": len(blocks), "chars": len(text), "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(facts))
    return facts


def read_as(model: WordLSTM, vocab: list[str], text: str) -> torch.Tensor:
    """`text` as `model` reads it (WriterBundle.encode: each line led by its end word for a planning writer)."""
    return torch.as_tensor(WriterBundle(model, WordVocab(vocab)).encode(text))


def finetune(model_path: Path, corpus: str, seconds: float, out: Path, lr: float = FINETUNE_LR, plan: bool = False,
             decay: bool = False, batch: int = 16) -> dict:
    """The base word model trained `seconds` more on a poet's file (its words in the base's vocabulary,
    the rest <unk>); written to `out`. With `plan`, the model becomes a planning writer (WordConfig.plans)
    and learns the file with each line led by its end word; with `decay`, the rate falls linearly to 0.
    On a GPU where there is one (a lent machine's run: `batch` 64 or more keeps it busy)."""
    torch.manual_seed(0)
    device = training_device()
    model, vocab, facts = load(model_path)
    if plan:
        model.config = replace(model.config, plans=True)
    ids = read_as(model, vocab, read_corpus(corpus))
    model.to(device)
    step = fit_words(model, ids.to(device), seconds, lr, batch=batch, decay=decay)
    done = {**facts, "finetuned_on": corpus, "finetune_seconds": seconds, "finetune_steps": step, "finetune_lr": lr,
            "finetune_decay": decay, "finetune_batch": batch, "plans": model.config.plans,
            "unk_share": round(float((ids == 0).float().mean()), 4)}
    save(out, model.cpu().eval(), vocab, done)
    print(f"fine-tuned {step} steps on {corpus}; {done['unk_share']:.1%} of its tokens unknown")
    return done


def transfer(model_path: Path, corpus: str, finetune_s: float = 60, scratch_s: float = 180, lr: float = FINETUNE_LR,
             scratch_lr: float = 3e-3) -> dict:
    """Held-out nats per token on the last 10% of a poet's file: the base as it is, the base fine-tuned
    `finetune_s` on the first 90%, and a model of the same shape and vocabulary trained `scratch_s` from scratch."""
    torch.manual_seed(0)
    base, vocab, facts = load(model_path)
    text = read_corpus(corpus)
    spans = list(TOKEN.finditer(text.lower().replace("’", "'")))
    cut = int(len(spans) * 0.9)
    while cut < len(spans) - 1 and spans[cut - 1].group() != "\n":  # the held-out part starts a line (a planning writer's plans)
        cut += 1
    train_ids, val_ids = (read_as(base, vocab, part) for part in (text[: spans[cut].start()], text[spans[cut].start():]))
    out = {"corpus": corpus, "val_tokens": len(val_ids), "base": round(held_out_nats(base, val_ids), 4)}
    out["finetune_steps"] = fit_words(base, train_ids, finetune_s, lr)
    out[f"finetuned_{finetune_s:g}s"] = round(held_out_nats(base, val_ids), 4)
    scratch = WordLSTM(base.config)
    scratch.init_weights(seed=0)
    out["scratch_steps"] = fit_words(scratch, train_ids, scratch_s, scratch_lr)
    out[f"scratch_{scratch_s:g}s"] = round(held_out_nats(scratch, val_ids), 4)
    # per character of the held-out text (as the char model counts; the writer drops case, quotes and dashes)
    val_chars = len(text) - spans[cut].start()
    out["val_chars"] = val_chars
    for key in ("base", f"finetuned_{finetune_s:g}s", f"scratch_{scratch_s:g}s"):
        out[f"{key}_nats_per_char"] = round(nats_per_char(out[key], len(val_ids), val_chars), 4)
    print(json.dumps(out))
    return out


def heldout(models: list[Path], corpus: str = "gutenberg_poetry", chars: int = 250_000, val_chars: int = VAL_CHARS) -> dict:
    """Nats per character of the first `chars` characters of the corpus's held-out tail (cut at a line), each
    model reading it as it reads text (a planning writer's lines led by their end words: the same text, so the
    numbers compare)."""
    text = read_corpus(corpus)[-val_chars:][:chars]
    text = text[: text.rfind("\n") + 1]
    out = {"corpus": corpus, "chars": len(text)}
    for path in models:
        model, vocab, _ = load(path)
        ids = read_as(model, vocab, text)
        out[str(path)] = round(nats_per_char(held_out_nats(model, ids), len(ids) - 1, len(text)), 4)
    print(json.dumps(out))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prep")
    p.add_argument("--vocab", type=int, default=16000)
    p.add_argument("--val-chars", type=int, default=VAL_CHARS)
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, default=95)
    t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--hidden", type=int, default=768)
    t.add_argument("--emb", type=int, default=256)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--bptt", type=int, default=64)
    t.add_argument("--eval-every", type=float, default=900)
    t.add_argument("--val-tokens", type=int, default=50000)
    t.add_argument("--init", type=Path, default=None, help="start from this writer file (e.g. pretrained/writer.safetensors)")
    f = sub.add_parser("finetune", help="the base trained SECONDS more on a poet's file")
    f.add_argument("--model", type=Path, default=None, help="default: DATA/word.safetensors")
    f.add_argument("--corpus", required=True)
    f.add_argument("--seconds", type=float, default=60)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--plan", action="store_true", help="make it a planning writer: each line led by its end word")
    f.add_argument("--decay", action="store_true", help="the learning rate falls linearly to 0 over the seconds")
    f.add_argument("--batch", type=int, default=16, help="streams a step (64 or more on a GPU)")
    tr = sub.add_parser("transfer", help="fine-tune 1 minute against scratch 3 minutes, held-out 10%% of a poet's file")
    tr.add_argument("--model", type=Path, default=None, help="default: DATA/word.safetensors")
    tr.add_argument("--corpus", default="sonnets")
    tr.add_argument("--finetune-s", type=float, default=60)
    tr.add_argument("--scratch-s", type=float, default=180)
    for s in (f, tr):
        s.add_argument("--lr", type=float, default=FINETUNE_LR, help="the fine-tune's learning rate")
    me = sub.add_parser("metred", help="the training part's runs of lines in measure (9-11 syllables), for a fine-tune")
    me.add_argument("--out", type=Path, required=True)
    me.add_argument("--corpus", default="gutenberg_poetry")
    me.add_argument("--min-lines", type=int, default=4)
    me.add_argument("--val-chars", type=int, default=VAL_CHARS)
    me.add_argument("--rhymed", action="store_true", help="only lines that rhyme with a neighbour (couplets, alternate rhymes)")
    me.add_argument("--lo", type=int, default=9, help="fewest syllables of a line in measure")
    me.add_argument("--hi", type=int, default=11, help="most syllables of a line in measure")
    me.add_argument("--heldout", action="store_true", help="from the held-out tail, not the training part")
    me.add_argument("--quatrains", action="store_true", help="only ABAB quatrains that end a sentence (a sonnet's)")
    ho = sub.add_parser("heldout", help="nats per character of the corpus's held-out tail, each model reading it as it reads text")
    ho.add_argument("models", type=Path, nargs="+")
    ho.add_argument("--chars", type=int, default=250_000)
    ho.add_argument("--corpus", default="gutenberg_poetry")
    j = sub.add_parser("join", help="one model file from the parts split() wrote (a GPU run's result)")
    j.add_argument("parts", type=Path, nargs="+")
    j.add_argument("--out", type=Path, required=True)
    sp = sub.add_parser("split", help="a model file as half-precision parts under 16 MiB each")
    sp.add_argument("model", type=Path)
    sp.add_argument("--out", type=Path, required=True)
    sh = sub.add_parser("ship", help="a trained file as the shipped writer (half precision) and its card")
    sh.add_argument("model", type=Path)
    sh.add_argument("--out", type=Path, default=Path("pretrained/writer.safetensors"))
    p.add_argument("--corpus", default="gutenberg_poetry", help="a bundled corpus name or a file (default: the Gutenberg Poetry Corpus)")
    for s in (p, t, f, tr):
        s.add_argument("--data", type=Path, default=Path("/tmp/wordlm"))
        s.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.command == "metred":
        metred(args.out, args.corpus, args.lo, args.hi, args.min_lines, args.val_chars, args.rhymed, args.heldout, args.quatrains)
        return
    if args.command == "heldout":
        heldout(args.models, args.corpus, args.chars)
        return
    if args.command in ("join", "split", "ship"):
        {"join": lambda: join(args.parts, args.out), "split": lambda: split(args.model, args.out),
         "ship": lambda: ship(args.model, args.out)}[args.command]()
        return
    torch.set_num_threads(args.threads)
    if args.command == "prep":
        prep(args.data, args.vocab, args.corpus, args.val_chars)
    elif args.command == "train":
        train(args.data, args.emb, args.hidden, args.minutes, args.lr, args.batch, args.bptt,
              args.eval_every, args.val_tokens, args.max_steps, args.init)
    elif args.command == "transfer":
        transfer(args.model or args.data / "word.safetensors", args.corpus, args.finetune_s, args.scratch_s, args.lr)
    else:
        finetune(args.model or args.data / "word.safetensors", args.corpus, args.seconds, args.out, args.lr, args.plan, args.decay, args.batch)


if __name__ == "__main__":
    main()
