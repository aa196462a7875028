"""The model a session writes with, and the text it was trained on (for the copying checks).

It is a model file the visitor loaded, a run's best model, a finished training's model, or else the
shared default model (settings.default_model_path), which every session reads from the Store.
"""

from __future__ import annotations

import re
from pathlib import Path

from poetry_lab.analysis.metrics import CorpusIndex, copy_index, corpus_copy_index
from poetry_lab.core.checkpoint import ModelBundle, load_model, save_model
from poetry_lab.errors import PoetryLabError
from poetry_lab.settings import default_model_path
from poetry_lab.store import Store


def shared_model(store: Store, path: Path) -> ModelBundle:
    """A model file loaded once per process and shared read-only (sampling never changes a model)."""
    return store.get("model", str(path), lambda: load_model(path, device="cpu"))


def bundled_reference(store: Store, name: str) -> CorpusIndex | None:
    """The copy index of a bundled corpus by name; None if it is not on this machine or too large."""
    def make() -> CorpusIndex | None:
        try:
            return corpus_copy_index(name)
        except PoetryLabError:
            return None
    return store.get("corpus index", name, make)


def model_summary(bundle: ModelBundle) -> str:
    c, f = bundle.model.config, bundle.facts
    best = f.get("best_val_loss")
    loss = f", validation {best:.3f} nats/char" if isinstance(best, (int, float)) else ""
    out = (f"{c.cell.upper()} {c.layers}x{c.hidden}, {bundle.model.num_params():,} parameters, "
           f"trained on {f.get('corpus', 'unknown text')}{loss}")
    w = bundle.writer
    if w is not None:
        tuned = w.facts.get("corpus") if "base" in w.facts else None  # a run's fine-tuned writer (runs.writer)
        out += (f"; its poems in form are written word by word by its writer (LSTM 1x{w.model.config.hidden}, "
                f"{len(w.vocab):,} words" + (f", fine-tuned on {tuned})" if tuned else ")"))
    return out


class ModelSlot:
    def __init__(self, store: Store):
        self.store = store
        self.loaded: ModelBundle | None = None  # None: the shared default model
        self._reference: CorpusIndex | None = None  # the loaded model's training text (the default's is looked up)

    def is_default(self) -> bool:
        return self.loaded is None

    def _default(self) -> ModelBundle | None:
        """The shared default model, None if this machine has none (the Store loads it once per process)."""
        path = default_model_path()
        return shared_model(self.store, path) if path.is_file() else None

    @property
    def bundle(self) -> ModelBundle:
        if self.loaded is not None:
            return self.loaded
        bundle = self._default()
        if bundle is None:
            raise PoetryLabError("No model is loaded yet: train one on your poems or load a model file.")
        return bundle

    @property
    def reference(self) -> CorpusIndex | None:
        """The copy index of the model's training text: the default model's is its bundled corpus, if here."""
        if self.loaded is not None:
            return self._reference
        bundle = self._default()
        corpus = bundle.facts.get("corpus") if bundle is not None else None
        return bundled_reference(self.store, corpus) if corpus else None

    def use(self, bundle: ModelBundle, reference: CorpusIndex | None) -> None:
        self.loaded, self._reference = bundle, reference

    def load_file(self, path: str | Path, corpus_text: str | None) -> ModelBundle:
        """Load a model file; copying is then checked against the session's corpus, if any."""
        self.use(load_model(path, device="cpu"), copy_index(corpus_text) if corpus_text is not None else None)
        return self.loaded

    def save_copy(self, folder: Path) -> Path:
        """The model as a .safetensors file in `folder`, named after its corpus."""
        b = self.bundle
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(b.facts.get("corpus", "model")))[:40] or "model"
        return save_model(folder / f"poetry_lab_{name}.safetensors", b)
