"""The order in which a training run visits its images: one explicit permutation per epoch.

The permutation of epoch ``e`` depends only on ``(seed, e)``, every rank takes an equal
interleaved share of it (the tail that does not fill a whole global step is dropped),
and a resumed run starts inside the epoch at the batch where it stopped. Nothing here
consumes a global random generator, so resuming reproduces the order exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """Permutation of ``range(n)`` for ``epoch`` of a run seeded with ``seed``."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def steps_per_epoch(n: int, batch_size: int, world_size: int, grad_accum: int) -> int:
    """Optimizer steps in one pass over ``n`` images (partial global batches dropped)."""
    return n // (batch_size * world_size * grad_accum)


class EpochSampler(Sampler[int]):
    """Indices of one rank for one epoch, starting after ``start_batch`` local batches."""

    def __init__(
        self,
        n: int,
        *,
        batch_size: int,
        grad_accum: int = 1,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ) -> None:
        self.n, self.batch_size, self.grad_accum = n, batch_size, grad_accum
        self.seed, self.epoch, self.rank, self.world_size = seed, epoch, rank, world_size
        self.start_batch = start_batch
        steps = steps_per_epoch(n, batch_size, world_size, grad_accum)
        self.local_batches = steps * grad_accum  # batches this rank yields in a full epoch

    def indices(self) -> list[int]:
        """This rank's indices for the whole epoch (before skipping ``start_batch``)."""
        used = self.local_batches * self.batch_size * self.world_size
        order = epoch_permutation(self.n, self.seed, self.epoch)[:used]
        return [int(i) for i in order[self.rank :: self.world_size]]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start_batch * self.batch_size :])

    def __len__(self) -> int:
        return max(0, self.local_batches - self.start_batch) * self.batch_size
