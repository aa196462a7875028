"""CharLSTM: embedding -> N recurrent layers (LSTM or GRU) -> linear head. No I/O here."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from poetry_lab.errors import PoetryLabError

# State: for LSTM a list of (h, c) per layer, for GRU a list of h per layer; each (B, H).
State = list


@dataclass
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"  # "lstm" or "gru"
    emb_dim: int = 64  # small: a character carries little meaning on its own
    hidden: int = 256  # one wide layer buys the most quality per CPU-minute here (benchmarks/suite/presets.py)
    layers: int = 1
    dropout: float = 0.1  # on the embedding output, between layers and before the head

    def __post_init__(self) -> None:
        # Settings come from users (CLI, app): out-of-range values are user errors, not crashes.
        if self.cell not in ("lstm", "gru"):
            raise PoetryLabError(f"The cell must be 'lstm' or 'gru', not {self.cell!r}.")
        if self.vocab_size < 2:
            raise PoetryLabError("The text needs at least two different characters.")
        for name, low, high in (("emb_dim", 1, 4096), ("hidden", 1, 8192), ("layers", 1, 16)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise PoetryLabError(f"{name} must be between {low} and {high}, not {value}.")
        if not 0.0 <= self.dropout < 1.0:
            raise PoetryLabError(f"Dropout must be at least 0 and below 1, not {self.dropout}.")

    def to_dict(self) -> dict:
        return asdict(self)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class CharLSTM(nn.Module):
    """The one model contract: forward(idx, targets=None, state=None) -> (logits, loss, state).

    Layers are separate single-layer nn.LSTM/nn.GRU modules so that dropout between them can use
    an explicit generator (`dropout_generator`) instead of the process-wide random state.
    """

    def __init__(self, config: ModelConfig, device: torch.device | str | None = None):
        """Parameters are left as allocated (init_weights or a loaded state fills them); device="meta"
        gives shapes only, allocating nothing and touching no random state."""
        super().__init__()
        self.config = config
        rnn_cls = nn.LSTM if config.cell == "lstm" else nn.GRU
        # An explicit weight: nn.Embedding's own normal_ init on "meta" goes through a Python path
        # that imports torch._dynamo (about 1.2 s of every command's start-up).
        self.embed = nn.Embedding(config.vocab_size, config.emb_dim,
                                  _weight=torch.empty(config.vocab_size, config.emb_dim, device=device))
        sizes = [config.emb_dim] + [config.hidden] * config.layers
        self.rnns = nn.ModuleList(rnn_cls(sizes[i], sizes[i + 1], batch_first=True, device=device)
                                  for i in range(config.layers))
        self.head = nn.Linear(config.hidden, config.vocab_size, device=device)
        self.dropout_generator: torch.Generator | None = None

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Uniform(+-1/sqrt(H)) like PyTorch's default, from an explicit generator; LSTM forget bias 1."""
        H = self.config.hidden
        for p in self.parameters():
            bound = 1.0 / math.sqrt(H)
            p.uniform_(-bound, bound, generator=generator)
        self.embed.weight.normal_(0.0, 1.0, generator=generator)
        if self.config.cell == "lstm":
            for rnn in self.rnns:  # gate order i, f, g, o: the forget gate starts open
                rnn.bias_ih_l0[H : 2 * H].fill_(1.0)
                rnn.bias_hh_l0[H : 2 * H].zero_()

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        p = self.config.dropout
        if not self.training or p == 0.0:
            return x
        g = self.dropout_generator
        if g is None or g.device != x.device:
            return F.dropout(x, p, True)
        # A mask from 16 random bits per element: five times cheaper than bernoulli_ on this CPU
        # (6% of a training step); p is rounded to 1/65536.
        n = x.numel()
        bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, generator=g, device=x.device)
        keep = bits.view(torch.int16)[:n].view(x.shape) >= round(p * 65536) - 32768
        return x * keep / (1.0 - p)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, State]:
        """idx (B, T) int64 -> logits (B, T, V); loss is the mean cross-entropy over all positions."""
        x = self._drop(self.embed(idx))  # (B, T, E)
        new_state: State = []
        for i, rnn in enumerate(self.rnns):
            s = None if state is None else state[i]
            if s is not None and self.config.cell == "lstm":
                s = (s[0].unsqueeze(0), s[1].unsqueeze(0))  # nn.LSTM wants (1, B, H)
            elif s is not None:
                s = s.unsqueeze(0)
            x, s_out = rnn(x, s)  # (B, T, H)
            x = self._drop(x)
            if self.config.cell == "lstm":
                new_state.append((s_out[0].squeeze(0), s_out[1].squeeze(0)))
            else:
                new_state.append(s_out.squeeze(0))
        logits = self.head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss, new_state

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State) -> State:
    """Cut the graph between chunks (truncated BPTT) while keeping the values."""
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]


def build_model(config: ModelConfig, seed: int | None = 0, device: torch.device | None = None) -> CharLSTM:
    """A freshly initialised model; the same seed gives the same weights, without touching global RNG."""
    model = CharLSTM(config, device="meta").to_empty(device="cpu")  # no default init: the global random state is untouched
    g = torch.Generator()
    if seed is not None:
        g.manual_seed(seed)
    else:
        g.seed()
    model.init_weights(g)
    return model.to(device or pick_device())
