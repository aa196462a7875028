"""From a corpus to a ready Trainer, from scratch or from a base model; and the facts a model file keeps.

Shared by the CLI and the app's job runner, so both train exactly the same way.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, field, replace

import torch

from poetry_lab.core.checkpoint import ModelBundle, load_model
from poetry_lab.core.model import CharLSTM, ModelConfig, build_model, pick_device
from poetry_lab.core.train import TrainConfig, Trainer, TrainResult
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.corpus import Corpus
from poetry_lab.errors import PoetryLabError
from poetry_lab.runs.writer import WriterTuning
from poetry_lab.settings import LN2, Limits


@dataclass
class PreparedRun:
    bundle: ModelBundle  # the model being trained, its vocabulary and facts so far
    trainer: Trainer
    corpus: Corpus
    train_text: str
    val_text: str
    writer_tuning: WriterTuning = field(default_factory=WriterTuning)  # how bundle.writer (if any) learns the text after


def copy_bundle(bundle: ModelBundle) -> ModelBundle:
    """A copy to train; its writer is shared (nothing trains a writer in place: runs.writer copies it)."""
    return ModelBundle(model=copy.deepcopy(bundle.model), vocab=bundle.vocab, facts=dict(bundle.facts), writer=bundle.writer)


@torch.no_grad()
def extend_vocab(bundle: ModelBundle, chars: list[str], seed: int = 0) -> ModelBundle:
    """Add characters as new embedding and output rows; every existing row keeps its weights."""
    new = [c for c in chars if c not in bundle.vocab]
    if not new:
        return bundle
    old, cfg = bundle.model, bundle.model.config
    vocab = bundle.vocab.extended(new)
    grown = CharLSTM(replace(cfg, vocab_size=len(vocab))).to(next(old.parameters()).device)
    state = old.state_dict()
    g = torch.Generator().manual_seed(seed)
    n = cfg.vocab_size
    emb = torch.randn(len(vocab) - n, cfg.emb_dim, generator=g) * state["embed.weight"].std()
    state["embed.weight"] = torch.cat([state["embed.weight"], emb.to(state["embed.weight"])])
    # New characters start as unlikely outputs (zero weights, a low bias) and are learnt from the corpus.
    head_w = torch.zeros(len(vocab) - n, cfg.hidden).to(state["head.weight"])
    head_b = torch.full((len(vocab) - n,), float(state["head.bias"].min())).to(state["head.bias"])
    state["head.weight"] = torch.cat([state["head.weight"], head_w])
    state["head.bias"] = torch.cat([state["head.bias"], head_b])
    grown.load_state_dict(state)
    return ModelBundle(model=grown, vocab=vocab, facts=dict(bundle.facts), writer=bundle.writer)


def prepare_run(
    corpus: Corpus,
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    base: ModelBundle | str | None = None,
    val_fraction: float = 0.1,
    limits: Limits | None = None,
    val_text: str | None = None,
    writer: WriterTuning | None = None,
) -> PreparedRun:
    """Split the corpus, build (or extend) the model and return a Trainer ready to fit().

    val_text: validate on this (normalised) text instead, and train on the whole corpus. With
    `limits` (the app's), oversized jobs are refused before anything is allocated. A base's writer
    goes with the run, to learn the text after the model (runs.writer.teach_writer, as `writer` says).
    """
    tc = train_config or TrainConfig()
    if limits is not None:
        tc = check_limits(corpus, model_config or {}, tc, base, limits)
    if val_text is not None:
        if len(val_text.strip()) < 2:
            raise PoetryLabError("The validation file is empty: give it some poems the model does not train on.")
        train_text = corpus.text
    else:
        train_text, val_text = corpus.split(val_fraction)
    if len(train_text) < 64:
        raise PoetryLabError(
            f"Only {len(train_text)} characters to train on: that is too little. Add more poems (a few thousand characters at least)."
        )
    if base is not None:
        # Never train the caller's bundle in place: it may be the model the app is serving.
        bundle = load_model(base) if isinstance(base, str) else copy_bundle(base)
        bundle = extend_vocab(bundle, sorted(set(train_text + val_text) - set(bundle.vocab.chars)), seed=tc.seed)
        bundle.facts = {"base_model": bundle.facts.get("name") or bundle.facts.get("corpus", "base model")}
        if model_config and model_config.get("dropout") is not None:  # the only setting a fine-tune can change
            bundle.model.config.dropout = float(model_config["dropout"])
        bundle.model.train()
    else:
        vocab = Vocab.from_text(train_text + val_text)
        cfg = ModelConfig(vocab_size=len(vocab), **(model_config or {}))
        bundle = ModelBundle(model=build_model(cfg, seed=tc.seed, device=pick_device()), vocab=vocab, facts={})
    vocab = bundle.vocab
    trainer = Trainer(bundle.model, vocab.encode(train_text), vocab.encode(val_text), tc)
    return PreparedRun(bundle=bundle, trainer=trainer, corpus=corpus, train_text=train_text, val_text=val_text,
                       writer_tuning=writer or WriterTuning())


def check_limits(corpus: Corpus, model_config: dict, tc: TrainConfig, base: ModelBundle | str | None,
                 limits: Limits) -> TrainConfig:
    """Refuse a job over the app's limits, before anything is allocated. Returns the config to train with:
    `tc`, or a copy given the server's time limit as its budget when it has none (epochs or steps alone).
    The caller's config is never changed."""
    distinct = len(set(corpus.text))
    if distinct > limits.max_distinct_chars:
        raise PoetryLabError(f"The text uses {distinct:,} different characters; a model here can learn at most "
                             f"{limits.max_distinct_chars:,}. Is it really a text file of poems?")
    if tc.minutes is not None and tc.minutes > limits.max_minutes:
        raise PoetryLabError(f"Training may last at most {limits.max_minutes:g} minutes here.")
    if base is None:
        params = CharLSTM(ModelConfig(vocab_size=distinct + 1, **model_config), device="meta").num_params()  # nothing allocated
        if params > limits.max_parameters:
            raise PoetryLabError(f"That model would have {params:,} parameters; the limit here is {limits.max_parameters:,}. "
                                 "Choose a smaller hidden size or fewer layers.")
    return tc if tc.minutes is not None else replace(tc, minutes=limits.max_minutes)  # epochs or steps alone


def now_iso() -> str:
    """The one date format of run records and model facts: UTC, to the second, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def facts_record(base: dict, **facts) -> dict:
    """The one builder of what a model file records about how it was made: the facts of the model
    it started from, updated with `facts`, plus the best validation loss in bits and the date."""
    out = {**base, **facts}
    best = out.get("best_val_loss")
    out["best_val_bits_per_char"] = None if best is None else best / LN2
    out["date"] = now_iso()
    return out


def training_facts(run: PreparedRun, result: TrainResult) -> dict:
    """The facts of a finished training run (see facts_record)."""
    return facts_record(
        run.bundle.facts, corpus=run.corpus.name, corpus_chars=len(run.corpus.text), train_chars=len(run.train_text),
        val_chars=len(run.val_text), steps=result.steps, epochs=round(result.epochs, 3), best_step=result.best_step,
        best_val_loss=result.best_val, train_seconds=round(result.elapsed, 1), stop_reason=result.stop_reason,
        train_config=run.trainer.config.to_dict(),
    )
