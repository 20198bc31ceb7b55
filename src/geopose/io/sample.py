"""Loading one layout entry as a Sample dict (DESIGN.md §4)."""

from __future__ import annotations

from typing import Any

from geopose.conventions import wrap_angle
from geopose.errors import DataError
from geopose.io.layout import Entry
from geopose.io.raster import read_agl, read_rgb
from geopose.io.vflow import read_vflow


def load_sample(entry: Entry, *, labels: bool = True) -> dict[str, Any]:
    """Read an entry's files into a Sample.

    Keys: ``image`` (H×W×3 uint8 RGB), ``gsd`` (m/px), ``city``, ``id`` and, when the
    entry has labels and ``labels`` is true, ``agl`` (H×W float32 metres, NaN = no
    data), ``scale`` (px/m) and ``angle`` (radians in [0, 2π)). Raises
    :class:`DataError` naming the file when a file is unreadable or the AGL size
    differs from the image's.
    """
    image = read_rgb(entry.rgb)
    sample: dict[str, Any] = {"image": image, "gsd": entry.gsd, "city": entry.city, "id": entry.id}
    if not (labels and entry.agl is not None and entry.vflow is not None):
        return sample
    agl = read_agl(entry.agl)
    if agl.shape != image.shape[:2]:
        raise DataError(
            entry.agl,
            f"AGL is {agl.shape[0]}×{agl.shape[1]} px but its image {entry.rgb.name} is "
            f"{image.shape[0]}×{image.shape[1]} px",
        )
    scale, angle = read_vflow(entry.vflow)
    sample.update(agl=agl, scale=scale, angle=float(wrap_angle(angle)))
    return sample
