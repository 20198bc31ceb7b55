"""Random rotation, zoom and shift (the consistent version of shift-scale-rotate)."""

from __future__ import annotations

from geopose.transforms.affine import Affine
from geopose.transforms.random_base import RandomGeometric
from geopose.transforms.rng import RngLike
from geopose.transforms.warp import DEFAULT_FILL


def _limits(limit: float | tuple[float, float], name: str) -> tuple[float, float]:
    lo, hi = (-abs(limit), abs(limit)) if isinstance(limit, (int, float)) else limit
    if lo > hi:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {limit}")
    return float(lo), float(hi)


class RandomAffine(RandomGeometric):
    """With probability ``p``, an :class:`Affine` with rotation drawn uniformly from
    ±``rotate_limit`` degrees, zoom ``1 + u`` with ``u`` uniform in ``zoom_limit``
    (a number l means (−l, l); zoom > 1 enlarges the content) and shift uniform in
    ±``shift_limit`` × the image width / height (pixels); otherwise the identity.
    """

    def __init__(
        self,
        rotate_limit: float | tuple[float, float] = 0.0,
        zoom_limit: float | tuple[float, float] = 0.0,
        shift_limit: float | tuple[float, float] = 0.0,
        p: float = 1.0,
        rng: RngLike = None,
        fill: tuple[int, int, int] = DEFAULT_FILL,
    ) -> None:
        super().__init__(rng)
        self.rotate_limit = _limits(rotate_limit, "rotate_limit")
        self.zoom_limit = _limits(zoom_limit, "zoom_limit")
        if self.zoom_limit[0] <= -1.0:
            raise ValueError(f"zoom_limit must stay above -1 (zoom > 0), got {zoom_limit}")
        self.shift_limit = _limits(shift_limit, "shift_limit")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.p = float(p)
        self.fill = fill

    def __repr__(self) -> str:
        return (
            f"RandomAffine(rotate_limit={self.rotate_limit}, zoom_limit={self.zoom_limit}, "
            f"shift_limit={self.shift_limit}, p={self.p})"
        )

    def draw(self, in_hw: tuple[int, int]) -> Affine:
        if self.rng.random() >= self.p:
            return Affine(fill=self.fill)
        h, w = in_hw
        rotate = self.rng.uniform(*self.rotate_limit)
        zoom = 1.0 + self.rng.uniform(*self.zoom_limit)
        dx = self.rng.uniform(*self.shift_limit) * w
        dy = self.rng.uniform(*self.shift_limit) * h
        return Affine(rotate, zoom, (dx, dy), fill=self.fill)
