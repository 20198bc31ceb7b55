"""Preview pictures of synthetic samples: RGB, AGL and vertical-flow arrows side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from matplotlib import colormaps
from numpy.typing import NDArray

from geopose.conventions import flow_field
from geopose.io.atomic import atomic_path


def agl_colours(agl: NDArray[np.float32], top: float | None = None) -> NDArray[np.uint8]:
    """AGL (m) as viridis RGB, 0 m dark to ``top`` m (default: the 99th percentile) bright.

    No-data (NaN) pixels are drawn magenta.
    """
    valid = np.isfinite(agl)
    if top is None:
        top = float(np.percentile(agl[valid], 99)) if valid.any() else 1.0
    norm = np.clip(np.where(valid, agl, 0) / max(top, 1e-3), 0, 1)
    rgb = (colormaps["viridis"](norm)[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = (255, 0, 255)
    return rgb


def flow_arrows(sample: Mapping[str, Any], step: int | None = None) -> NDArray[np.uint8]:
    """The dimmed image with arrows of the vertical flow ``v = agl·scale·d`` (pixels).

    Each arrow starts at an imaged point and ends at its ground footprint.
    """
    image = sample["image"]
    rows, cols = image.shape[:2]
    step = step or max(rows // 16, 8)
    agl = np.nan_to_num(sample["agl"], nan=0.0)
    flow = flow_field(agl, float(sample["scale"]), float(sample["angle"]))
    canvas = (image.astype(np.float32) * 0.55).astype(np.uint8)
    for r in range(step // 2, rows, step):
        for c in range(step // 2, cols, step):
            dx, dy = flow[r, c]
            if math.hypot(dx, dy) < 1.0:
                cv2.circle(canvas, (c, r), 1, (255, 255, 0), -1)
                continue
            end = (round(c + dx), round(r + dy))
            cv2.arrowedLine(canvas, (c, r), end, (255, 255, 0), 1, cv2.LINE_AA, 0, 0.25)
    return canvas


def preview(sample: Mapping[str, Any]) -> NDArray[np.uint8]:
    """RGB | AGL | flow arrows, side by side, with a title line (uint8 RGB)."""
    panels = np.hstack([sample["image"], agl_colours(sample["agl"]), flow_arrows(sample)])
    title = np.full((22, panels.shape[1], 3), 255, np.uint8)
    text = (
        f"{sample['id']}  gsd {sample['gsd']:.3f} m/px  scale {sample['scale']:.3f} px/m  "
        f"angle {math.degrees(sample['angle']):.1f} deg  max AGL {np.nanmax(sample['agl']):.1f} m"
    )
    cv2.putText(title, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([title, panels])


def write_png(path: str | Path, rgb: NDArray[np.uint8], *, palette: bool = False) -> None:
    """Write an RGB picture as PNG atomically; ``palette`` quantises to 256 colours (small)."""
    from PIL import Image

    img = Image.fromarray(rgb)
    if palette:
        img = img.quantize(256, method=Image.Quantize.MEDIANCUT)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", optimize=True)
