"""Ground-level rectification in the public API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geopose.api.result import PoseResult
from geopose.errors import UsageError
from geopose.io.raster import read_agl, read_rgb
from geopose.rectification import RectifyResult
from geopose.rectification import rectify as rectify_arrays


def rectify(
    image: NDArray[np.generic] | str | Path,
    agl: PoseResult | NDArray[np.floating] | str | Path,
    scale: float | None = None,
    angle: float | None = None,
    *,
    max_hole: int = 2,
    fill_color: float | Sequence[float] = 0,
) -> RectifyResult:
    """Move every pixel of an oblique image by its vertical flow to its ground footprint.

    Args:
        image: H×W×3 uint8 RGB (or any H×W×C / H×W array), or an RGB raster file.
        agl: the heights: a :class:`PoseResult` (its ``scale`` and ``angle`` are used
            unless given), an H×W array of metres (NaN = no data), or an AGL GeoTIFF
            in uint16 centimetres.
        scale: vertical-flow scale, pixels per metre of height.
        angle: vertical-flow angle, radians.
        max_hole: widest gap in pixels filled from neighbours; wider ones are occluded.
        fill_color: image value(s) of occluded pixels.

    Returns:
        ``image`` and ``agl`` (m) at ground level in the input's pixel grid, and the
        ``occluded`` and ``filled`` masks (H×W bool).

    Example:
        >>> result = model.predict("scene.tif")  # doctest: +SKIP
        >>> ground = geopose.rectify("scene.tif", result)  # doctest: +SKIP
        >>> ground.image.shape, float(ground.occluded.mean())  # doctest: +SKIP
        ((512, 512, 3), 0.04)
    """
    if isinstance(agl, PoseResult):
        scale = agl.scale if scale is None else scale
        angle = agl.angle if angle is None else angle
        heights: NDArray[np.floating] = agl.agl
    elif isinstance(agl, str | Path):
        heights = read_agl(agl)
    else:
        heights = np.asarray(agl)
    if scale is None or angle is None:
        raise UsageError("rectify: give the scale (px/m) and angle (rad), or a PoseResult")
    pixels = read_rgb(image) if isinstance(image, str | Path) else np.asarray(image)
    if pixels.shape[:2] != heights.shape[:2]:
        raise UsageError(
            f"rectify: the image is {pixels.shape[0]}×{pixels.shape[1]} px but the AGL "
            f"is {heights.shape[0]}×{heights.shape[1]} px"
        )
    return rectify_arrays(pixels, heights, scale, angle, max_hole=max_hole, fill_color=fill_color)
