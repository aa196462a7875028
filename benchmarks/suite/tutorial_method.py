"""The tutorials' character-level method, reimplemented faithfully in PyTorch (issue #6).

Sources (../shared/seeds): the Alice slides (004): windows of 100 characters starting at every
character (`range(0, n_chars - seq_length, 1)`), each predicting the ONE character after it; the
integer ids scaled to [0, 1) as one input feature (`X / float(n_vocab)`); LSTM(256) -> Dropout(0.2)
-> Dense softmax; categorical cross-entropy; Adam; batch 128; generation by re-feeding the last
100 characters for every new one. The Keras Nietzsche example (002) and the lab sheet (003): the
same network fed one-hot vectors, windows every 3 characters, sampling at a temperature.

Keras defaults are kept: glorot-uniform input and dense weights, orthogonal recurrent weights, zero
biases with the forget gate's at 1 (`unit_forget_bias`), Adam(lr=1e-3, betas 0.9/0.999, eps=1e-7),
no gradient clipping, windows shuffled every epoch (`fit(shuffle=True)`), the last partial batch kept.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TutorialConfig:
    window: int = 100  # seq_length in the slides (the Keras example's maxlen was 60)
    step: int = 1  # the slides start a window at every character; the Keras example used 3
    hidden: int = 256
    dropout: float = 0.2  # on the LSTM's last output, before the Dense layer
    inputs: str = "scaled"  # "scaled": id / vocab size as one feature (slides); "onehot" (Keras example)
    lr: float = 1e-3  # Keras Adam default
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.inputs not in ("scaled", "onehot"):
            raise ValueError(f"inputs must be 'scaled' or 'onehot', not {self.inputs!r}")


def char_table(text: str) -> list[str]:
    """The tutorials' vocabulary: `sorted(list(set(raw_text)))` over the whole text."""
    return sorted(set(text))


def encode(text: str, chars: Sequence[str]) -> np.ndarray:
    stoi = {c: i for i, c in enumerate(chars)}
    return np.fromiter((stoi[c] for c in text), dtype=np.int64, count=len(text))


class TutorialLSTM(nn.Module):
    """Sequential([LSTM(256), Dropout(0.2), Dense(V, softmax)]): a window of ids -> next-char logits."""

    def __init__(self, vocab_size: int, config: TutorialConfig):
        super().__init__()
        self.config, self.vocab_size = config, vocab_size
        features = 1 if config.inputs == "scaled" else vocab_size
        self.lstm = nn.LSTM(features, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, vocab_size)
        self.dropout_generator: torch.Generator | None = None

    def encode_inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, F): id / vocab size (F = 1) or one-hot (F = V), as the tutorials fed them."""
        if self.config.inputs == "scaled":
            return (idx.float() / float(self.vocab_size)).unsqueeze(-1)
        return F.one_hot(idx, self.vocab_size).float()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, V) logits for the character after each window (softmax lives in the loss)."""
        out, _ = self.lstm(self.encode_inputs(idx))
        h = out[:, -1]  # (B, H): return_sequences=False
        p = self.config.dropout
        if self.training and p > 0:
            mask = torch.empty_like(h).bernoulli_(1.0 - p, generator=self.dropout_generator)
            h = h * mask / (1.0 - p)
        return self.head(h)

    @torch.no_grad()
    def keras_init(self, generator: torch.Generator) -> None:
        H = self.config.hidden
        w_ih = self.lstm.weight_ih_l0  # (4H, F): Keras kernel (F, 4H), glorot over fan_in + fan_out
        bound = (6.0 / (w_ih.size(0) + w_ih.size(1))) ** 0.5
        w_ih.uniform_(-bound, bound, generator=generator)
        nn.init.orthogonal_(self.lstm.weight_hh_l0, generator=generator)
        self.lstm.bias_ih_l0.zero_()
        self.lstm.bias_ih_l0[H : 2 * H].fill_(1.0)  # gate order i, f, g, o in both frameworks
        self.lstm.bias_hh_l0.zero_()  # Keras has one bias; torch adds two
        bound = (6.0 / (self.head.in_features + self.head.out_features)) ** 0.5
        self.head.weight.uniform_(-bound, bound, generator=generator)
        self.head.bias.zero_()


def build_tutorial_model(vocab_size: int, config: TutorialConfig | None = None) -> TutorialLSTM:
    config = config or TutorialConfig()
    model = TutorialLSTM(vocab_size, config)
    model.keras_init(torch.Generator().manual_seed(config.seed))
    return model


def window_starts(n_ids: int, window: int, step: int = 1) -> np.ndarray:
    """Where each training window starts: the slides' `range(0, n_chars - seq_length, step)`."""
    return np.arange(0, max(n_ids - window, 0), step, dtype=np.int64)


