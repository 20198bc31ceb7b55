"""This process: its place in a torchrun job, its device, its precision, its threads.

``torchrun --nproc_per_node N -m geopose train|predict …`` starts N processes with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (multi-node runs add ``--nnodes``,
``--node_rank`` and ``--rdzv_endpoint`` as usual); without them the job is a single
process and nothing here talks to other processes. :meth:`Runtime.from_env` reads the
environment once and resolves the requested device and precision once; training and
prediction take the resulting :class:`Runtime` and never read the environment
themselves.

- Device ``auto`` is ``cuda:LOCAL_RANK`` (modulo the GPU count) when CUDA is available,
  else the CPU; ``cuda`` without an index means the same GPU; ``cpu`` and ``cuda:N`` are
  taken as given — except that ``cuda:N`` is refused when torchrun starts several
  processes on one machine (``LOCAL_WORLD_SIZE`` > 1): every rank would share GPU N.
  ``LOCAL_RANK`` defaults to ``RANK`` (ranks set by hand on one machine then get
  distinct GPUs), ``RANK`` to 0 and ``WORLD_SIZE`` to 1. A CUDA device is made the
  process's current device (``torch.cuda.set_device``) on every rank, so that nothing
  that uses "the current device" lands on GPU 0.
- Precision ``auto`` is bf16 on a CUDA GPU that computes it natively (compute
  capability ≥ 8.0) and fp32 elsewhere (:func:`geopose.precision.resolve_precision`).
- The process group (NCCL on GPUs, gloo otherwise) is joined by
  :meth:`Runtime.join_group` only when there is more than one process and a launcher
  set ``MASTER_ADDR`` (torchrun does); it is bound to this rank's GPU (``device_id``)
  and its collectives time out after ``group_timeout_s`` seconds (default 30 min;
  ``train.group_timeout_s``). Only rank 0 logs and writes shared files.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import resource
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as dist

from geopose.errors import JobAborted, UsageError
from geopose.precision import resolve_precision

_T = TypeVar("_T")

#: Values of the ``--device`` option besides ``cuda:N``.
DEVICES = ("auto", "cpu", "cuda")

#: Default time (s) after which a collective that some rank never joins fails the job.
GROUP_TIMEOUT_S = 1800.0


def pick_device(local_rank: int = 0, requested: str | None = "auto") -> torch.device:
    """The device of a process: ``requested`` (``auto``/``None``, ``cpu``, ``cuda``,
    ``cuda:N``); ``auto`` and a bare ``cuda`` take the GPU of ``local_rank``."""
    if requested is None or requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(f"--device {requested!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {requested}: CUDA is not available here")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB) since it started its program.

    ``getrusage``'s ``ru_maxrss`` is not that on Linux: a child started by ``fork``
    (or ``vfork``) and ``exec`` inherits its parent's peak, so a command run from a
    3 GB pytest process reports 3 GB before it allocates anything. The kernel's
    per-address-space high-water mark (``VmHWM`` in ``/proc/self/status``) starts
    afresh at ``exec``; ``ru_maxrss`` is the fallback where ``/proc`` is absent.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op CPU threads (``None``: leave torch's default, one per core).
    On a shared or oversubscribed CPU, fewer threads avoid OpenMP spin-waiting."""
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"--threads must be ≥ 1, got {threads}")
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Runtime:
    """Where this process stands: rank, world size, local rank, device and the resolved
    (concrete) precision. The default is one CPU process in fp32."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"
    group_timeout_s: float = GROUP_TIMEOUT_S

    @classmethod
    def from_env(
        cls,
        device: str | None = "auto",
        precision: str = "auto",
        threads: int | None = None,
        env: Mapping[str, str] | None = None,
        *,
        training: bool = False,
        group_timeout_s: float = GROUP_TIMEOUT_S,
    ) -> Runtime:
        """This process as torchrun's variables describe it (see the module text), with
        ``device`` and ``precision`` resolved, a CUDA device made current and the CPU
        threads set. ``training``: the precision is for training (``auto`` may pick bf16
        on a CPU with native bf16). ``group_timeout_s``: see :meth:`join_group`."""
        e = os.environ if env is None else env
        try:
            world = int(e.get("WORLD_SIZE", "1"))
            rank = int(e.get("RANK", "0"))
            local_rank = int(e.get("LOCAL_RANK", str(rank)))
            local_world = int(e.get("LOCAL_WORLD_SIZE", "1"))
        except ValueError as err:
            raise UsageError(
                f"RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE must be integers: {err}"
            ) from None
        if not group_timeout_s > 0:
            raise UsageError(f"process-group timeout must be > 0 s, got {group_timeout_s}")
        set_threads(threads)
        dev = pick_device(local_rank, device)
        if dev.type == "cuda":
            explicit = device is not None and device not in ("auto", "cuda")
            if explicit and local_world > 1:
                raise UsageError(
                    f"--device {device} with {local_world} processes on this machine would "
                    "put every rank on one GPU: use --device cuda (or auto), each rank then "
                    "takes GPU LOCAL_RANK; choose GPUs with CUDA_VISIBLE_DEVICES"
                )
            torch.cuda.set_device(dev)
        return cls(
            rank, world, local_rank, dev,
            resolve_precision(precision, dev, training=training), group_timeout_s,
        )  # fmt: skip

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes shared files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when the job has more than one process."""
        return self.world_size > 1

    def take(self, items: Sequence[_T]) -> list[_T]:
        """This rank's share of ``items``: every ``world_size``-th item from ``rank``."""
        return list(items[self.rank :: self.world_size])

    def join_group(self) -> bool:
        """Join the torchrun process group when there is more than one process and a
        launcher set ``MASTER_ADDR``; True when this call joined it. Runtimes made by
        hand (tests, jobs split over machines without a group) work without one.

        On CUDA the group is NCCL, bound to this rank's GPU (``set_device`` and
        ``device_id``), so barriers and collectives never fall back to GPU 0. Any
        collective that waits longer than ``group_timeout_s`` fails the job with a
        timeout error (instead of NCCL's 10 minutes, or hanging)."""
        if not self.distributed or dist.is_initialized() or "MASTER_ADDR" not in os.environ:
            return False
        timeout = datetime.timedelta(seconds=self.group_timeout_s)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            dist.init_process_group(backend="nccl", timeout=timeout, device_id=self.device)
        else:
            dist.init_process_group(backend="gloo", timeout=timeout)
        return True

    def _grouped(self) -> bool:
        return self.distributed and dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        """Wait for every process (a no-op without a process group)."""
        if not self._grouped():
            return
        if self.device.type == "cuda":
            dist.barrier(device_ids=[_index(self.device)])
        else:
            dist.barrier()

    def any_true(self, flag: bool) -> bool:
        """True if ``flag`` is true on any process (so all processes take the same branch)."""
        if not self._grouped():
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def max_over_ranks(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise maximum of ``values`` (on this process's device) over all
        processes, in place and without waiting for the device (no host sync)."""
        if self._grouped():
            dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return values

    def gather_bytes(self, data: bytes) -> list[bytes]:
        """Every process's ``data``, in rank order (``[data]`` without a process group)."""
        if not self._grouped():
            return [data]
        size = torch.tensor([len(data)], dtype=torch.int64, device=self.device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        lengths = [int(s) for s in torch.cat(sizes).tolist()]
        padded = torch.zeros(max(lengths), dtype=torch.uint8)
        if data:
            padded[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        padded = padded.to(self.device)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        return [bytes(p[:n].cpu().numpy().tobytes()) for p, n in zip(parts, lengths, strict=True)]


def _index(device: torch.device) -> int:
    """The GPU index of a CUDA device (a bare ``cuda`` is the current GPU)."""
    return torch.cuda.current_device() if device.index is None else device.index


def leave_group() -> None:
    """Leave the torch.distributed process group if this process is in one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def sigterm_raises(message: str) -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`JobAborted` with ``message`` in this
    process, so the command ends with one line and exit code 3 instead of dying
    silently with signal 15.

    SIGTERM is what torchrun sends every other rank when one of them dies, and what
    batch schedulers send before they kill a job. The exception unwinds like any error:
    an atomic write in progress removes its temporary file, and the checkpoints already
    renamed stay, so the run resumes. Processes forked inside the block (data-loader
    workers) inherit the handler; they die of the signal as by default. Outside the
    main thread (where Python cannot install handlers) the block changes nothing.

    When the block fails in a process of a distributed group, SIGTERM stays ignored:
    torchrun sends it to every other rank the moment one rank dies, while this one is
    already unwinding from the failed collective; dying of it would lose the one-line
    reason and the exit code.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def _raise(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        signal.signal(signum, signal.SIG_IGN)  # once is enough: let the job unwind
        raise JobAborted(message)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except BaseException:
        grouped = dist.is_available() and dist.is_initialized()
        signal.signal(signal.SIGTERM, signal.SIG_IGN if grouped else previous)
        raise
    signal.signal(signal.SIGTERM, previous)


def peer_failure(err: BaseException) -> bool:
    """True when ``err`` is a collective's failure because another process of the group
    went away (gloo: connection closed or reset; NCCL: a remote error or an abort)."""
    backend_error = getattr(dist, "DistBackendError", ())
    if isinstance(err, backend_error):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(
        marker in text
        for marker in ("Connection closed by peer", "Connection reset by peer", "Broken pipe")
    )
