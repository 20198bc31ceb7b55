"""The files of a rectified image, as ``geopose rectify`` and ``predict --rectify`` write them.

In the output folder, for an image whose stem is ``stem`` (:func:`geopose.io.layout.image_stem`):

- ``{stem}_RGB_rectified.tif`` (or ``.png``): the ground-level image;
- ``{stem}_AGL_rectified.tif``: ground-level AGL, uint16 cm, 65535 where occluded;
- ``{stem}_occluded.png`` and ``{stem}_filled.png``: 0/255 masks.

The GeoTIFFs carry the georeferencing given (the input's pixel grid). Every write is
atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from geopose.io.atomic import atomic_path
from geopose.io.raster import GeoInfo, write_agl, write_rgb

FORMATS = ("tif", "png")


def rectified_paths(out: Path, stem: str, fmt: str = "tif") -> dict[str, Path]:
    """The four output files by role: ``rgb``, ``agl``, ``occluded``, ``filled``."""
    return {
        "rgb": out / f"{stem}_RGB_rectified.{fmt}",
        "agl": out / f"{stem}_AGL_rectified.tif",
        "occluded": out / f"{stem}_occluded.png",
        "filled": out / f"{stem}_filled.png",
    }


def write_mask(path: Path, mask: NDArray[np.bool_]) -> None:
    """Write a boolean mask as an 8-bit PNG (255 = True), atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(tmp, format="PNG")


def write_rectified(
    out: Path,
    stem: str,
    image: NDArray[Any],
    agl: NDArray[np.floating],
    occluded: NDArray[np.bool_],
    filled: NDArray[np.bool_],
    *,
    geo: GeoInfo | None = None,
    fmt: str = "tif",
) -> dict[str, Path]:
    """Write the ground-level RGB (H×W×3 uint8), AGL (H×W metres, NaN where occluded)
    and the two masks; returns the files by role (see :func:`rectified_paths`)."""
    if fmt not in FORMATS:
        raise ValueError(f"rectified RGB format {fmt!r}: use one of {', '.join(FORMATS)}")
    paths = rectified_paths(out, stem, fmt)
    write_rgb(paths["rgb"], np.asarray(image, dtype=np.uint8), geo=geo if fmt == "tif" else None)
    write_agl(paths["agl"], agl, geo=geo)
    write_mask(paths["occluded"], occluded)
    write_mask(paths["filled"], filled)
    return paths
