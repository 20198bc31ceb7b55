"""Direction ↔ angle for tensors, in the convention of :mod:`geopose.conventions`.

``d = (dx, dy) = (sin θ, cos θ)`` in (column, row) pixels; θ in [0, 2π). These are the
torch twins of ``conventions.direction_to_angle`` (tested against it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_TWO_PI = 2.0 * math.pi


def unit_direction(vector: Tensor, eps: float = 1e-6) -> Tensor:
    """Normalise B×2 (dx, dy) vectors to unit length.

    A vector shorter than ``eps`` (no direction at all: e.g. the lean head reading a
    flat AGL map) becomes (0, 1), θ = 0, so the output is always a unit vector as the
    model contract says; its gradient there is zero.
    """
    v = vector.float()
    norm = v.norm(dim=1, keepdim=True)
    down = torch.tensor([0.0, 1.0], dtype=v.dtype, device=v.device).expand_as(v)
    return torch.where(norm > eps, v / norm.clamp_min(eps), down)


def direction_to_angle(direction: Tensor) -> Tensor:
    """Angle (rad, [0, 2π)) of B×2 (dx, dy) directions: ``atan2(dx, dy)`` wrapped."""
    angle = torch.remainder(torch.atan2(direction[:, 0], direction[:, 1]), _TWO_PI)
    return torch.where(angle >= _TWO_PI, torch.zeros_like(angle), angle)
