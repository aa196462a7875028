"""WordLSTM: Poetry Lab's writer of poems in form, one step a word (issue #21). No I/O here.

Blind readers rated sonnet quatrains from a word-level LSTM 2.67 of 5 for readability against 1.75 for
the character base (benchmarks/bench_readability.py, README): one step a word lets a wider model cost
the same per character and carry a sentence across a line. The character LSTM stays the model that
is trained, sampled and looked into (lens, sweep, themes); the word writer writes the poems in form.

Tokens: lower-case words (letters and inner apostrophes), the marks , . ; : ! ? and the newline (two
in a row: a stanza break); the commonest VOCAB words of the training text, the rest one <unk> (id 0,
never written). The model: embedding -> one LSTM layer -> a projection back to the embedding width ->
an adaptive softmax (frequent words get the full width, rare ones a narrower one: a 16,000-way softmax
cost more than the LSTM).
"""

from __future__ import annotations

import math
import re
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from poetry_lab.errors import PoetryLabError

TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[,.;:!?]|\n")
UNKNOWN = "<unk>"
MARKS = frozenset(",.;:!?")
STOPS = frozenset(".!?")
FINETUNE_LR = 1e-4  # held out on the Sonnets after a minute: 4.41 nats/token at 1e-4, 4.44 at 3e-4, 5.03 at 1e-3 (base 4.60)

WordState = tuple  # (h, c), torch tensors, each (B, H)


def tokenize(text: str) -> list[str]:
    """The writer's tokens of `text`: words lower-cased (’ read as '), the marks and newlines; the rest dropped."""
    return TOKEN.findall(text.lower().replace("’", "'"))


def planned(tokens: Sequence[str]) -> list[str]:
    """`tokens` with each line led by its own last word, its plan ("night the stars are shining in the night"):
    a planning writer (WordConfig.plans) reads and writes lines so, choosing the word a line ends on (its
    rhyme) before the words that lead to it. A line with no word (a stanza break) gets no plan."""
    out: list[str] = []
    line: list[str] = []
    for w in [*tokens, None]:
        if w is not None and w != "\n":
            line.append(w)
            continue
        ends = [t for t in line if t not in MARKS]
        out += [ends[-1], *line] if ends else line
        if w is not None:
            out.append(w)
        line = []
    return out


