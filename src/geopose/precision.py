"""Mixed precision chosen once per run: one autocast context and one grad scaler.

``auto`` means bf16 on a CUDA GPU that computes it natively — compute capability 8.0 or
higher (A100, RTX 30xx, H100 and later), asked of the run's own GPU — and, for training,
bf16 on a CPU with native bf16 arithmetic (AVX512-BF16 or AMX); fp32 everywhere else.
(``torch.cuda.is_bf16_supported()`` is not used: it also says yes where bf16 is only
emulated, e.g. a V100 or T4, where bf16 is slower than fp32, and it asks the current
device rather than the run's.) (Prediction on
a CPU stays fp32 under ``auto``: a bf16 output layer would round heights of 100 m to
half a metre, and inference is cheap next to training.) On a CPU without them torch
emulates bf16 and a training step is many times *slower* than in fp32 (measured on a
2-core AMD EPYC with AVX2 only: 13.2 s against 0.8 s for a tiny-lean step of 8 crops of
128 px, with other jobs on the machine), so bf16 on such a CPU is on request only.

fp16 always pairs with a GradScaler, whose skipped steps are what keeps fp16 from
writing inf/NaN into the weights. fp16 is meant for CUDA; it is
also allowed on CPU (torch has CPU fp16 autocast and ``GradScaler("cpu")``) — slow
there, but it lets the fp16 code paths be tested on machines without a GPU. Losses, the
scale head and the metric leave autocast and compute in fp32 regardless.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from geopose.errors import UsageError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(requested: str, device: torch.device, *, training: bool = False) -> str:
    """Turn ``auto`` into a concrete precision and refuse combinations that cannot work.

    ``training``: the precision is for a training run (``auto`` may then pick bf16 on
    a CPU that computes it natively)."""
    if requested not in PRECISIONS:
        raise UsageError(f"precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if training and device.type == "cpu" and cpu_has_native_bf16():
            return "bf16"
        if device.type == "cuda" and cuda_has_native_bf16(device):
            return "bf16"
        return "fp32"
    if requested == "fp16" and not torch.amp.is_autocast_available(device.type):
        raise UsageError(f"precision fp16: no fp16 autocast on {device.type}; use bf16 or fp32")
    return requested


def cuda_has_native_bf16(device: torch.device) -> bool:
    """Whether the CUDA GPU ``device`` computes bf16 natively: compute capability ≥ 8.0
    (Ampere and later). On ROCm, torch's own check of the device is used."""
    if torch.version.hip is not None:
        with torch.cuda.device(device):
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), so bf16
    autocast is faster than fp32 rather than emulated and slower."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def no_autocast(device_type: str) -> contextlib.AbstractContextManager[object]:
    """Autocast switched off on ``device_type`` (a no-op where autocast does not exist,
    e.g. the ``meta`` device)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """The run's autocast context: a no-op for fp32, bf16/fp16 autocast otherwise."""
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=_DTYPES[precision]):
        yield


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that is active for fp16 only (a pass-through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