def gather_windows(ids: torch.Tensor, starts: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, window) input ids and the (B,) character right after each window."""
    idx = starts.unsqueeze(1) + torch.arange(window)
    return ids[idx], ids[starts + window]


def val_targets(n_ids: int, cut: int, window: int, sample: int | None = None) -> np.ndarray:
    """Positions of the validation characters (the text from `cut` on) to predict.

    All of them, or `sample` evenly spaced ones. The first few look back across the cut into the end
    of the training text for their 100 characters of context, as a window over the text would.
    """
    first = max(cut, window)
    positions = np.arange(first, n_ids, dtype=np.int64)
    if sample is not None and sample < len(positions):
        positions = np.unique(np.linspace(first, n_ids - 1, sample).round().astype(np.int64))
    return positions


@torch.inference_mode()
def window_loss(model: TutorialLSTM, ids: torch.Tensor, targets: np.ndarray, batch: int = 1024) -> float:
    """Mean cross-entropy (nats/char) of ids[t] predicted from ids[t-window:t], over the `targets` t."""
    was_training = model.training
    model.eval()
    window, total = model.config.window, 0.0
    ids = torch.as_tensor(ids, dtype=torch.long)
    targets_t = torch.as_tensor(targets, dtype=torch.long)
    for i in range(0, len(targets_t), batch):
        x, y = gather_windows(ids, targets_t[i : i + batch] - window, window)
        total += F.cross_entropy(model(x), y, reduction="sum").item()
    model.train(was_training)
    return total / max(len(targets_t), 1)


class TutorialTrainer:
    """Keras's `model.fit` for this model, driven by a clock: call `train_for(seconds)` repeatedly.

    The clock (`train_seconds`) runs only inside train_for, so evaluations between calls are free.
    """

    def __init__(self, model: TutorialLSTM, train_ids: np.ndarray | torch.Tensor, config: TutorialConfig | None = None):
        self.model, self.config = model, config or model.config
        self.ids = torch.as_tensor(train_ids, dtype=torch.long)
        self.starts = torch.from_numpy(window_starts(self.ids.numel(), self.config.window, self.config.step))
        if self.starts.numel() == 0:
            raise ValueError("the training text is shorter than one window")
        c = self.config
        self.opt = torch.optim.Adam(model.parameters(), lr=c.lr, betas=(0.9, 0.999), eps=1e-7)
        self.gen = torch.Generator().manual_seed(c.seed)
        model.dropout_generator = torch.Generator().manual_seed(c.seed + 1)
        self.steps, self.targets_seen, self.train_seconds = 0, 0, 0.0
        self.last_loss = float("nan")
        self._order, self._pos = torch.empty(0, dtype=torch.long), 0

    @property
    def epochs(self) -> float:
        return self.targets_seen / self.starts.numel()

    def _next_batch(self) -> torch.Tensor:
        if self._pos >= self._order.numel():  # a new epoch: reshuffle the windows
            self._order, self._pos = self.starts[torch.randperm(self.starts.numel(), generator=self.gen)], 0
        batch = self._order[self._pos : self._pos + self.config.batch_size]  # the last one may be short
        self._pos += batch.numel()
        return batch

    def step(self) -> float:
        self.model.train()
        x, y = gather_windows(self.ids, self._next_batch(), self.config.window)
        loss = F.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.steps += 1
        self.targets_seen += y.numel()
        self.last_loss = loss.item()
        return self.last_loss

    def train_for(self, seconds: float) -> None:
        """Train whole steps until the clock has advanced by `seconds` (at least one step)."""
        t0 = time.perf_counter()
        end = self.train_seconds + seconds
        while True:
            self.step()
            self.train_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            if self.train_seconds >= end:
                return


@torch.inference_mode()
def generate(model: TutorialLSTM, seed_ids: Sequence[int], n_chars: int, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> list[int]:
    """The tutorials' loop: predict from the last `window` ids (the whole window, every time), pick
    a character (temperature 0: argmax, as the slides; else the Keras example's reweighting
    `exp(log(p) / T)`, i.e. softmax(logits / T)), append it and slide the window by one."""
    model.eval()
    window = [int(i) for i in seed_ids][-model.config.window :]
    out: list[int] = []
    for _ in range(n_chars):
        logits = model(torch.tensor(window, dtype=torch.long).unsqueeze(0))[0]
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            probs = F.softmax(logits / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=generator))
        out.append(nxt)
        window = window[1:] + [nxt]
    return out


# --- measurement helpers shared by the suite's tutorial and generation sections ---------------------

def by_mode(mode: str, tiny, quick, full):
    """A setting for the suite's mode; "tiny" is the tests' mode (seconds, not minutes)."""
    return {"tiny": tiny, "quick": quick}.get(mode, full)


def matmul_gflops(seconds: float = 0.3, n: int = 1024) -> float:
    """fp32 matmul speed right now (GFLOP/s): a drift check on a shared VM, taken between measurements."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    reps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / elapsed / 1e9


def time_to_reach(curve: Sequence[tuple[float, float]], level: float) -> tuple[float | None, bool]:
    """(seconds, exact): when a (seconds, loss) curve first reaches `level`, by linear interpolation
    between evaluations. exact=False when the first point is already at or below it (an upper bound
    on the time); (None, False) when the curve never gets there."""
    if not curve:
        return None, False
    t_prev, v_prev = curve[0]
    if v_prev <= level:
        return t_prev, False
    for t, v in curve[1:]:
        if v <= level:
            return t_prev + (t - t_prev) * (v_prev - level) / (v_prev - v), True
        t_prev, v_prev = t, v
    return None, False