class WordVocab:
    """Token <-> id; id 0 is <unk>, where every word outside the vocabulary goes."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(tokens)
        if not self.tokens or self.tokens[0] != UNKNOWN or "\n" not in self.tokens or len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a word vocabulary starts with <unk>, holds the newline and each token once")
        self.stoi = {w: i for i, w in enumerate(self.tokens)}
        self.newline = self.stoi["\n"]

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, text: str, plans: bool = False) -> np.ndarray:
        """The ids of `text`'s tokens, each line led by its plan where `plans` (a planning writer's reading)."""
        tokens = tokenize(text)
        return np.fromiter((self.stoi.get(w, 0) for w in (planned(tokens) if plans else tokens)), dtype=np.int64)


def shown(tokens: Sequence[str], names: Collection[str] = ()) -> str:
    """Tokens as a line of verse: words spaced, marks against the word before, "I" and "O" upper-case,
    the line's first word, each word after . ! ? and the `names` ("troy": a Lexicon's proper) capitalised."""
    out = ""
    for k, w in enumerate(tokens):
        if w == "i" or w.startswith("i'"):
            w = "I" + w[1:]
        elif w == "o":
            w = "O"
        if k == 0 or tokens[k - 1] in STOPS or w in names:
            w = w[:1].upper() + w[1:]
        out += w if w in MARKS else (" " + w if out else w)
    return out


@dataclass(frozen=True)
class WordConfig:
    vocab_size: int
    emb: int = 256
    hidden: int = 768
    cutoffs: tuple[int, ...] = (2000, 6000)  # the adaptive softmax's frequency bands (ids are by frequency)
    plans: bool = False  # each line is led by its last word (planned()): the writer picks a line's end word first

    def __post_init__(self) -> None:
        if not 2 <= self.vocab_size <= 200_000:
            raise PoetryLabError("A word writer's vocabulary must have 2 to 200,000 words.")
        for name, low, high in (("emb", 1, 4096), ("hidden", 1, 8192)):
            if not low <= getattr(self, name) <= high:
                raise PoetryLabError(f"{name} must be between {low} and {high}, not {getattr(self, name)}.")
        if list(self.cutoffs) != sorted(set(self.cutoffs)) or any(not 0 < c < self.vocab_size - 1 for c in self.cutoffs):
            raise PoetryLabError("The writer's cutoffs must rise, each inside its vocabulary.")

    def to_dict(self) -> dict:
        return {**asdict(self), "cutoffs": list(self.cutoffs)}

    @classmethod
    def from_dict(cls, d: dict) -> WordConfig:
        return cls(**{**d, "cutoffs": tuple(d.get("cutoffs", ()))})


class WordLSTM(nn.Module):
    """The writer's contract: forward(ids, state) -> (features, state); nll(features, targets); log_probs(features)."""

    def __init__(self, config: WordConfig, device: torch.device | str | None = None):
        super().__init__()
        self.config = config
        # An explicit weight, as CharLSTM's: nn.Embedding's own init on "meta" imports torch._dynamo (1.3 s of a command's start)
        self.embed = nn.Embedding(config.vocab_size, config.emb, _weight=torch.empty(config.vocab_size, config.emb, device=device))
        self.rnn = nn.LSTM(config.emb, config.hidden, batch_first=True, device=device)
        self.proj = nn.Linear(config.hidden, config.emb, device=device)
        self.head = nn.AdaptiveLogSoftmaxWithLoss(config.emb, config.vocab_size, cutoffs=list(config.cutoffs), div_value=4.0,
                                                  device=device)

    @torch.no_grad()
    def init_weights(self, seed: int = 0) -> None:
        """PyTorch's own initialisation from `seed`, a small embedding and the forget gate open."""
        with torch.random.fork_rng(devices=[]):  # the process-wide random state is left as it was
            torch.manual_seed(seed)
            for m in (self.rnn, self.proj, self.head):
                m.reset_parameters()
            nn.init.normal_(self.embed.weight, 0, 0.05)
        H = self.config.hidden
        self.rnn.bias_ih_l0[H : 2 * H].fill_(1.0)
        self.rnn.bias_hh_l0[H : 2 * H].zero_()

    def forward(self, ids: torch.Tensor, state: WordState | None = None) -> tuple[torch.Tensor, WordState]:
        """ids (B, T) -> features (B, T, emb) for the head, and the state after the last id."""
        s = None if state is None else tuple(t.unsqueeze(0) for t in state)
        h, (hn, cn) = self.rnn(self.embed(ids), s)
        return self.proj(h), (hn.squeeze(0), cn.squeeze(0))

    def nll(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed negative log-likelihood (nats) of `targets` (B, T)."""
        return -self.head(features.reshape(-1, features.shape[-1]), targets.reshape(-1)).output.sum()

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """(N, emb) -> (N, V) log-probabilities over the whole vocabulary."""
        return self.head.log_prob(features)

    @torch.no_grad()
    def word_vectors(self) -> torch.Tensor:
        """(V, emb): each word's output vector, the direction of the features that make the head predict it
        (the shortlist's rows of the head; a rarer word's row of its band's two projections, composed). Words
        the model writes in the same places point the same way: "sea" lies by "tide", "shore", "foam"
        (the input embeddings put it by "wood", "gas" and "grape": words of its shape)."""
        head = self.head
        parts = [head.head.weight[: head.shortlist_size]]
        parts += [band[1].weight @ band[0].weight for band in head.tail]  # (n, d) @ (d, emb)
        return torch.cat(parts).float()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class Int8Matrix:
    """A float matrix (K, N) stored as 8-bit integers with one scale per column (its largest magnitude / 127), for
    `rows @ matrix` with each row quantised the same way on the fly (symmetric, per row: dynamic 8-bit quantisation
    as torchao's int8 dynamic-activation config does it, which swaps nn.Linear modules and so cannot reach an LSTM's
    weights). Measured on 11,051 words of verse the shipped writer never read (benchmarks/data/human_quatrains.txt, 40
    rows a step): 4.8236 nats a word against 4.8239 in float32, KL 0.0001 nats a step, the steps 1.8 times as fast."""

    def __init__(self, matrix: torch.Tensor):
        m = matrix.float()
        self.scale = m.abs().amax(0).clamp_min(1e-12) / 127.0  # (N,)
        self.q = torch.round(m / self.scale).clamp_(-127, 127).to(torch.int8).contiguous()

    def __rmatmul__(self, rows: torch.Tensor) -> torch.Tensor:
        """`rows @ self`: rows (B, K) float -> (B, N) float, as a float32 matrix would give, near enough."""
        r = rows.abs().amax(1, keepdim=True).clamp_min(1e-12) / 127.0  # (B, 1)
        q = torch.round(rows / r).clamp_(-127, 127).to(torch.int8)
        return torch._int_mm(q, self.q).float() * r * self.scale


_INT8: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (its weights' versions, their Int8Matrix pair)


def _int8_weights(model: WordLSTM) -> tuple[Int8Matrix, Int8Matrix]:
    """The LSTM's two matrices (transposed) in 8 bits, made once a model and shared by every cell on it (each session
    holds a cell on the shared base); made again if the weights have changed in place since (training)."""
    r = model.rnn
    versions = (r.weight_ih_l0._version, r.weight_hh_l0._version)
    found = _INT8.get(model)
    if found is None or found[0] != versions:
        found = _INT8[model] = (versions, (Int8Matrix(r.weight_ih_l0.detach().T), Int8Matrix(r.weight_hh_l0.detach().T)))
    return found[1]


class WordCell:
    """One step at a time for the decoder, a batch of rows (no table of every word's input gates: building
    it would cost 3.6 s for a 16,000-word vocabulary, more than the poem). The LSTM's two matrix products
    run in 8-bit integers (`Int8Matrix`: about 5 times faster than float32 on this CPU at 42-128 rows, torch._int_mm, and a
    quarter of the memory, 3.1 MB for the shipped writer, made once a model); the output head, the gates and the
    state stay float32. `exact=True` keeps the model's float32 weights throughout (read through views, not copied)."""

    def __init__(self, model: WordLSTM, exact: bool = False):
        self.model = model
        with torch.no_grad():
            r = model.rnn
            self.bias = r.bias_ih_l0 + r.bias_hh_l0
            self.w_ih, self.w_hh = (r.weight_ih_l0.T, r.weight_hh_l0.T) if exact else _int8_weights(model)
        self.hidden = model.config.hidden

    def zero_state(self, batch: int) -> WordState:
        return torch.zeros(batch, self.hidden), torch.zeros(batch, self.hidden)

    @torch.no_grad()
    def step(self, ids: np.ndarray, state: WordState) -> tuple[np.ndarray, WordState]:
        """ids (B,) -> log-probabilities (B, V) of the next token, and the new state."""
        h, c = state
        x = self.model.embed.weight[torch.as_tensor(ids)]
        i, f, g, o = (self.bias + x @ self.w_ih + h @ self.w_hh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return self.model.log_probs(self.model.proj(h)).numpy(), (h, c)

    def feed(self, ids: Sequence[int], state: WordState) -> tuple[np.ndarray, WordState]:
        """The log-probabilities (1, V) and state after reading `ids` from `state` (one row)."""
        logp = None
        for i in ids:
            logp, state = self.step(np.asarray([i]), state)
        return logp, state


def word_rows(state: WordState, idx) -> WordState:
    """The batch rows `idx` of a word state, as new tensors."""
    idx = torch.as_tensor(np.asarray(idx, dtype=np.int64))
    return state[0][idx], state[1][idx]


def stacked_words(states: Sequence[WordState]) -> WordState:
    return torch.cat([s[0] for s in states]), torch.cat([s[1] for s in states])


def fit_words(model: WordLSTM, ids: torch.Tensor, seconds: float, lr: float = FINETUNE_LR, batch: int = 16,
              bptt: int = 64, on_step: Callable[[int, float], bool] | None = None, passes: float | None = None,
              decay: bool = False) -> int:
    """Train `model` on the token stream `ids` for `seconds` (AdamW at `lr` after 20 warm-up steps, carried
    state, gradients clipped at 1), and at most `passes` times over the stream when given; with `decay` the
    rate falls linearly to 0 over the seconds; `on_step(step, loss)` returning False stops early. Returns the steps."""
    batch = max(1, min(batch, (len(ids) - 1) // (bptt + 1)))
    n = (len(ids) - 1) // batch
    if n < 2:
        raise PoetryLabError("The text is too short to train the writer on: give it a few lines at least.")
    bptt = min(bptt, n - 1)
    X, Y = ids[: n * batch].view(batch, n), ids[1 : n * batch + 1].view(batch, n)
    max_steps = math.inf if passes is None else max(1, math.ceil(passes * ((n - 1) // bptt)))  # a pass: (n - 1) // bptt steps
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    model.train()
    t0, step, pos, state = time.perf_counter(), 0, 0, None
    while (spent := time.perf_counter() - t0) < seconds and step < max_steps:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20) * (1.0 - spent / seconds if decay else 1.0)
        if pos + bptt > n - 1:
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
        if on_step is not None and on_step(step, loss.item()) is False:
            break
    model.eval()
    return step


@torch.no_grad()
def held_out_nats(model: WordLSTM, ids: torch.Tensor, chunk: int = 512) -> float:
    """Mean nats per token of the stream `ids`, read in order with the state carried."""
    model.eval()
    total, state = 0.0, None
    for i in range(0, len(ids) - 1, chunk):
        y = ids[i + 1 : i + 1 + chunk][None]
        f, state = model(ids[i : i + y.shape[1]][None], state)
        total += model.nll(f, y).item()
    return total / max(len(ids) - 1, 1)


def nats_per_char(nats_per_token: float, tokens: int, chars: int) -> float:
    """A per-token loss over a text of `chars` characters as nats per character (what the char model reports)."""
    return nats_per_token * tokens / max(chars, 1) if math.isfinite(nats_per_token) else nats_per_token
