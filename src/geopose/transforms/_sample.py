"""The Sample dict of DESIGN.md §4 as seen by the transforms.

A sample holds ``image`` (H×W×3 uint8 RGB), ``gsd`` (m/px), ``city`` and ``id``, and —
when labels are known — ``agl`` (H×W float32 metres, NaN = no data), ``scale`` (px/m)
and ``angle`` (rad). Transforms never modify their input; they return a new dict with
the same keys, keys they do not know passed through unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geopose.errors import DataError

Sample = dict[str, Any]

#: Keys holding per-pixel arrays that geometric transforms move.
PIXEL_KEYS = ("image", "agl")


def image_hw(sample: Sample) -> tuple[int, int]:
    """(height, width) in pixels of the sample's image (or of its AGL if it has no image)."""
    for key in PIXEL_KEYS:
        if key in sample:
            shape = np.shape(sample[key])
            return int(shape[0]), int(shape[1])
    raise ValueError("sample has neither 'image' nor 'agl'; cannot transform it")


def check_pixel_shapes(sample: Sample) -> None:
    """Raise DataError (naming the sample id) unless image and AGL have matching H×W."""
    shapes = {k: np.shape(sample[k])[:2] for k in PIXEL_KEYS if k in sample}
    if len(set(shapes.values())) > 1:
        sizes = ", ".join(f"{k} {h}×{w}" for k, (h, w) in shapes.items())
        raise DataError(str(sample.get("id", "<sample>")), f"image and AGL sizes differ: {sizes}")
