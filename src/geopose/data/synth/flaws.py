"""Flaws of the real training labels, added on request: no-data holes, speckle, phantoms.

The competition's AGL maps have no-data patches, speckle noise, and objects present in
the label but not in the image (the lidar and the photo were taken at different times).
Training on synthetic labels with the same flaws exercises the masked losses and the
model's robustness. Test truth stays clean unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class LabelFlaws:
    """How much of each flaw to add to an AGL label.

    Attributes:
        nodata_patches: mean number of no-data (NaN, 65535 on disk) blobs per 512×512 px.
        speckle: fraction of pixels with speckle noise.
        speckle_m: standard deviation of the speckle (m).
        phantom_buildings: fraction of buildings present in the AGL but not in the RGB.
    """

    nodata_patches: float = 0.0
    speckle: float = 0.0
    speckle_m: float = 2.0
    phantom_buildings: float = 0.0

    @classmethod
    def typical(cls) -> LabelFlaws:
        """Flaws at about the level seen in the real training data."""
        return cls(nodata_patches=1.0, speckle=0.01, speckle_m=2.0, phantom_buildings=0.03)

    @property
    def any(self) -> bool:
        """True when any flaw is switched on."""
        return self.nodata_patches > 0 or self.speckle > 0 or self.phantom_buildings > 0


def damage_agl(
    agl: NDArray[np.float32], flaws: LabelFlaws, rng: np.random.Generator
) -> NDArray[np.float32]:
    """A copy of ``agl`` (m) with no-data blobs (NaN) and speckle; values stay ≥ 0."""
    out = agl.copy()
    rows, cols = out.shape
    if flaws.speckle > 0:
        hit = rng.random(out.shape) < flaws.speckle
        out[hit] = np.maximum(out[hit] + rng.normal(0, flaws.speckle_m, int(hit.sum())), 0)
    count = int(rng.poisson(flaws.nodata_patches * rows * cols / 512**2))
    if count:
        holes = np.zeros(out.shape, np.uint8)
        for _ in range(count):
            centre = (int(rng.integers(cols)), int(rng.integers(rows)))
            axes = (
                int(rng.integers(3, max(4, cols // 12))),
                int(rng.integers(3, max(4, rows // 12))),
            )
            cv2.ellipse(holes, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        out[holes > 0] = np.nan
    return out
