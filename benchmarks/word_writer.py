"""Experiment (issue 21): does a word-level writer make more sense than the character LSTM, per CPU-second?

Not part of the app yet. A word-level LSTM is trained on the Gutenberg Poetry Corpus (the char base's
train / held-out split: the last 1,000,000 characters held out) and writes sonnet quatrains (ABAB, ten
syllables a line, true rhymes by the CMU dictionary, the fourth line ends a sentence, no line of the
corpus copied) for the blind readability benchmark:

    python -m benchmarks.word_writer prep --data /tmp/wordlm                     # tokenise (~20 s)
    python -m benchmarks.word_writer train --data /tmp/wordlm --minutes 95       # one thread; resumable
    python -m benchmarks.word_writer write --data /tmp/wordlm --pairs 24 --out DIR
    python -m benchmarks.word_writer finetune --data /tmp/wordlm --corpus sonnets --seconds 60 --out FT.safetensors
    python -m benchmarks.word_writer write --data /tmp/wordlm --model FT.safetensors --corpus sonnets,gutenberg_poetry --name word_ft --out DIR2
    python -m benchmarks.word_writer transfer --data /tmp/wordlm --corpus sonnets   # fine-tune 1 min against scratch 3 min
    python -m benchmarks.bench_readability build --writer char=pretrained/base_forward.safetensors --extra DIR --out RUN

Tokens: lower-case words (letters and inner apostrophes), the marks , . ; : ! ? and the newline; the
VOCAB commonest of the training text, the rest one <unk> (never written). The model: embedding 256,
one LSTM layer (768), a projection back to 256 and an adaptive softmax (cutoffs 2,000 and 6,000): the
full 16,000-way softmax cost more than the LSTM and ran at 1,350 tokens/s against 2,000 here.
Held-out perplexity is per token; it is not comparable with the char base's nats per character (case,
quotes and dashes are dropped and <unk> hides the spelling of 7% of the held-out words).

Writing: each line is 32 candidates sampled word by word at the temperature from what the form allows
(a word whose syllables fit, a true rhyme of the line's partner, or for a first line a word with three
rhymes or more among the line-ending words; no content word twice in a line, no word twice in a row,
no mark after "the", "and", "of"...); the best by mean log-probability per token plus the metre score
(poetry_lab.analysis.poetics.scan_line) is kept. A line starts with a capital, "i" is "I".
Model files are safetensors with the config and vocabulary in the metadata (no pickle).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from benchmarks.bench_compose import true_rhyme
from poetry_lab.analysis.poetics import scan_line
from poetry_lab.analysis.pronounce import FUNCTION_WORDS
from poetry_lab.compose.words import NO_END, load_lexicon
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import normalise

TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[,.;:!?]|\n")
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
MARKS, STOPS = frozenset(",.;:!?"), frozenset(".!?")
VAL_CHARS = 1_000_000  # the char base's held-out tail
CUTOFFS = [2000, 6000]
SYLLABLES = 10
FINETUNE_LR = 1e-4  # held out on the Sonnets after a minute: 4.41 nats/token at 1e-4, 4.44 at 3e-4, 5.03 at 1e-3 (base 4.60)


@dataclass
class WordConfig:
    vocab: int = 16000
    emb: int = 256
    hidden: int = 768


class WordLSTM(nn.Module):
    def __init__(self, cfg: WordConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.emb)
        self.rnn = nn.LSTM(cfg.emb, cfg.hidden, batch_first=True)
        self.proj = nn.Linear(cfg.hidden, cfg.emb)
        cutoffs = [c for c in CUTOFFS if c < cfg.vocab - 1] or [max(1, cfg.vocab // 2)]  # a small vocabulary: fewer clusters
        self.head = nn.AdaptiveLogSoftmaxWithLoss(cfg.emb, cfg.vocab, cutoffs=cutoffs, div_value=4.0)
        nn.init.normal_(self.embed.weight, 0, 0.05)
        with torch.no_grad():  # the forget gate starts open
            self.rnn.bias_ih_l0[cfg.hidden:2 * cfg.hidden].fill_(1.0)
            self.rnn.bias_hh_l0[cfg.hidden:2 * cfg.hidden].zero_()

    def forward(self, x, state=None):
        h, state = self.rnn(self.embed(x), state)
        return self.proj(h), state

    def nll(self, feats, y) -> torch.Tensor:
        """Summed negative log-likelihood of the targets."""
        return -self.head(feats.reshape(-1, feats.shape[-1]), y.reshape(-1)).output.sum()


def save(path: Path, model: WordLSTM, vocab: list[str], facts: dict) -> None:
    """Weights as safetensors, the config, vocabulary and facts in its metadata (no pickle)."""
    meta = {"config": json.dumps(asdict(model.cfg)), "vocab": json.dumps(vocab), "facts": json.dumps(facts)}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


def load(path: Path) -> tuple[WordLSTM, list[str], dict]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    model = WordLSTM(WordConfig(**json.loads(meta["config"])))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), json.loads(meta["vocab"]), json.loads(meta["facts"])


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
    train, val = TOKEN.findall(train_text.lower()), TOKEN.findall(val_text.lower())
    vocab = ["<unk>"] + [w for w, _ in Counter(train).most_common(vocab_size - 1)]
    stoi = {w: i for i, w in enumerate(vocab)}
    data.mkdir(parents=True, exist_ok=True)
    for name, toks in (("train", train), ("val", val)):
        np.save(data / f"{name}.npy", np.fromiter((stoi.get(w, 0) for w in toks), dtype=np.int32, count=len(toks)))
    (data / "vocab.json").write_text(json.dumps({"vocab": vocab, "corpus": corpus, "val_chars": len(val_text), "train_chars": len(train_text)}))
    print(f"{len(train):,} training and {len(val):,} held-out tokens, vocabulary {len(vocab):,}, {time.perf_counter() - t0:.0f} s")


def train(data: Path, cfg: WordConfig, minutes: float, lr: float, batch: int, bptt: int, eval_every_s: float,
          val_tokens: int, max_steps: int | None = None) -> dict:
    """AdamW, 200 warm-up steps, cosine to 0.1x over the minutes, clip 1.0; carried state. The best model by
    held-out perplexity goes to data/word.safetensors; data/word.resume.pt resumes a killed run."""
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    meta = json.loads((data / "vocab.json").read_text())
    vocab = meta["vocab"]
    cfg.vocab = len(vocab)
    tr = torch.from_numpy(np.load(data / "train.npy").astype(np.int64)).to(device)
    val = torch.from_numpy(np.load(data / "val.npy").astype(np.int64))[: val_tokens + 1].to(device)
    model = WordLSTM(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    n = (len(tr) - 1) // batch
    X, Y = tr[: n * batch].view(batch, n), tr[1 : n * batch + 1].view(batch, n)
    resume = data / "word.resume.pt"
    pos, step, elapsed, best = 0, 0, 0.0, math.inf
    if resume.is_file():
        ck = torch.load(resume, weights_only=True, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        pos, step, elapsed, best = ck["pos"], ck["step"], ck["elapsed"], ck["best"]
        print(f"resumed at step {step}", flush=True)

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
                     "config": asdict(cfg), "lr": lr, "batch": batch, "bptt": bptt, "threads": torch.get_num_threads(),
                     "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
            print(f"EVAL {json.dumps(facts)}", flush=True)
            if v < best:
                best = v
                save(data / "word.safetensors", model.cpu(), vocab, facts)
                model.to(device)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "pos": pos, "step": step, "elapsed": now, "best": best}, resume)
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


def _fit(model: WordLSTM, ids: torch.Tensor, seconds: float, lr: float, batch: int = 16, bptt: int = 64) -> int:
    """Train `model` on `ids` for `seconds` (constant rate after 20 warm-up steps, carried state); the steps."""
    n = (len(ids) - 1) // batch
    X, Y = ids[: n * batch].view(batch, n), ids[1 : n * batch + 1].view(batch, n)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    model.train()
    t0, step, pos, state = time.perf_counter(), 0, 0, None
    while time.perf_counter() - t0 < seconds:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20)
        if pos + bptt >= n:
            pos, state = 0, None
        f, state = model(X[:, pos : pos + bptt], state)
        loss = model.nll(f, Y[:, pos : pos + bptt]) / Y[:, pos : pos + bptt].numel()
        pos += bptt
        state = tuple(s.detach() for s in state)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
    return step


@torch.no_grad()
def held_out(model: WordLSTM, ids: torch.Tensor) -> float:
    """Mean nats per token of `ids` (read in one stream)."""
    model.eval()
    f, _ = model(ids[:-1][None])
    return model.nll(f, ids[1:][None]).item() / (len(ids) - 1)


def poet_ids(vocab: list[str], corpus: str) -> torch.Tensor:
    stoi = {w: i for i, w in enumerate(vocab)}
    return torch.tensor([stoi.get(w, 0) for w in TOKEN.findall(read_corpus(corpus).lower())], dtype=torch.long)


def finetune(model_path: Path, corpus: str, seconds: float, out: Path, lr: float = FINETUNE_LR) -> dict:
    """The base word model trained `seconds` more on a poet's file (its words in the base's vocabulary,
    the rest <unk>); written to `out`."""
    torch.manual_seed(0)
    model, vocab, facts = load(model_path)
    ids = poet_ids(vocab, corpus)
    step = _fit(model, ids, seconds, lr)
    done = {**facts, "finetuned_on": corpus, "finetune_seconds": seconds, "finetune_steps": step,
            "unk_share": round(float((ids == 0).float().mean()), 4)}
    save(out, model.eval(), vocab, done)
    print(f"fine-tuned {step} steps on {corpus}; {done['unk_share']:.1%} of its tokens unknown")
    return done


def transfer(model_path: Path, corpus: str, finetune_s: float = 60, scratch_s: float = 180, lr: float = FINETUNE_LR,
             scratch_lr: float = 3e-3) -> dict:
    """Held-out nats per token on the last 10% of a poet's file: the base as it is, the base fine-tuned
    `finetune_s` on the first 90%, and a model of the same shape and vocabulary trained `scratch_s` from scratch."""
    torch.manual_seed(0)
    base, vocab, facts = load(model_path)
    ids = poet_ids(vocab, corpus)
    cut = int(len(ids) * 0.9)
    train_ids, val_ids = ids[:cut], ids[cut:]
    out = {"corpus": corpus, "val_tokens": len(val_ids), "base": round(held_out(base, val_ids), 4)}
    out["finetune_steps"] = _fit(base, train_ids, finetune_s, lr)
    out[f"finetuned_{finetune_s:g}s"] = round(held_out(base, val_ids), 4)
    scratch = WordLSTM(base.cfg)
    out["scratch_steps"] = _fit(scratch, train_ids, scratch_s, scratch_lr)
    out[f"scratch_{scratch_s:g}s"] = round(held_out(scratch, val_ids), 4)
    print(json.dumps(out))
    return out


# ---- write ---------------------------------------------------------------------------------------

def line_key(line: str) -> str:
    return " ".join(WORD.findall(line.lower().replace("’", "'")))


def shown(tokens: list[str]) -> str:
    out = ""
    for k, w in enumerate(tokens):
        w = {"i": "I", "o": "O"}.get(w, w.replace("i'", "I'") if w.startswith("i'") else w)
        if k == 0 or tokens[k - 1] in STOPS:
            w = w[:1].upper() + w[1:]
        out += w if w in MARKS else (" " + w if out else w)
    return out


class QuatrainWriter:
    """The word model held to the sonnet's first quatrain; see the module docstring."""

    def __init__(self, model: WordLSTM, vocab: list[str], corpus_lines: set[str], candidates: int = 32, temperature: float = 0.8):
        self.model, self.vocab, self.corpus = model, vocab, corpus_lines
        self.candidates, self.temperature = candidates, temperature
        self.stoi = {w: i for i, w in enumerate(vocab)}
        sd = model.state_dict()
        self.table = sd["embed.weight"] @ sd["rnn.weight_ih_l0"].T + sd["rnn.bias_ih_l0"] + sd["rnn.bias_hh_l0"]
        self.w_hh = sd["rnn.weight_hh_l0"].T.contiguous()
        lex = self.lex = load_lexicon()
        V = len(vocab)
        self.syl = np.array([lex.info[w].syllables if w in lex.info and i else 0 for i, w in enumerate(vocab)])
        self.word = np.array([w in lex.info and i > 0 for i, w in enumerate(vocab)])
        self.ends = np.array([self.word[i] and lex.ends_line(w) for i, w in enumerate(vocab)])
        self.mark = np.array([w in MARKS for w in vocab])
        self.stop = np.array([w in STOPS for w in vocab])
        self.function = np.array([w in FUNCTION_WORDS for w in vocab])
        self._rhymes: dict[str, np.ndarray] = {}
        self.rhymeable = np.zeros(V, bool)
        for i, w in enumerate(vocab):
            if self.ends[i]:
                self.rhymeable[i] = self.rhymes(w).sum() >= 3
        self.newline = self.stoi["\n"]

    def rhymes(self, word: str) -> np.ndarray:
        if word not in self._rhymes:
            m = np.zeros(len(self.vocab), bool)
            m[[self.stoi[r] for r in self.lex.rhymes_of(word) if r in self.stoi]] = True
            self._rhymes[word] = m & self.ends
        return self._rhymes[word]

    @torch.no_grad()
    def step(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        i, f, g, o = (self.table[ids] + h @ self.w_hh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return self.model.head.log_prob(self.model.proj(h)), h, c

    def _allowed(self, row: dict, end_mask: np.ndarray, closes: bool) -> np.ndarray:
        toks = row["toks"]
        if row["ended"]:  # the line's syllables are full: a mark, then the newline
            if toks[-1] in MARKS:
                return np.array([self.newline] if not closes or toks[-1] in STOPS else [], np.int64)
            return np.flatnonzero(self.stop if closes else self.mark).tolist() + ([] if closes else [self.newline])
        left = SYLLABLES - row["syl"]
        m = self.word & (self.syl < left)
        for w in toks:
            if w not in MARKS and not self.function[self.stoi[w]]:
                m[self.stoi[w]] = False
        m |= self.word & (self.syl == left) & end_mask
        if toks:
            m[self.stoi[toks[-1]]] = False
            if toks[-1] not in MARKS and toks[-1] not in NO_END:
                m |= self.mark & ~self.stop
        return np.flatnonzero(m)

    @torch.no_grad()
    def line(self, h0, c0, rng, partner: str | None, closes: bool, used: set[str]) -> list[dict]:
        B = self.candidates
        end_mask = self.rhymes(partner).copy() if partner else self.rhymeable.copy()
        end_mask[[self.stoi[w] for w in used if w in self.stoi]] = False
        h, c = h0.repeat(B, 1), c0.repeat(B, 1)
        logp = self.model.head.log_prob(self.model.proj(h)).numpy()
        rows = [{"toks": [], "syl": 0, "lp": 0.0, "ended": False, "done": False, "dead": False} for _ in range(B)]
        for _ in range(40):
            picks = np.full(B, self.newline)
            for r, row in enumerate(rows):
                if row["done"]:
                    continue
                allowed = self._allowed(row, end_mask, closes)
                if len(allowed) == 0:
                    row["done"] = row["dead"] = True
                    continue
                z = logp[r, allowed] / self.temperature
                p = np.exp(z - z.max())
                j = int(allowed[min(np.searchsorted(np.cumsum(p), rng.random() * p.sum()), len(allowed) - 1)])
                row["lp"] += float(logp[r, j])
                picks[r] = j
                if j == self.newline:
                    row["done"] = True
                else:
                    w = self.vocab[j]
                    row["toks"].append(w)
                    if w not in MARKS:
                        row["syl"] += int(self.syl[j])
                        row["ended"] = row["syl"] == SYLLABLES
            fresh = [r for r, row in enumerate(rows) if row["done"] and not row["dead"] and "h" not in row]
            out, h, c = self.step(torch.as_tensor(picks), h, c)
            logp = out.numpy()
            for r in fresh:
                rows[r]["h"], rows[r]["c"] = h[r : r + 1].clone(), c[r : r + 1].clone()
            if all(row["done"] for row in rows):
                break
        return [row for row in rows if "h" in row]

    @torch.no_grad()
    def quatrain(self, seed: int) -> tuple[list[str], list[str], int] | None:
        """(lines, end words, copied candidates dropped), or None where a line could not be written."""
        rng = np.random.default_rng(seed)
        h = c = torch.zeros(1, self.model.cfg.hidden)
        for _ in range(2):
            _, h, c = self.step(torch.as_tensor([self.newline]), h, c)
        lines, ends, dropped = [], [], 0
        for i in range(4):
            rows = self.line(h, c, rng, ends[i - 2] if i >= 2 else None, i == 3, set(ends))
            fresh = [r for r in rows if line_key(shown(r["toks"])) not in self.corpus]
            dropped += len(rows) - len(fresh)
            if not fresh:
                return None
            best = max(fresh, key=lambda r: r["lp"] / (len(r["toks"]) + 1) + (scan_line(shown(r["toks"]), "iambic pentameter")[1] or 0.0))
            lines.append(shown(best["toks"]))
            ends.append([w for w in best["toks"] if w not in MARKS][-1])
            h, c = best["h"], best["c"]
        return lines, ends, dropped


def corpus_lines(corpora: str) -> set[str]:
    """The lines of three words or more of each comma-separated corpus, as line_key reads them (the copy check)."""
    return {k for name in corpora.split(",") for k in map(line_key, read_corpus(name).split("\n")) if len(k.split()) >= 3}


def write(model_path: Path, pairs: int, out: Path | None, name: str, candidates: int, temperature: float, show: bool,
          corpus: str = "gutenberg_poetry") -> dict:
    """Quatrains for seeds 1..pairs; with `out`, a run folder bench_readability's --extra reads."""
    model, vocab, facts = load(model_path)
    writer = QuatrainWriter(model, vocab, corpus_lines(corpus), candidates, temperature)
    entries, rows = [], []
    for seed in range(1, pairs + 1):
        t0 = time.perf_counter()
        got = writer.quatrain(seed)
        if got is None:
            print(f"seed {seed}: a line could not be written")
            continue
        lines, ends, dropped = got
        seconds = time.perf_counter() - t0
        if show:
            print("\n".join(lines) + f"\n({seconds:.1f} s)\n", flush=True)
        ws = [w for ln in lines for w in WORD.findall(ln.lower())]
        rows.append({"rhymed": true_rhyme(ends[0], ends[2]) + true_rhyme(ends[1], ends[3]),
                     "in_range": sum(10 <= scan_line(ln, "iambic pentameter")[0] <= 11 for ln in lines),
                     "real": sum(w in writer.lex.info for w in ws), "words": len(ws), "seconds": seconds, "dropped": dropped})
        entries.append({"writer": name, "seed": seed, "poetry_lab_text": "\n".join(lines), "poem_text": "\n".join(lines)})
    n = max(len(rows), 1)
    summary = {"spec": f"word-level LSTM {model_path.name}: {json.dumps(facts)}", "steps": facts.get("step"),
               "true_rhyme": round(sum(r["rhymed"] for r in rows) / (2 * n), 4),
               "in_range": round(sum(r["in_range"] for r in rows) / (4 * n), 4),
               "real_words": round(sum(r["real"] for r in rows) / max(sum(r["words"] for r in rows), 1), 4),
               "copied_lines": 0, "copied_candidates_dropped": sum(r["dropped"] for r in rows),
               "seconds": round(sum(r["seconds"] for r in rows) / n, 3), "poems": len(rows)}
    print(summary)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        writers = {name: {"spec": summary["spec"], "model": str(model_path), "options": {"candidates": candidates, "temperature": temperature}}}
        (out / "key.json").write_text(json.dumps({"pairs": entries, "writers": writers}, indent=1))
        (out / "form.json").write_text(json.dumps({"writers": {name: summary}}, indent=1))
    return summary


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
    f = sub.add_parser("finetune", help="the base trained SECONDS more on a poet's file")
    f.add_argument("--model", type=Path, default=None, help="default: DATA/word.safetensors")
    f.add_argument("--corpus", required=True)
    f.add_argument("--seconds", type=float, default=60)
    f.add_argument("--out", type=Path, required=True)
    tr = sub.add_parser("transfer", help="fine-tune 1 minute against scratch 3 minutes, held-out 10%% of a poet's file")
    tr.add_argument("--model", type=Path, default=None, help="default: DATA/word.safetensors")
    tr.add_argument("--corpus", default="sonnets")
    tr.add_argument("--finetune-s", type=float, default=60)
    tr.add_argument("--scratch-s", type=float, default=180)
    for s in (f, tr):
        s.add_argument("--lr", type=float, default=FINETUNE_LR, help="the fine-tune's learning rate")
    j = sub.add_parser("join", help="one model file from the parts split() wrote (a GPU run's result)")
    j.add_argument("parts", type=Path, nargs="+")
    j.add_argument("--out", type=Path, required=True)
    sp = sub.add_parser("split", help="a model file as half-precision parts under 16 MiB each")
    sp.add_argument("model", type=Path)
    sp.add_argument("--out", type=Path, required=True)
    w = sub.add_parser("write")
    w.add_argument("--model", type=Path, default=None, help="default: DATA/word.safetensors")
    w.add_argument("--pairs", type=int, default=24)
    w.add_argument("--name", default="word")
    w.add_argument("--candidates", type=int, default=32)
    w.add_argument("--temperature", type=float, default=0.8)
    w.add_argument("--show", action="store_true")
    w.add_argument("--out", type=Path, default=None)
    p.add_argument("--corpus", default="gutenberg_poetry", help="a bundled corpus name or a file (default: the Gutenberg Poetry Corpus)")
    w.add_argument("--corpus", default="gutenberg_poetry", help="the texts no line may be copied from, comma-separated")
    for s in (p, t, f, tr, w):
        s.add_argument("--data", type=Path, default=Path("/tmp/wordlm"))
        s.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.command in ("join", "split"):
        if args.command == "join":
            join(args.parts, args.out)
        else:
            split(args.model, args.out)
        return
    torch.set_num_threads(args.threads)
    if args.command == "prep":
        prep(args.data, args.vocab, args.corpus, args.val_chars)
    elif args.command == "train":
        train(args.data, WordConfig(emb=args.emb, hidden=args.hidden), args.minutes, args.lr, args.batch, args.bptt,
              args.eval_every, args.val_tokens, args.max_steps)
    elif args.command == "transfer":
        transfer(args.model or args.data / "word.safetensors", args.corpus, args.finetune_s, args.scratch_s, args.lr)
    elif args.command == "finetune":
        finetune(args.model or args.data / "word.safetensors", args.corpus, args.seconds, args.out, args.lr)
    else:
        write(args.model or args.data / "word.safetensors", args.pairs, args.out, args.name, args.candidates, args.temperature,
              args.show, args.corpus)


if __name__ == "__main__":
    main()
