"""Sharding prediction over torchrun processes (one per GPU, one or many nodes).

``torchrun --nproc_per_node N -m geopose predict …`` starts N processes with the usual
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` variables. Each rank predicts the ids
``ids[rank::world_size]`` — every image is written by exactly one rank — on
``cuda:LOCAL_RANK`` when CUDA is available. A process group (NCCL on GPUs, gloo
otherwise) is only used for the final barrier, after which rank 0 packs the archive.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from geopose.runtime import pick_device

_T = TypeVar("_T")


@dataclass(frozen=True)
class Shard:
    """This process's place in a torchrun job (rank 0 of 1 when run directly)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: Sequence[_T]) -> list[_T]:
        """This rank's share of ``items``: every ``world_size``-th item from ``rank``."""
        return list(items[self.rank :: self.world_size])


def shard_from_env() -> Shard:
    """The shard described by torchrun's environment variables (defaults: one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return Shard(rank=rank, world_size=world, local_rank=local)


def device_for(shard: Shard, requested: str = "auto") -> torch.device:
    """``cuda:LOCAL_RANK`` for ``auto``/``cuda`` when CUDA is available, else ``requested``
    (the same rule as training's :func:`geopose.runtime.pick_device`)."""
    return pick_device(shard.local_rank, None if requested == "auto" else requested)


def init_group(shard: Shard, device: torch.device) -> bool:
    """Join the torchrun process group when there is more than one process.

    Only under a launcher that set ``MASTER_ADDR`` (torchrun does); shards made by hand
    (tests, or jobs split over machines without a group) work without one.
    """
    if shard.world_size <= 1 or dist.is_initialized() or "MASTER_ADDR" not in os.environ:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return True


def barrier_and_close(started: bool) -> None:
    """Wait for every rank, then leave the process group (when this module joined it)."""
    if started and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
