"""torch.distributed set-up for ``torchrun --nproc_per_node N -m geopose train …``.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (multi-node runs add
``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint`` as usual); without them the run is
a single process and nothing here talks to other processes. The backend is NCCL on
GPUs and gloo on CPU. Only rank 0 logs and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from geopose.errors import UsageError


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank, the world size, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1


def pick_device(local_rank: int = 0, requested: str | None = None) -> torch.device:
    """The device of this process: ``requested`` (``cpu``, ``cuda``, ``cuda:N``) or, by
    default, the CUDA device of this local rank when CUDA is available, else the CPU."""
    if requested is not None:
        device = torch.device(requested)
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise UsageError(f"device {requested}: CUDA is not available here")
            if device.index is None:
                device = torch.device("cuda", local_rank % torch.cuda.device_count())
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(requested_device: str | None = None) -> DistInfo:
    """Join the torchrun process group if the environment says there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(local_rank, requested_device)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, device)


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op in a single process)."""
    if info.distributed and dist.is_initialized():
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index or 0])
        else:
            dist.barrier()


def any_true(flag: bool, info: DistInfo) -> bool:
    """True if ``flag`` is true on any process (so all processes take the same branch)."""
    if not (info.distributed and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average floats over processes (same keys on every rank)."""
    if not (info.distributed and dist.is_initialized()) or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def leave_process_group() -> None:
    """Leave the torch.distributed process group if this process is in one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
