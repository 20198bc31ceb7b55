"""Cut a window out of a sample (pixels); labels unchanged."""

from __future__ import annotations

from geopose.transforms.base import GeometricTransform
from geopose.transforms.plan import WarpPlan, translation
from geopose.transforms.warp import DEFAULT_FILL


class Crop(GeometricTransform):
    """The window of ``height`` × ``width`` pixels whose top-left pixel is
    (``top``, ``left``). A window reaching outside the source is allowed: that area is
    AGL no-data and image colour ``fill``. gsd, scale, angle and AGL values unchanged.
    """

    def __init__(
        self,
        top: int,
        left: int,
        height: int,
        width: int,
        fill: tuple[int, int, int] = DEFAULT_FILL,
    ) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"crop size must be at least 1×1 pixels, got {height}×{width}")
        self.top, self.left = int(top), int(left)
        self.height, self.width = int(height), int(width)
        self.fill = fill

    def __repr__(self) -> str:
        return f"Crop(top={self.top}, left={self.left}, height={self.height}, width={self.width})"

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        return WarpPlan(translation(-self.left, -self.top), in_hw, (self.height, self.width))
