"""ELMo-style poem embeddings from our own character language models, and the feature autoencoder.

LMEmbeddings (a scikit-learn transformer: poems -> (n, H_forward + H_backward) array)
    A forward model reads each poem left to right, its backward twin (trained on reversed text)
    right to left. Per model the layers are: layer 0, the character embedding projected into the
    hidden space by the first recurrent layer's own input weights (the LSTM cell candidate
    tanh(W_ig e + b), the GRU candidate tanh(W_in e + b): what the cell would write with no
    context), then each recurrent layer's hidden states.
    Pooling is word-level, as in Flair's contextual string embeddings: a word is the forward state
    after its last character and the backward state after its first (each has then read the whole
    word and its context on one side); layer 0 is the mean over the word's characters. The poem is
    the mean over its words (`pooling="chars"`: the mean over every character instead).
    ELMo's scalar mix gamma * sum_j softmax(w)_j h_j joins the layers (uniform weights: there is no
    downstream task to learn them from); the forward and backward vectors are concatenated.
    `layers="lstm"` (default) mixes the recurrent layers only; `layers="all"` adds layer 0. On the
    Sonnets (K-means, k=5, seeds 0-2) layer 0 lowered the themes' NPMI coherence (0.004, 0.017,
    0.000 against 0.016, 0.028, 0.016): it carries spelling more than sense.

    No backward model? `fit` trains one on the reversed poems with prepare_run/Trainer: the forward
    model's architecture, `backward_steps` steps (deterministic; 400 steps of 32 x 64 characters took
    25 s for the 1x256 LSTM on the busy 2-core CPU, one torch thread), stopped early after
    `backward_seconds` (the model then depends on the machine's speed; its facts say stop_reason
    "budget"). Backward models and embeddings are kept in the Store the caller made active
    (`with store.active():`, poetry_lab.store), keyed by the poems' corpus_key and the models' weights;
    with none active they are made again each time. The Store is never a parameter (clone copies
    parameters); a clone shares the given models (they are only read) instead of copying their weights.

FeatureAutoencoder (a transformer: features -> latent codes)
    A small PyTorch autoencoder (d -> hidden -> latent -> hidden -> d, tanh, MSE, Adam); every
    random draw comes from an explicit torch.Generator seeded from random_state.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state

from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.core.model import CharLSTM
from poetry_lab.core.train import TrainConfig
from poetry_lab.data.corpus import Corpus
from poetry_lab.data.text import WORD
from poetry_lab.errors import PoetryLabError
from poetry_lab.settings import default_model_path
from poetry_lab.store import Store, active_store, corpus_key

_LEAD = "\n\n"  # poems start after a blank line in the training text: the context they are read in
_BATCH_CHARS = 32_000  # padded characters per forward batch


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD.finditer(text)]


def train_backward(forward: ModelBundle, poems: list[str], steps: int = 400, seconds: float | None = 45.0,
                   seed: int = 0, store: Store | None = None) -> ModelBundle:
    """A backward twin of `forward` trained on the reversed poems (kept in `store`, if given, by corpus_key and settings)."""
    text = "\n\n".join(poems)[::-1]
    cfg = forward.model.config
    arch = {"cell": cfg.cell, "hidden": cfg.hidden, "layers": cfg.layers, "emb_dim": cfg.emb_dim, "dropout": 0.1}
    if store is not None:
        key = (corpus_key(poems), tuple(sorted(arch.items())), steps, seconds, seed)
        return store.get("backward model", key, lambda: train_backward(forward, poems, steps, seconds, seed))
    from poetry_lab.runs.prepare import (
        prepare_run,  # late: training is only needed without a backward model
    )

    tc = TrainConfig(max_steps=steps, minutes=None if seconds is None else seconds / 60, eval_every_steps=max(1, steps // 4),
                     patience=None, warmup_steps=min(30, max(1, steps // 10)), seed=seed)
    try:
        run = prepare_run(Corpus(text, name="reversed poems"), arch, tc, val_fraction=0.1)
    except PoetryLabError as e:
        raise PoetryLabError(f"The embeddings need a backward model, and training one failed: {e}") from e
    start = time.perf_counter()
    result = run.trainer.fit()
    run.bundle.model.eval()
    run.bundle.facts = {"corpus": "reversed poems", "direction": "backward", "steps": result.steps,
                        "stop_reason": result.stop_reason, "best_val_loss": result.best_val,
                        "train_seconds": round(time.perf_counter() - start, 1)}
    return run.bundle


@torch.inference_mode()
def layer_states(model: CharLSTM, ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) -> (L + 1, B, T, H): the projected character embedding, then each layer's states."""
    x = model.embed(ids)  # (B, T, E)
    out = [model.input_candidate(x)]
    for rnn in model.rnns:
        x, _ = rnn(x)
        out.append(x)
    return torch.stack(out)


