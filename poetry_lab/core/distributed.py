"""Data-parallel training with PyTorch DistributedDataParallel, one process per core or GPU.

Run under `torchrun` (see poetry_lab.runs.pretrain). Every rank builds the same model from the same
seed and walks the same global layout of B streams; rank r trains on its contiguous share of
B/W streams. Each rank's loss is the mean over its B/W streams and DDP averages the gradients, so
one step equals a single process's step over all B streams (up to float reduction order).

Only rank 0 validates, logs and saves; the stop decision is shared every step so that no rank
waits forever for another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from poetry_lab.core.model import CharLSTM, pick_device
from poetry_lab.core.train import Progress, TrainConfig, Trainer
from poetry_lab.errors import PoetryLabError


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: its rank among `world_size` processes and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@contextmanager
def process_group() -> Iterator[DistEnv]:
    """Join torchrun's process group (from RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ... in the
    environment) for the duration of the block; a single process when WORLD_SIZE is absent or 1.

    NCCL on GPUs (one GPU per process: cuda:LOCAL_RANK), gloo on CPUs.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield DistEnv(device=pick_device())
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise PoetryLabError(f"Process {local_rank} has no GPU of its own: start at most {torch.cuda.device_count()} per machine.")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield DistEnv(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)
        # Leave together: rank 0 may still be writing the model when the others are done, and a rank
        # that tears down gloo while a peer is still connected can abort at exit ("terminate called").
        dist.barrier()
    finally:
        dist.destroy_process_group()


def rank_rows(streams: int, rank: int, world_size: int) -> slice:
    """The contiguous streams (rows of a (B, T) batch) that `rank` trains on."""
    if streams % world_size:
        raise PoetryLabError(f"{streams} parallel streams cannot be shared evenly by {world_size} processes: "
                             f"make the batch size a multiple of {world_size}.")
    share = streams // world_size
    return slice(rank * share, (rank + 1) * share)


def shard_batches(batches: Iterator, rows: slice) -> Iterator:
    """This rank's rows of each (x, y, new_epoch) chunk of the single-process layout."""
    for x, y, new_epoch in batches:
        yield x[rows], y[rows], new_epoch


class DistributedTrainer(Trainer):
    """A Trainer whose steps run through DistributedDataParallel; call from every rank at once.

    The model must already be on `env.device`. Rank 0 alone validates, so its `best_state` and
    `history` are the run's; other ranks end with the last weights and no validation facts. Early
    stopping takes effect one step after rank 0 decides it (the decision is shared with the next
    stop check). With dropout, each rank draws its own masks, so the run is not the same as one
    process's (which draws one mask for all B streams); without dropout it is.
    """

    def __init__(self, model: CharLSTM, train_ids: np.ndarray, val_ids: np.ndarray | None, config: TrainConfig, env: DistEnv):
        super().__init__(model, train_ids, val_ids, config)
        self.env = env
        self.rows = rank_rows(self.streams, env.rank, env.world_size)
        ids = [env.device.index] if env.device.type == "cuda" else None
        self.forward_module = DistributedDataParallel(model, device_ids=ids)  # broadcasts rank 0's weights
        self._shared_elapsed = 0.0  # the slowest rank's clock at the last stop check: one schedule for all
        self._early_stop = False

    def _epoch_batches(self, gen: torch.Generator):
        # Not a generator function, so this runs when fit() asks for the batches, just after it seeded
        # the dropout generator identically everywhere: give each rank its own masks.
        if self.model.dropout_generator is not None and self.env.rank:
            self.model.dropout_generator.manual_seed(self.config.seed + 1 + 1_000_003 * self.env.rank)
        return shard_batches(super()._epoch_batches(gen), self.rows)

    def _progress_fraction(self, step: int, elapsed: float) -> float:
        # Local clocks differ: a learning rate read from them would drift the ranks' weights apart.
        return super()._progress_fraction(step, self._shared_elapsed)

    def _limit_reached(self, step: int, elapsed: float) -> str | None:
        """One all-reduce per step: stop when any rank was asked to, ran out of time, or rank 0 saw
        its patience run out; every rank gets the same answer."""
        local = [float(self._stop.is_set()), float(self._early_stop), elapsed]
        flags = torch.tensor(local, dtype=torch.float64, device=self.env.device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, early, self._shared_elapsed = flags.tolist()
        if stop:
            self._stop.set()
        return super()._limit_reached(step, self._shared_elapsed) or ("early_stop" if early else None)

    def _validate(self, progress: Progress, step: int) -> bool:
        if self.env.is_main and super()._validate(progress, step):
            self._early_stop = True  # acted on at the next shared stop check, on every rank
        return False
