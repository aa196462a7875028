"""Sampling poems: several temperatures in one batch, with shared random draws, over a NumPy cell.

Every temperature is one row of the batch. At each step one uniform number is drawn and every row
picks its character by inverting its own cumulative distribution at that number, so two rows differ
only by their temperature, and a row's text does not depend on which other rows are beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from poetry_lab.core.defaults import COMPARE_TEMPERATURES, DEFAULT_SEED, MAX_TEMPERATURE
from poetry_lab.core.model import CharLSTM, map_state, state_rows
from poetry_lab.core.vocab import Vocab
from poetry_lab.errors import PoetryLabError
from poetry_lab.settings import LN2

MAX_CHARS = 20_000
PROMPT_CONTEXT = 4_000  # an LSTM forgets long before this; longer prompts feed only their tail


@dataclass
class SampleConfig:
    temperatures: Sequence[float] = COMPARE_TEMPERATURES
    max_chars: int = 400  # characters to generate after the prompt
    lines: int | None = None  # if set: stop after this many completed lines (max_chars still caps)
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = DEFAULT_SEED  # None draws a fresh seed

    def __post_init__(self) -> None:
        self.temperatures = tuple(float(t) for t in self.temperatures)
        if not self.temperatures:
            raise PoetryLabError("Choose at least one temperature.")
        for t in self.temperatures:
            if not (0.0 <= t <= MAX_TEMPERATURE) or math.isnan(t):
                raise PoetryLabError(
                    f"Temperature {t:g} is out of range: use 0 (always the likeliest character) up to {MAX_TEMPERATURE:g}."
                )
        if not 1 <= self.max_chars <= MAX_CHARS:
            raise PoetryLabError(f"Length must be between 1 and {MAX_CHARS:,} characters.")
        if self.lines is not None and not 1 <= self.lines <= 500:
            raise PoetryLabError("Number of lines must be between 1 and 500.")
        if self.top_k is not None and self.top_k < 1:
            raise PoetryLabError("top-k must be at least 1 (or left empty for no limit).")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise PoetryLabError("top-p must be greater than 0 and at most 1.")
        if self.seed is not None:  # any whole number is a seed: torch takes 64 bits, and -1 is 2**64 - 1 there too
            self.seed = int(self.seed) % 2**64


@dataclass
class Sample:
    temperature: float
    prompt: str
    continuation: str
    bits_per_char: float  # mean surprise of the continuation under the model at temperature 1
    unknown_chars: list[str] = field(default_factory=list)  # prompt characters the model never saw

    @property
    def text(self) -> str:
        return self.prompt + self.continuation


class NumpyCell:
    """A hand-written step over a CharLSTM's weights in NumPy, for the sampling loop and the decoder:
    3-8x faster than stepping nn.LSTM on CPU, and a small batch is bound by per-call overhead, which
    is several times lower in NumPy than in torch (benchmarks/suite/generation.py). The model gives
    the weights (CharLSTM.step_weights) and its cell kind the step; the state is the model's State
    as (B, H) float32 arrays.
    """

    def __init__(self, model: CharLSTM):
        self.kind = model.cell_kind
        self.layers = []
        for i, w in enumerate(model.step_weights()):
            H = w.w_hh.shape[0]
            cols = self.kind.columns(H)
            w_in = np.ascontiguousarray(_numpy(w.w_in)[:, cols])
            bias = np.zeros(len(cols), np.float32) if i == 0 else _numpy(w.b_in)[cols]  # layer 0: folded in the table
            self.layers.append((w_in, np.ascontiguousarray(_numpy(w.w_hh)[:, cols]), bias, _numpy(w.b_hh)[cols], H))
        self.head_w = _numpy(model.head.weight.detach().t().contiguous())
        self.head_b = _numpy(model.head.bias.detach())

    def zero_state(self, batch: int) -> list:
        """The state before any text, `batch` rows."""
        H = self.layers[0][-1]
        return self.kind.zero_state(batch, H, len(self.layers), lambda shape: np.zeros(shape, np.float32))

    def state(self, torch_state: list) -> list:
        """CharLSTM.forward's state (torch tensors) as this cell's NumPy state."""
        return map_state(torch_state, lambda t: t.float().cpu().numpy().copy())

    def step(self, idx: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        """idx (B,) -> logits (B, V), new state."""
        new_state, x = [], None
        for i, (w_in, w_hh, bias, b_hh, H) in enumerate(self.layers):
            g = w_in[idx] if i == 0 else x @ w_in + bias  # (B, G*H)
            x, s = self.kind.numpy_step(g, state[i], w_hh, b_hh, H)
            new_state.append(s)
        return x @ self.head_w + self.head_b, new_state


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.float().cpu().numpy()


def pick(logits: np.ndarray, temperatures: np.ndarray, u: float, top_k: int | None = None,
         top_p: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Choose one id per row of `logits` (B, V): argmax where the temperature is 0, else the inverse
    of the row's cumulative distribution at `u` (one uniform number shared by all rows), after top-k
    and top-p. Returns (ids, log-probabilities of the ids at temperature 1). The unknown symbol (id 0)
    is never chosen.
    """
    lg = logits.astype(np.float32, copy=True)
    lg[:, 0] = -np.inf
    z = lg - lg.max(1, keepdims=True)
    scaled = z * (1.0 / np.maximum(temperatures, 1e-6))[:, None]
    V = lg.shape[1]
    if top_k is not None and top_k < V:
        kth = np.partition(scaled, V - top_k, axis=1)[:, V - top_k : V - top_k + 1]
        scaled = np.where(scaled < kth, -np.inf, scaled)
    e = np.exp(scaled - scaled.max(1, keepdims=True))
    if top_p is not None and top_p < 1.0:
        probs = e / e.sum(1, keepdims=True)
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, 1)
        outside = sorted_p.cumsum(1) - sorted_p >= top_p  # keeps the smallest set reaching top_p
        np.put_along_axis(probs, order, np.where(outside, 0.0, sorted_p), 1)
        e = probs
    cdf = np.cumsum(e, 1)
    drawn = np.minimum((cdf <= u * cdf[:, -1:]).sum(1), V - 1)
    ids = np.where(temperatures == 0, z.argmax(1), drawn)
    rows = np.arange(len(ids))
    return ids, z[rows, ids] - np.log(np.exp(z).sum(1))


