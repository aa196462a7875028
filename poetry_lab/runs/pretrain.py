"""Pretraining base models on a large poetry corpus (forward, or backward on reversed text).

    python -m poetry_lab pretrain gutenberg_poetry --direction forward --minutes 50 --out pretrained/base_forward.safetensors
    python -m poetry_lab pretrain --resume --out pretrained/base_forward.safetensors --minutes 90   # after a crash

How the shipped bases were made (on a GPU, benchmarks/device/pretrain_gpu.sh) is in pretrained/README.md.

On several cores, GPUs or machines, the same command runs under torchrun with PyTorch
DistributedDataParallel (gloo on CPUs, NCCL with one GPU per process), e.g. two processes here:

    torchrun --standalone --nproc-per-node 2 -m poetry_lab pretrain gutenberg_poetry --direction forward \
        --minutes 50 --out pretrained/base_forward.safetensors

`--batch` stays the global batch (it must divide evenly by the number of processes): each process
trains on its share of the streams, and without dropout the run learns what one process would from
the same batches. On several machines, replace `--standalone` with `--nnodes N --node-rank I
--rdzv-endpoint HOST:PORT`. Only rank 0 logs, validates and writes the model file.

The base vocabulary covers what poets type (accented letters, curly quotes, dashes, digits,
punctuation) plus every character common in the corpus; rarer characters map to the unknown symbol
and are added as new rows when a poet's corpus needs them (runs.prepare.extend_vocab).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from poetry_lab.core.checkpoint import ModelBundle, save_model
from poetry_lab.core.distributed import DistEnv, DistributedTrainer
from poetry_lab.core.model import CharLSTM, ModelConfig, build_model, pick_device, widened
from poetry_lab.core.train import TrainConfig, Trainer
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.corpus import normalise, read_sources
from poetry_lab.errors import PoetryLabError
from poetry_lab.files import atomic_write_text
from poetry_lab.runs.prepare import facts_record
from poetry_lab.runs.record import load_resume, save_resume
from poetry_lab.settings import LN2

# What poets type, whether or not the corpus has much of it.
POET_CHARS = (
    "\n\t !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿŒœŠšŸŽžß"
    "‘’‚“”„–—―…·•«»‹›¡¿§¶†‡°′″"
)
MIN_COUNT = 200  # a character seen fewer times than this in 100 M characters is noise for the base


@dataclass
class PretrainConfig:
    direction: str = "forward"  # or "backward": the text reversed, for ELMo-style bidirectional features
    val_chars: int = 1_000_000  # the held-out tail of the corpus
    max_chars: int | None = None  # use only the first N characters (quick runs)
    model: dict | None = None  # ModelConfig fields
    train: dict | None = None  # TrainConfig fields


def base_vocab(text: str) -> Vocab:
    counts = Counter(text)
    common = {c for c, n in counts.items() if n >= MIN_COUNT and c.isprintable() or c in "\n\t"}
    return Vocab(sorted(set(POET_CHARS) | common))


def load_text(source: str, max_chars: int | None) -> str:
    (_, raw), = read_sources([source])
    text = normalise(raw)
    return text[:max_chars] if max_chars else text


def resume_file(out: Path) -> Path:
    """Where a pretraining run that writes `out` keeps its resume checkpoint: base.safetensors -> base.resume.safetensors."""
    out = Path(out)
    return out.with_name(f"{out.stem}.resume{out.suffix or '.safetensors'}")


def pretrain(source: str, cfg: PretrainConfig, log=print, env: DistEnv | None = None, out: Path | None = None,
             start: ModelBundle | None = None, resume: bool = False, checkpoint_every_s: float = 300.0
             ) -> tuple[ModelBundle, dict]:
    """Train a base model on `source` (a corpus name or file); return it with its facts.

    out: written (model and JSON card beside it, atomically) each time validation improves, so a run
    killed at any moment after its first evaluation leaves its best model; beside it, `resume_file(out)`
    holds the whole training state at least every `checkpoint_every_s` seconds (one process only).
    resume: go on from that checkpoint exactly (corpus, settings, weights, optimizer, data position);
    only cfg.train's limits (minutes, max_steps) are taken from `cfg`. start: a base model to go on
    training (same vocabulary; its weights, not its optimizer state). With `env` from
    distributed.process_group() under torchrun, every rank calls this at once; rank 0's bundle is the
    result (the others hold their last weights and no validation facts).
    """
    env = env or DistEnv(device=pick_device())
    if not env.is_main:
        log = _quiet
    header, state = None, None
    if resume:
        source, cfg, header, state = _resumed(out, cfg, env)
    run = _Pretraining.prepare(source, cfg, env, header, start, log)
    if state is not None:
        run.trainer.restore(state)
        log(f"resumed from the checkpoint at step {run.trainer.step}")
    run.save_along(out, log, checkpoint_every_s)
    result = run.trainer.fit()
    final = run.facts(result.steps, result.best_val, result.elapsed)
    bundle = ModelBundle(model=run.model, vocab=run.vocab, facts=final)
    if out is not None and env.is_main:
        save_base(out, bundle)
    return bundle, final


def _resumed(out: Path | None, cfg: PretrainConfig, env: DistEnv) -> tuple[str, PretrainConfig, dict, dict]:
    """(source, config, header, training state) of the checkpoint beside `out`; only cfg.train's limits
    (minutes, max_steps) are taken from `cfg`."""
    if out is None or not resume_file(out).is_file():
        raise PoetryLabError(f"There is no pretraining checkpoint to resume beside {out}.")
    if env.world_size > 1:
        raise PoetryLabError("Resume a pretraining run in one process (without torchrun).")
    header, state = load_resume(resume_file(out))
    stored = header["facts"]["pretrain"]
    limits = {k: v for k, v in (cfg.train or {}).items() if k in ("minutes", "max_steps") and v is not None}
    config = PretrainConfig(**{**stored["config"], "train": {**stored["config"]["train"], **limits}})
    return stored["source"], config, header, state


@dataclass
class _Pretraining:
    """One pretraining run, ready to fit: its data, model and trainer, and what its model card says."""

    source: str
    cfg: PretrainConfig
    env: DistEnv
    text_chars: int
    vocab: Vocab
    train_chars: int
    val_chars: int
    tc: TrainConfig
    model: CharLSTM
    trainer: Trainer
    earlier: dict  # the facts of the base this run goes on from (steps, epochs, seconds), or {}

    @classmethod
    def prepare(cls, source: str, cfg: PretrainConfig, env: DistEnv, header: dict | None, start: ModelBundle | None,
                log) -> _Pretraining:
        if cfg.direction not in ("forward", "backward"):
            raise PoetryLabError("direction must be 'forward' or 'backward'.")
        if cfg.val_chars < 100:
            raise PoetryLabError("Hold out at least 100 characters for validation.")
        t0 = time.perf_counter()
        text = load_text(source, cfg.max_chars)
        if len(text) < 10 * cfg.val_chars:
            raise PoetryLabError("The corpus is too small to pretrain on: use the train command instead.")
        vocab = Vocab.from_list(header["vocab"]) if header else start.vocab if start is not None else base_vocab(text)
        train_text, val_text = text[: -cfg.val_chars], text[-cfg.val_chars :]
        if cfg.direction == "backward":  # reversed text: the model reads each line from its end
            train_text, val_text = train_text[::-1], val_text[::-1]
        train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
        log(f"{len(text):,} chars ({len(train_ids):,} train, {len(val_ids):,} validation), vocabulary {len(vocab)}, "
            f"prepared in {time.perf_counter() - t0:.0f}s")
        tc = TrainConfig(**{"minutes": 30.0, "batch_size": 32, "seq_len": 128, "lr": 4e-3, "warmup_steps": 200,
                            "eval_every_s": 300.0, "patience": None, **(cfg.train or {})})
        if header is not None:
            model = CharLSTM(ModelConfig(**header["config"]), device="meta").to_empty(device=env.device)
        elif start is not None:
            hidden = (cfg.model or {}).get("hidden") or start.model.config.hidden
            model = (widened(start.model, hidden, seed=tc.seed) if hidden != start.model.config.hidden else start.model).to(env.device)
        else:
            given = {k: v for k, v in (cfg.model or {}).items() if v is not None}
            mc = ModelConfig(vocab_size=len(vocab), **{"hidden": 512, "dropout": 0.0, **given})
            model = build_model(mc, seed=tc.seed, device=env.device)  # the same seed: the same weights on every rank
        trainer = (DistributedTrainer(model, train_ids, val_ids, tc, env) if env.world_size > 1
                   else Trainer(model, train_ids, val_ids, tc))
        earlier = dict(header["facts"].get("continued_from") or {}) if header else dict(start.facts) if start is not None else {}
        return cls(source, cfg, env, len(text), vocab, len(train_ids), len(val_ids), tc, model, trainer, earlier)

    def facts(self, steps: int, best_val: float | None, elapsed: float) -> dict:
        """The model card after `steps` steps of this run (added to what the base it went on from did)."""
        earlier, trainer, env = self.earlier, self.trainer, self.env
        return facts_record({}, **{
            "name": f"poetry base ({self.cfg.direction})",
            "direction": self.cfg.direction,
            "corpus": self.source,
            "corpus_chars": self.text_chars,
            "train_chars": self.train_chars,
            "val_chars": self.val_chars,
            "validation": f"the last {self.cfg.val_chars:,} characters of the corpus",
            "steps": steps + earlier.get("steps", 0),
            "epochs": round(earlier.get("epochs", 0) + steps / trainer.steps_per_epoch, 4),
            "train_chars_seen": steps * trainer.streams * trainer.seq_len + earlier.get("train_chars_seen", 0),
            "best_val_loss": best_val,
            "train_seconds": round(elapsed + earlier.get("train_seconds", 0), 1),
            "parameters": self.model.num_params(),
            "train_config": self.tc.to_dict(),
            "torch_threads": torch.get_num_threads(),
            "device": str(env.device) if env.device.type == "cpu" else torch.cuda.get_device_name(env.device),
            "processes": env.world_size,
            "command": _launcher(env) + " " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "continued_from": earlier or None,
            "pretrain": {"source": self.source, "config": asdict(self.cfg)},  # what --resume needs to rebuild the data
        })

    def save_along(self, out: Path | None, log, checkpoint_every_s: float) -> None:
        """Callbacks: log each evaluation, write the best model to `out` when validation improves (rank 0),
        and a resume checkpoint beside it at least every `checkpoint_every_s` seconds (one process only)."""
        last_checkpoint = [time.perf_counter()]

        def on_eval(t: Trainer, p) -> None:
            log(f"{p.elapsed:7.0f}s step {p.step:6d} epoch {p.epoch:.3f} train {p.train_loss:.4f} val {p.val_loss:.4f} "
                f"({p.val_loss / LN2:.4f} bits) {p.chars_per_s:,.0f} chars/s")
            if out is not None and self.env.is_main and t.best_step == p.step:  # just improved
                facts = self.facts(p.step, p.val_loss, p.elapsed)
                save_base(out, ModelBundle(model=self.model, vocab=self.vocab, facts=facts), t.best_state)

        def on_step_end(t: Trainer, p) -> None:
            if time.perf_counter() - last_checkpoint[0] < checkpoint_every_s and t.stop_reason is None:
                return
            bundle = ModelBundle(model=self.model, vocab=self.vocab, facts=self.facts(p.step, t.best_val, p.elapsed))
            save_resume(resume_file(out), t.training_state(), bundle, self.tc)
            last_checkpoint[0] = time.perf_counter()

        self.trainer.add_callback("on_eval", on_eval)
        if out is not None and self.env.world_size == 1:
            self.trainer.add_callback("on_step_end", on_step_end)


def _launcher(env: DistEnv) -> str:
    if env.world_size == 1:
        return "python -m poetry_lab"
    return f"torchrun --nproc-per-node {os.environ.get('LOCAL_WORLD_SIZE', env.world_size)} -m poetry_lab"


def _quiet(message: str) -> None:
    pass


def save_base(path: Path, bundle: ModelBundle, state_dict: dict | None = None) -> None:
    """The model file and its JSON model card beside it (both written atomically); `state_dict` overrides the weights."""
    save_model(path, bundle, state_dict=state_dict)
    atomic_write_text(Path(path).with_suffix(".json"), json.dumps(bundle.facts, indent=1, ensure_ascii=False, default=str) + "\n")
