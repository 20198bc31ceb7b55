"""Guard against non-finite losses and gradients: skip the step, count it, stop if it repeats.

A step whose loss or gradient norm is inf/NaN is not applied (the optimizer never sees
it, so the weights cannot turn into NaN through it). Under fp16 the GradScaler still
gets its ``update()`` so it lowers the loss scale, which is the normal way fp16 recovers
from an overflow. ``max_consecutive`` skipped steps in a row mean the run is broken
(a bad learning rate, corrupt labels, a diverged model): the run stops with
:class:`~geopose.errors.JobAborted` (exit code 3) and a message saying what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from geopose.errors import JobAborted


@dataclass
class NonFiniteGuard:
    """Counts skipped steps: ``total`` over the run, ``consecutive`` since the last good one."""

    max_consecutive: int
    total: int = 0
    consecutive: int = 0

    def record(self, ok: bool, step: int, what: str = "", *, fatal: bool = True) -> None:
        """Note a step's outcome; raise :class:`JobAborted` after too many bad ones in a row.

        ``fatal=False`` counts a skipped step without bringing the run closer to its end:
        for the fp16 overflows that the GradScaler is still calibrating away (it halves
        its loss scale on each one).
        """
        if ok:
            self.consecutive = 0
            return
        self.total += 1
        if not fatal:
            return
        self.consecutive += 1
        if self.consecutive >= self.max_consecutive:
            raise JobAborted(
                f"stopped at optimizer step {step}: {self.consecutive} consecutive steps had a "
                f"non-finite {what or 'loss or gradient'} (train.max_nonfinite="
                f"{self.max_consecutive}); lower optim.lr, use train.precision=fp32 or bf16, "
                "or check the labels"
            )

    def state_dict(self) -> dict[str, int]:
        return {"total": self.total, "consecutive": self.consecutive}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.total = int(state["total"])
        self.consecutive = int(state["consecutive"])


def is_finite(value: torch.Tensor | float) -> bool:
    """True if a scalar tensor or float is finite (one device sync for a tensor)."""
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all().item())
    return math.isfinite(value)


@torch.no_grad()
def weights_finite(model: torch.nn.Module) -> bool:
    """True if every floating parameter is finite (one fused norm over all of them)."""
    params: list[torch.Tensor] = [p for p in model.parameters() if p.is_floating_point()]
    if not params:
        return True
    norms = torch._foreach_norm(params)
    return bool(torch.isfinite(torch.stack(norms)).all().item())