def _loop(model: CharLSTM, logits: np.ndarray, state: list, cfg: SampleConfig, gen: torch.Generator,
          newline: int, prev_blank: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The sampling loop: one step per character for every row at once, stopping at max_chars or
    when every row has written its lines."""
    cell = NumpyCell(model)
    B, n = logits.shape[0], cfg.max_chars
    temps = np.asarray(cfg.temperatures, np.float32)
    us = torch.rand(n, generator=gen).numpy()
    lg, st = logits, cell.state(state)
    out = np.zeros((B, n), np.int64)
    nll = np.zeros(B, np.float64)
    line_ends = np.zeros(B, np.int64)
    length = np.full(B, n, np.int64)
    blank = np.full(B, prev_blank)
    t = 0
    for t in range(n):
        nxt, logp = pick(lg, temps, us[t], cfg.top_k, cfg.top_p)
        active = t < length
        nll += np.where(active, -logp, 0.0)
        out[:, t] = nxt
        if cfg.lines is not None:
            is_nl = nxt == newline
            line_ends += is_nl & ~blank  # a line ends at a newline after some text
            blank = is_nl
            length = np.where(active & (line_ends >= cfg.lines), t + 1, length)
            if (length <= t + 1).all():
                break
        lg, st = cell.step(nxt, st)
    return out, nll, length, t


@torch.inference_mode()
def sample(model: CharLSTM, vocab: Vocab, prompt: str = "", config: SampleConfig | None = None) -> list[Sample]:
    """One Sample per temperature, all sampled as one batch from the same prompt and seed. The model is
    read in eval mode and left in the mode it was in (a training job samples from the model it trains)."""
    was_training = model.training
    model.eval()
    try:
        return _sample(model, vocab, prompt, config or SampleConfig())
    finally:
        model.train(was_training)


def _sample(model: CharLSTM, vocab: Vocab, prompt: str, cfg: SampleConfig) -> list[Sample]:
    unknown = vocab.unknown_chars(prompt)
    # A poem starts after a blank line; that is the context the model has seen before first lines.
    lead = "".join(c for c in "\n\n" if c in vocab)
    context = (lead + prompt)[-PROMPT_CONTEXT:] or vocab.chars[0]
    ids = torch.as_tensor(vocab.encode(context), device=next(model.parameters()).device).unsqueeze(0)  # (1, T)
    logits, _, state = model(ids)
    B = len(cfg.temperatures)
    state = state_rows(state, [0] * B)
    logits = logits[:, -1].expand(B, -1).float().cpu().numpy().copy()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(cfg.seed) if cfg.seed is not None else gen.seed()
    at_line_start = prompt.endswith("\n") or not prompt
    out, nll, length, t = _loop(model, logits, state, cfg, gen, vocab.stoi.get("\n", -1), at_line_start)
    return _samples(vocab, prompt, cfg, out, nll, length, t, unknown)


def _samples(vocab: Vocab, prompt: str, cfg: SampleConfig, out, nll, length, t: int, unknown: list[str]) -> list[Sample]:
    samples = []
    for b, temp in enumerate(cfg.temperatures):
        n = int(min(length[b], t + 1))
        text = vocab.decode(out[b, :n].tolist())
        bits = float(nll[b]) / max(n, 1) / LN2
        samples.append(Sample(temperature=temp, prompt=prompt, continuation=text, bits_per_char=bits, unknown_chars=unknown))
    return samples
