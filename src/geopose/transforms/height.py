"""Random height scaling: a taller city seen closer to nadir looks the same."""

from __future__ import annotations

from typing import Any

import numpy as np

from geopose.transforms._sample import Sample
from geopose.transforms.rng import RngLike, as_generator


class RandomHeightScale:
    """AGL × k (m) and scale / k (px/m), ``k`` log-uniform in ``k_range``, with
    probability ``p``. The magnitude ``agl · scale`` and the flow — what the image
    shows — are unchanged, so image, gsd and angle are left alone. Samples without
    AGL or scale pass through unchanged.
    """

    def __init__(self, k_range: tuple[float, float], p: float = 1.0, rng: RngLike = None) -> None:
        lo, hi = float(k_range[0]), float(k_range[1])
        if not 0.0 < lo <= hi:
            raise ValueError(f"k_range must be (low, high) with 0 < low <= high, got {k_range}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.k_range = (lo, hi)
        self.p = float(p)
        self.rng = as_generator(rng)

    def __repr__(self) -> str:
        return f"RandomHeightScale(k_range={self.k_range}, p={self.p})"

    def draw(self) -> float:
        """One height factor k (1.0 when the transform is skipped)."""
        if self.rng.random() >= self.p:
            return 1.0
        lo, hi = self.k_range
        return float(np.exp(self.rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo

    def __call__(self, sample: Sample) -> Sample:
        k = self.draw()
        if "agl" not in sample or "scale" not in sample or k == 1.0:
            return dict(sample)
        out: dict[str, Any] = dict(sample)
        agl = np.asarray(sample["agl"], dtype=np.float32)
        out["agl"] = (agl * np.float32(k)).astype(np.float32)
        out["scale"] = float(sample["scale"]) / k
        return out

    def reseed(self, rng: RngLike) -> None:
        """Draw from ``rng`` (a seed or a Generator) from now on."""
        self.rng = as_generator(rng)