def pool_poems(bundle: ModelBundle, poems: list[str], reverse: bool, pooling: str = "words") -> np.ndarray:
    """(n, L + 1, H): each poem's layers pooled over its words (or characters); see the module doc."""
    model, vocab = bundle.model, bundle.vocab
    device = next(model.parameters()).device
    texts = [p[::-1] if reverse else p for p in poems]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), len(model.rnns) + 1, model.config.hidden), dtype=np.float32)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop - start + 1) * (len(texts[order[stop]]) + len(_LEAD)) <= _BATCH_CHARS:
            stop += 1
        batch = order[start:stop]
        width = len(texts[batch[-1]]) + len(_LEAD)
        ids = np.zeros((len(batch), width), dtype=np.int64)  # right padding: earlier states are unaffected
        for row, i in enumerate(batch):
            enc = vocab.encode(_LEAD + texts[i])
            ids[row, : len(enc)] = enc
        states = layer_states(model, torch.as_tensor(ids, device=device)).float().cpu().numpy()  # (L+1, B, T, H)
        for row, i in enumerate(batch):
            out[i] = _pool_one(states[:, row], poems[i], reverse, pooling)
        start = stop
    return out


def _pool_one(states: np.ndarray, poem: str, reverse: bool, pooling: str) -> np.ndarray:
    """states (L+1, T, H) over _LEAD + text -> (L+1, H)."""
    n, off = len(poem), len(_LEAD)
    if n == 0:
        return np.zeros(states.shape[::2], dtype=states.dtype)
    body = states[:, off : off + n]  # (L+1, n, H)
    spans = _word_spans(poem)
    if pooling == "chars" or not spans:
        return body.mean(axis=1)
    # Reading reversed text, the character at i sits at position n - 1 - i.
    pos = lambda i: n - 1 - i if reverse else i  # noqa: E731
    ends = [pos(a) if reverse else pos(b - 1) for a, b in spans]  # where the whole word has been read
    context = body[1:, ends].mean(axis=1)  # (L, H)
    csum = np.concatenate([np.zeros_like(body[0, :1]), np.cumsum(body[0], axis=0)])  # (n+1, H)
    lo_hi = [(pos(b - 1), pos(a) + 1) if reverse else (a, b) for a, b in spans]
    chars = np.mean([(csum[hi] - csum[lo]) / (hi - lo) for lo, hi in lo_hi], axis=0)  # (H,)
    return np.concatenate([chars[None], context])


class LMEmbeddings(TransformerMixin, BaseEstimator):
    """Poems -> ELMo-style vectors [forward mix | backward mix] of size 2H (see the module doc).

    forward: a ModelBundle, or None for the shipped pretrained model (read from the active Store).
    backward: its twin trained on reversed text, or None to train one in `fit` (or use the one shipped
    beside the default model). layer_weights: scalar-mix logits, one per mixed layer (None: uniform);
    gamma scales the mix.
    """

    def __init__(self, forward: ModelBundle | None = None, backward: ModelBundle | None = None, layers: str = "lstm",
                 pooling: str = "words", layer_weights: list[float] | None = None, gamma: float = 1.0,
                 backward_steps: int = 400, backward_seconds: float | None = 45.0, max_chars: int = 4000,
                 random_state: int | None = 0):
        self.forward = forward
        self.backward = backward
        self.layers = layers
        self.pooling = pooling
        self.layer_weights = layer_weights
        self.gamma = gamma
        self.backward_steps = backward_steps
        self.backward_seconds = backward_seconds
        self.max_chars = max_chars
        self.random_state = random_state

    def __sklearn_clone__(self) -> LMEmbeddings:
        """An unfitted copy sharing the given models, as scikit-learn's FrozenEstimator shares its estimator:
        they are only read here, and grid search clones once per candidate and fold."""
        params = self.get_params(deep=False)
        shared = {name: params.pop(name) for name in ("forward", "backward")}
        return type(self)(**{name: clone(value, safe=False) for name, value in params.items()}, **shared)

    def fit(self, poems: list[str], y=None) -> LMEmbeddings:
        if self.layers not in ("all", "lstm") or self.pooling not in ("words", "chars"):
            raise PoetryLabError("Embedding layers must be 'all' or 'lstm', and pooling 'words' or 'chars'.")
        store = active_store()
        self.forward_, twin = (self.forward, None) if self.forward is not None else default_models(store)
        if self.backward is not None or twin is not None:
            self.backward_ = self.backward if self.backward is not None else twin
        else:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
            self.backward_ = train_backward(self.forward_, [p[: self.max_chars] for p in poems], self.backward_steps,
                                            self.backward_seconds, seed, store)
            facts = self.backward_.facts
            if facts["stop_reason"] == "budget":
                warnings.warn(f"The backward model reached its {self.backward_seconds:g} s limit after {facts['steps']} of "
                              f"{self.backward_steps} steps: themes may change between runs. On a busy machine use one "
                              "torch thread (--threads 1), or allow more time.", stacklevel=2)
        n_layers = len(self.forward_.model.rnns) + (1 if self.layers == "all" else 0)
        if len(self.backward_.model.rnns) != len(self.forward_.model.rnns):
            raise PoetryLabError("The forward and backward models must have the same number of layers.")
        logits = np.zeros(n_layers) if self.layer_weights is None else np.asarray(self.layer_weights, dtype=float)
        if logits.shape != (n_layers,):
            raise PoetryLabError(f"Give {n_layers} layer weights (one per mixed layer), not {logits.size}.")
        self.mix_weights_ = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        self.n_features_out_ = self.forward_.model.config.hidden + self.backward_.model.config.hidden
        return self

    def transform(self, poems: list[str]) -> np.ndarray:
        poems, store = [p[: self.max_chars] for p in poems], active_store()
        if store is None:
            return self._vectors(poems)
        key = ("lm", _fingerprint(self.forward_), _fingerprint(self.backward_), self.layers, self.pooling,
               tuple(self.mix_weights_.tolist()), self.gamma, corpus_key(poems))
        return store.get("embeddings", key, lambda: self._vectors(poems)).copy()

    def _vectors(self, poems: list[str]) -> np.ndarray:
        parts = []
        for bundle, reverse in ((self.forward_, False), (self.backward_, True)):
            layers = pool_poems(bundle, poems, reverse, self.pooling)  # (n, L+1, H)
            if self.layers == "lstm":
                layers = layers[:, 1:]
            parts.append(self.gamma * np.einsum("l,nlh->nh", self.mix_weights_, layers))
        return np.concatenate(parts, axis=1).astype(np.float64)


