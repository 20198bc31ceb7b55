"""Synthetic tiles exported with their truth (nDSM, view, footprints), for label tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geopose.data.synth.dataset import write_dataset
from geopose.io.layout import TRAIN_DIR, agl_name, rgb_name, vflow_name
from geopose.io.raster import read_agl
from geopose.io.vflow import read_vflow


@dataclass(frozen=True)
class TruthTile:
    """One exported synthetic tile: its files and the renderer's own labels."""

    id: str
    rgb: Path
    ndsm: Path
    buildings: Path
    view: dict[str, float]
    agl: np.ndarray  # m, the renderer's label
    scale: float  # px/m
    angle: float  # rad


def make_truth_tiles(root: Path, size: int = 128, per_city: int = 2) -> list[TruthTile]:
    """``per_city`` tiles each of ATL and JAX (different passes) with exported truth."""
    write_dataset(root, ("ATL", "JAX"), per_city, 0, size, seed=3, export_truth=True,
                  progress=False)  # fmt: skip
    tiles = []
    for city in ("ATL", "JAX"):
        for i in range(per_city):
            iid = f"{city}_train{i:04d}"
            scale, angle = read_vflow(root / TRAIN_DIR / vflow_name(iid))
            tiles.append(TruthTile(
                iid, root / TRAIN_DIR / rgb_name(iid, ".tif"), root / "truth" / f"{iid}_NDSM.tif",
                root / "truth" / f"{iid}_BUILDINGS.geojson",
                json.loads((root / "truth" / f"{iid}_VIEW.json").read_text()),
                read_agl(root / TRAIN_DIR / agl_name(iid)), scale, angle,
            ))  # fmt: skip
    return tiles


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    """R² of ``pred`` against ``true`` over pixels both call valid."""
    both = np.isfinite(pred) & np.isfinite(true)
    t, p = true[both].astype(np.float64), pred[both].astype(np.float64)
    return 1.0 - float(((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum())
