"""One layout entry as a Sample dict (DESIGN.md §4): read from its files, or assembled
from arrays the caller already holds (the training cache's memory maps)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import wrap_angle
from geopose.errors import DataError
from geopose.io.layout import Entry
from geopose.io.raster import check_agl_size, read_agl, read_rgb
from geopose.io.vflow import read_vflow


def read_labels(entry: Entry) -> tuple[float, float]:
    """An entry's image-level labels: (scale px/m, angle rad in [0, 2π)); DataError
    naming the image when the entry has no labels, or naming an unreadable file."""
    if entry.vflow is None or entry.agl is None:
        raise DataError(entry.rgb, "training and validation need labels (AGL and VFLOW)")
    scale, angle = read_vflow(entry.vflow)
    return float(scale), float(wrap_angle(angle))


def make_sample(
    entry: Entry,
    image: NDArray[np.uint8],
    agl: NDArray[np.float32] | None = None,
    labels: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The Sample of ``entry`` from its arrays: ``image`` (H×W×3 uint8 RGB) and, for a
    labelled sample, ``agl`` (H×W float32 metres, NaN = no data) and ``labels`` (scale
    px/m, angle rad). DataError naming the AGL file when its size differs from the
    image's."""
    sample: dict[str, Any] = {
        "image": image,
        "gsd": float(entry.gsd),
        "city": entry.city,
        "id": entry.id,
    }
    if agl is None or labels is None:
        return sample
    check_agl_size(agl.shape, image.shape, entry.agl or entry.rgb, entry.rgb)
    sample.update(agl=agl, scale=labels[0], angle=labels[1])
    return sample


def load_sample(entry: Entry, *, labels: bool = True) -> dict[str, Any]:
    """Read an entry's files into a Sample.

    Keys: ``image`` (H×W×3 uint8 RGB), ``gsd`` (m/px), ``city``, ``id`` and, when the
    entry has labels and ``labels`` is true, ``agl`` (H×W float32 metres, NaN = no
    data), ``scale`` (px/m) and ``angle`` (radians in [0, 2π)). Raises
    :class:`DataError` naming the file when a file is unreadable or the AGL size
    differs from the image's.
    """
    image = read_rgb(entry.rgb)
    if not (labels and entry.agl is not None and entry.vflow is not None):
        return make_sample(entry, image)
    agl = read_agl(entry.agl)
    check_agl_size(agl.shape, image.shape, entry.agl, entry.rgb)
    return make_sample(entry, image, agl, read_labels(entry))
