"""Learning-rate schedules as explicit functions of the optimizer step.

The rate at step ``t`` is ``base_lr · factor(t)``; the loop sets it before every step,
so a resumed run reproduces the same rates from the saved step alone. The state is a
small JSON dict (plateau bookkeeping included).

Extending a finished run (``--resume RUN train.max_steps=…`` with a larger value) calls
:meth:`LRSchedule.extend`: the schedule continues from the rate it had reached at the
current step and spans the new remaining length (a cosine restarts its decay from
there rather than jumping back to the peak).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

SCHEDULES = ("cosine", "plateau", "onecycle", "constant")
_ONECYCLE_RISE = 0.3  # fraction of the run spent rising, as torch's OneCycleLR
_ONECYCLE_START = 1.0 / 25.0  # initial rate / peak rate, as torch's OneCycleLR


@dataclass
class LRSchedule:
    """Warm-up then cosine, one-cycle, constant or reduce-on-plateau."""

    name: str
    base_lr: float
    total_steps: int
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    start_step: int = 0  # where the current segment begins (> 0 after extend())
    start_factor: float = 1.0  # factor at start_step
    plateau_factor: float = 1.0
    plateau_best: float | None = None
    plateau_bad: int = 0
    plateau_patience: int = 2
    plateau_decay: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"schedule {self.name!r}: choose one of {', '.join(SCHEDULES)}")
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")

    def _progress(self, step: int) -> float:
        span = max(1, self.total_steps - self.start_step)
        return min(1.0, max(0.0, (step - self.start_step) / span))

    def factor(self, step: int) -> float:
        """Multiplier of ``base_lr`` at optimizer step ``step`` (0-based)."""
        if self.start_step == 0 and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps * self._shape(self.warmup_steps)
        return self._shape(step)

    def _shape(self, step: int) -> float:
        p = self._progress(step)
        lo = self.min_lr_ratio
        if self.name == "constant":
            return self.start_factor
        if self.name == "plateau":
            return self.start_factor * self.plateau_factor
        if self.name == "cosine":
            return lo + (self.start_factor - lo) * 0.5 * (1.0 + math.cos(math.pi * p))
        # onecycle: cosine rise to the peak, then cosine decay to the floor.
        if self.start_step == 0 and p < _ONECYCLE_RISE:
            q = p / _ONECYCLE_RISE
            return _ONECYCLE_START + (1 - _ONECYCLE_START) * 0.5 * (1 - math.cos(math.pi * q))
        rise = _ONECYCLE_RISE if self.start_step == 0 else 0.0
        q = (p - rise) / (1 - rise)
        return lo + (self.start_factor - lo) * 0.5 * (1.0 + math.cos(math.pi * q))

    def lr(self, step: int) -> float:
        """Learning rate at optimizer step ``step``."""
        return self.base_lr * self.factor(step)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every parameter group's rate for ``step``; returns it."""
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def report(self, score: float) -> None:
        """Feed a validation score (higher is better); plateau halves the rate when stuck."""
        if self.name != "plateau":
            return
        if self.plateau_best is None or score > self.plateau_best + 1e-6:
            self.plateau_best, self.plateau_bad = score, 0
            return
        self.plateau_bad += 1
        if self.plateau_bad > self.plateau_patience:
            self.plateau_factor = max(self.min_lr_ratio, self.plateau_factor * self.plateau_decay)
            self.plateau_bad = 0

    def extend(self, current_step: int, new_total: int) -> None:
        """Continue from ``current_step`` over a new total length (resume with more steps)."""
        if new_total <= current_step:
            raise ValueError(f"new total {new_total} must exceed the current step {current_step}")
        if new_total == self.total_steps:
            return
        self.start_factor = self.factor(current_step)
        if self.name == "plateau":
            self.start_factor = 1.0  # plateau_factor already carries the reductions
        self.start_step = current_step
        self.total_steps = new_total

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LRSchedule:
        return cls(**state)