def _fingerprint(bundle: ModelBundle) -> str:
    """The weights and vocabulary, hashed: a model trained further in place gets a new fingerprint."""
    h = hashlib.sha256("".join(bundle.vocab.chars).encode("utf-8", "surrogatepass"))
    for name, t in bundle.model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def default_models(store: Store | None = None) -> tuple[ModelBundle, ModelBundle | None]:
    """The default model (settings.default_model_path) and its backward twin if one ships beside
    it (see backward_twin); read from `store` (loaded once and shared read-only) when one is given."""
    from poetry_lab.core.checkpoint import load_model

    def load(path: Path) -> ModelBundle:
        return store.get("model", str(path), lambda: load_model(path, device="cpu")) if store is not None else load_model(path, device="cpu")

    path = default_model_path()
    twin = backward_twin(path)
    return load(path), (load(twin) if twin else None)


def backward_twin(forward_path) -> Path | None:
    """X_backward.safetensors beside X_forward.safetensors (how pretrained bases ship), if it exists."""
    path = Path(forward_path)
    head, sep, tail = path.name.rpartition("forward")
    twin = path.with_name(head + "backward" + tail) if sep else None
    return twin if twin is not None and twin.is_file() else None


class _AE(nn.Module):
    def __init__(self, d: int, hidden: int, latent: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, d))


class FeatureAutoencoder(TransformerMixin, BaseEstimator):
    """Features (n, d) -> latent codes (n, latent_dim), learnt by reconstructing the features."""

    def __init__(self, latent_dim: int = 8, hidden: int = 64, epochs: int = 150, batch_size: int = 32,
                 lr: float = 3e-3, weight_decay: float = 1e-4, random_state: int | None = 0):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state

    def fit(self, X, y=None) -> FeatureAutoencoder:
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        g = torch.Generator().manual_seed(int(check_random_state(self.random_state).randint(2**31 - 1)))
        with torch.device("meta"):  # no default initialisation: the global random state stays untouched
            net = _AE(X.shape[1], self.hidden, self.latent_dim)
        net = net.to_empty(device="cpu")
        with torch.no_grad():
            for layer in net.modules():
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / layer.in_features ** 0.5
                    layer.weight.uniform_(-bound, bound, generator=g)
                    layer.bias.zero_()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.loss_curve_ = []
        for _ in range(self.epochs):
            total = 0.0
            for batch in torch.randperm(len(X), generator=g).split(self.batch_size):
                loss = nn.functional.mse_loss(net.decoder(net.encoder(X[batch])), X[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            self.loss_curve_.append(total / len(X))
        self.net_ = net.eval()
        return self

    @torch.inference_mode()
    def transform(self, X) -> np.ndarray:
        return self.net_.encoder(torch.as_tensor(np.asarray(X, dtype=np.float32))).numpy().astype(np.float64)
