"""Mixed precision chosen once per run: one autocast context and one grad scaler.

``auto`` means bf16 on a CUDA GPU that supports it and fp32 everywhere else (on CPU,
bf16 is on request only). fp16 always pairs with a GradScaler, whose skipped steps are
what keeps fp16 from writing inf/NaN into the weights. fp16 is meant for CUDA; it is
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


def resolve_precision(requested: str, device: torch.device) -> str:
    """Turn ``auto`` into a concrete precision and refuse combinations that cannot work."""
    if requested not in PRECISIONS:
        raise UsageError(f"precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    if requested == "fp16" and not torch.amp.is_autocast_available(device.type):
        raise UsageError(f"precision fp16: no fp16 autocast on {device.type}; use bf16 or fp32")
    return requested


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
