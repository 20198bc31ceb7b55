"""Random training crops with a random zoom, out of large tiles."""

from __future__ import annotations

import math

from geopose.transforms.chain import Chain
from geopose.transforms.crop import Crop
from geopose.transforms.random_base import RandomGeometric
from geopose.transforms.resize import Resize
from geopose.transforms.rng import RngLike
from geopose.transforms.warp import DEFAULT_FILL


class RandomSizedCrop(RandomGeometric):
    """A ``size`` output (pixels; an int for a square) from a window of ``size / zoom``
    source pixels at a uniformly random place, with ``zoom`` log-uniform in
    ``zoom_range`` (> 1 enlarges the content). Labels: gsd / zoom, scale · zoom.

    With ``zoom_range=(1, 1)`` this is a plain random crop (exact, no interpolation).
    A window larger than the source is placed at random around it; the area outside is
    AGL no-data and image colour ``fill``.
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        zoom_range: tuple[float, float] = (1.0, 1.0),
        rng: RngLike = None,
        fill: tuple[int, int, int] = DEFAULT_FILL,
    ) -> None:
        super().__init__(rng)
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if min(self.size) < 1:
            raise ValueError(f"crop size must be positive, got {size}")
        lo, hi = float(zoom_range[0]), float(zoom_range[1])
        if not 0.0 < lo <= hi:
            raise ValueError(
                f"zoom_range must be (low, high) with 0 < low <= high, got {zoom_range}"
            )
        self.zoom_range = (lo, hi)
        self.fill = fill

    def __repr__(self) -> str:
        return f"RandomSizedCrop(size={self.size}, zoom_range={self.zoom_range})"

    def draw(self, in_hw: tuple[int, int]) -> Chain:
        lo, hi = self.zoom_range
        zoom = math.exp(self.rng.uniform(math.log(lo), math.log(hi))) if hi > lo else lo
        out_h, out_w = self.size
        side_h = max(1, round(out_h / zoom))
        side_w = max(1, round(out_w / zoom))
        top = self._place(in_hw[0], side_h)
        left = self._place(in_hw[1], side_w)
        window = Crop(top, left, side_h, side_w, fill=self.fill)
        return Chain([window, Resize(out_h, out_w)], fill=self.fill)

    def _place(self, source: int, window: int) -> int:
        """Uniform whole-pixel offset of a ``window`` in a ``source`` span (pixels)."""
        low, high = min(0, source - window), max(0, source - window)
        return int(self.rng.integers(low, high + 1))
