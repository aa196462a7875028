"""CharLSTM: embedding -> N recurrent layers (LSTM or GRU) -> linear head. No I/O here.

What differs between cells is one entry of CELLS (a CellKind): the torch module, how many arrays a
layer's state holds, the gate layout of the weights and which biases fold, and one step in NumPy for
the samplers. Everything else (the model, its state, the samplers, the decoder, the trainer, the
embeddings) asks the model or the entry, so a new cell is one entry there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from poetry_lab.errors import PoetryLabError

# State: one entry per layer, the cell's state parts, each (B, H): a tuple when the cell has several
# (LSTM (h, c)), the one array when it has one (GRU h), as nn.LSTM and nn.GRU take and return them;
# the first part is the layer's output h. Torch tensors from CharLSTM, NumPy arrays in NumpyCell.
State = list


def state_parts(layer) -> tuple:
    """One layer's state as a tuple of its parts, whatever the cell."""
    return layer if isinstance(layer, tuple) else (layer,)


def join_parts(parts: tuple):
    """One layer's state from its parts (the inverse of state_parts)."""
    return parts if len(parts) > 1 else parts[0]


def _map_layer(layer, fn: Callable):
    return join_parts(tuple(fn(x) for x in state_parts(layer)))


def map_state(state: State, fn: Callable) -> State:
    """`fn` applied to every array of `state`, its layout kept."""
    return [_map_layer(s, fn) for s in state]


def state_rows(state: State, idx) -> State:
    """The batch rows `idx` of `state` (a selection, a new order or repeats), as new arrays."""
    return map_state(state, lambda x: x[idx])


def detach_state(state: State) -> State:
    """Cut the graph between chunks (truncated BPTT) while keeping the values."""
    return map_state(state, torch.Tensor.detach)


def state_outputs(state: State) -> list:
    """Each layer's output h (B, H)."""
    return [state_parts(s)[0] for s in state]


def _lstm_numpy_step(g: np.ndarray, layer: tuple, w_hh: np.ndarray, b_hh: np.ndarray, H: int):
    """Gates in (input, forget, output, cell) order, so one call computes the three sigmoids."""
    h, c = layer
    g += h @ w_hh  # b_hh is folded into the input half
    s = np.tanh(g[:, : 3 * H] * 0.5) * 0.5 + 0.5  # sigmoid
    c = s[:, H : 2 * H] * c + s[:, :H] * np.tanh(g[:, 3 * H :])
    h = s[:, 2 * H :] * np.tanh(c)
    return h, (h, c)


def _gru_numpy_step(g: np.ndarray, h: np.ndarray, w_hh: np.ndarray, b_hh: np.ndarray, H: int):
    gh = h @ w_hh + b_hh
    rz = np.tanh((g[:, : 2 * H] + gh[:, : 2 * H]) * 0.5) * 0.5 + 0.5
    n = np.tanh(g[:, 2 * H :] + rz[:, :H] * gh[:, 2 * H :])
    h = (1 - rz[:, H:]) * n + rz[:, H:] * h
    return h, h


@dataclass(frozen=True)
class CellKind:
    """Everything that differs between recurrent cells."""

    label: str  # as the page names it
    module: type[nn.RNNBase]  # one layer of it (batch_first)
    parts: int  # arrays in one layer's state (see State)
    gates: int  # blocks of H rows in weight_ih_l0 / weight_hh_l0, in torch's order
    candidate: int  # the block that proposes new content from the input (LSTM g, GRU n)
    open_gate: int | None  # a block whose input bias starts at 1 and hidden bias at 0 (the LSTM's forget gate)
    fold_hidden_bias: bool  # b_hh may join b_ih (LSTM); the GRU's b_hn sits inside r * (W_hn h + b_hn)
    numpy_blocks: tuple[int, ...]  # the gate blocks in the order numpy_step reads them
    # (input half of the gates (B, G*H) with its bias, layer state, W_hh^T (H, G*H), b_hh, H) -> (h, layer state)
    numpy_step: Callable

    def zero_state(self, batch: int, hidden: int, layers: int, zeros: Callable = torch.zeros) -> State:
        """The state before any text, from `zeros(shape)` (torch.zeros, or a NumPy maker)."""
        return [join_parts(tuple(zeros((batch, hidden)) for _ in range(self.parts))) for _ in range(layers)]

    def columns(self, H: int) -> np.ndarray:
        """The gate columns (of G*H) in numpy_step's order."""
        return np.concatenate([np.arange(b * H, (b + 1) * H) for b in self.numpy_blocks])


CELLS: dict[str, CellKind] = {
    "lstm": CellKind("LSTM", nn.LSTM, parts=2, gates=4, candidate=2, open_gate=1, fold_hidden_bias=True,
                     numpy_blocks=(0, 1, 3, 2), numpy_step=_lstm_numpy_step),  # torch: i, f, g, o
    "gru": CellKind("GRU", nn.GRU, parts=1, gates=3, candidate=2, open_gate=None, fold_hidden_bias=False,
                    numpy_blocks=(0, 1, 2), numpy_step=_gru_numpy_step),  # torch: r, z, n
}


@dataclass
class StepWeights:
    """One layer's weights for a hand-written step; G*H gate columns in the cell's torch order."""

    w_in: torch.Tensor  # layer 0: (V, G*H), the input half for every character, bias included; above: (H_in, G*H)
    w_hh: torch.Tensor  # (H, G*H)
    b_in: torch.Tensor  # (G*H,) the input bias, b_hh folded in where the cell allows
    b_hh: torch.Tensor  # (G*H,) the hidden bias (unused where it is folded)


@dataclass
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"  # a key of CELLS
    emb_dim: int = 64  # small: a character carries little meaning on its own
    hidden: int = 256  # one wide layer buys the most quality per CPU-minute here (benchmarks/suite/presets.py)
    layers: int = 1
    dropout: float = 0.1  # on the embedding output, between layers and before the head

    def __post_init__(self) -> None:
        # Settings come from users (CLI, app): out-of-range values are user errors, not crashes.
        if self.cell not in CELLS:
            raise PoetryLabError(f"The cell must be {' or '.join(map(repr, CELLS))}, not {self.cell!r}.")
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

    Layers are separate single-layer modules of the cell's kind (nn.LSTM, nn.GRU) so that dropout between them can use
    an explicit generator (`dropout_generator`) instead of the process-wide random state.
    """

    def __init__(self, config: ModelConfig, device: torch.device | str | None = None):
        """Parameters are left as allocated (init_weights or a loaded state fills them); device="meta"
        gives shapes only, allocating nothing and touching no random state."""
        super().__init__()
        self.config = config
        self.cell_kind = CELLS[config.cell]
        # An explicit weight: nn.Embedding's own normal_ init on "meta" goes through a Python path
        # that imports torch._dynamo (about 1.2 s of every command's start-up).
        self.embed = nn.Embedding(config.vocab_size, config.emb_dim,
                                  _weight=torch.empty(config.vocab_size, config.emb_dim, device=device))
        sizes = [config.emb_dim] + [config.hidden] * config.layers
        self.rnns = nn.ModuleList(self.cell_kind.module(sizes[i], sizes[i + 1], batch_first=True, device=device)
                                  for i in range(config.layers))
        self.head = nn.Linear(config.hidden, config.vocab_size, device=device)
        self.dropout_generator: torch.Generator | None = None

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Uniform(+-1/sqrt(H)) like PyTorch's default, from an explicit generator; the LSTM's forget gate starts open."""
        H = self.config.hidden
        for p in self.parameters():
            bound = 1.0 / math.sqrt(H)
            p.uniform_(-bound, bound, generator=generator)
        self.embed.weight.normal_(0.0, 1.0, generator=generator)
        gate = self.cell_kind.open_gate
        if gate is not None:
            for rnn in self.rnns:
                rnn.bias_ih_l0[gate * H : (gate + 1) * H].fill_(1.0)
                rnn.bias_hh_l0[gate * H : (gate + 1) * H].zero_()

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
            s = None if state is None else _map_layer(state[i], lambda t: t.unsqueeze(0))  # the module wants (1, B, H)
            x, s_out = rnn(x, s)  # (B, T, H)
            x = self._drop(x)
            new_state.append(_map_layer(s_out, lambda t: t.squeeze(0)))
        logits = self.head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss, new_state

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def step_weights(self) -> list[StepWeights]:
        """Each layer's weights for one step at a time (the samplers' cells), layer 0's input half
        folded with the embedding into one lookup table."""
        out = []
        for i, rnn in enumerate(self.rnns):
            w_ih, w_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
            b_ih, b_hh = rnn.bias_ih_l0.detach(), rnn.bias_hh_l0.detach()
            b_in = b_ih + b_hh if self.cell_kind.fold_hidden_bias else b_ih
            if i == 0:  # (V, E) @ (E, G*H): the input half of layer 0 for every character
                w_in = self.embed.weight.detach() @ w_ih.t() + b_in
            else:
                w_in = w_ih.t().contiguous()
            out.append(StepWeights(w_in, w_hh.t().contiguous(), b_in, b_hh))
        return out

    def input_candidate(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, E) embedded characters -> (B, T, H): what layer 0 would write from them with no
        context, its candidate block (the LSTM's tanh(W_ig x + b), the GRU's tanh(W_in x + b))."""
        kind, first, H = self.cell_kind, self.rnns[0], self.config.hidden
        block = slice(kind.candidate * H, (kind.candidate + 1) * H)
        bias = first.bias_ih_l0[block] + first.bias_hh_l0[block] if kind.fold_hidden_bias else first.bias_ih_l0[block]
        return torch.tanh(x @ first.weight_ih_l0[block].T + bias)


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


@torch.no_grad()
def widened(model: CharLSTM, hidden: int, seed: int = 0) -> CharLSTM:
    """A copy of `model` with `hidden` units a layer that computes exactly what `model` does (Net2Net-style):
    the old units keep their weights, the new ones start from the usual random init, and nothing the old
    units or the head read comes from a new unit (those weights start at zero), so training can only
    add what the new units learn. Used to go on pretraining a shipped base at a larger width."""
    old = model.config
    if hidden < old.hidden:
        raise PoetryLabError(f"A model can be widened, not narrowed: {hidden} is below its {old.hidden} units.")
    wide = build_model(ModelConfig(**{**old.to_dict(), "hidden": hidden}), seed=seed, device=torch.device("cpu"))
    H, W, G = old.hidden, hidden, wide.cell_kind.gates
    rows = torch.cat([torch.arange(b * W, b * W + H) for b in range(G)])  # the old units' rows in each gate block
    wide.embed.weight.copy_(model.embed.weight)
    for i, (src, dst) in enumerate(zip(model.rnns, wide.rnns)):
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            s, d = getattr(src, name).detach().cpu(), getattr(dst, name)
            if name.startswith("weight"):
                d[rows] = 0.0  # old units read nothing from new ones
                cols = s.shape[1] if name == "weight_ih_l0" and i == 0 else H
                d[rows, :cols] = s
            else:
                d[rows] = s
    wide.head.weight.zero_()
    wide.head.weight[:, :H] = model.head.weight.detach().cpu()
    wide.head.bias.copy_(model.head.bias)
    return wide.to(next(model.parameters()).device)
