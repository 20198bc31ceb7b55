"""Tiny real-format layouts built in code for the io tests.

Tiles are 24×40 px (non-square, so a transposed read cannot pass). Files are written
with geopose's writers; the raster tests check those writers against other libraries.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from geopose.io.layout import ImageMeta, write_index
from geopose.io.raster import write_agl, write_rgb
from geopose.io.vflow import write_vflow

H, W = 24, 40


def tile_rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A deterministic uint8 RGB tile whose three channels differ."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[0, 0] = (10, 120, 230)  # a known pixel in R, G, B order
    return img


def tile_agl(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A float32 metre AGL tile on the cm grid with a few NaN (no-data) pixels."""
    rng = np.random.default_rng(seed + 1000)
    agl = (rng.integers(0, 3000, (h, w)) / 100.0).astype(np.float32)
    agl[0, :3] = np.nan
    return agl


@dataclass
class LayoutSpec:
    """What :func:`build_layout` writes: ids per split, and whether test_truth exists."""

    train: list[str] = field(default_factory=lambda: ["JAX_001", "JAX_002", "OMA_001"])
    test: list[str] = field(default_factory=lambda: ["JAX_101", "OMA_101"])
    truth: bool = False


def build_layout(root: Path, spec: LayoutSpec | None = None) -> Path:
    """Write a clean layout (j2k, uint16 AGL, VFLOW JSON, the three CSVs) under ``root``."""
    spec = spec or LayoutSpec()
    meta: dict[str, ImageMeta] = {}
    for n, image_id in enumerate(spec.train + spec.test):
        city = image_id.split("_")[0]
        meta[image_id] = ImageMeta(image_id, city, 0.3 + 0.01 * n, group=f"g{n % 2}")
        split = "train" if image_id in spec.train else "test"
        write_rgb(root / split / f"{image_id}_RGB.j2k", tile_rgb(n))
        label_dir = {"train": "train", "test": "test_truth"}[split]
        if split == "train" or spec.truth:
            write_agl(root / label_dir / f"{image_id}_AGL.tif", tile_agl(n))
            write_vflow(root / label_dir / f"{image_id}_VFLOW.json", 1.0 + n, 0.5 + n)
    write_index(root, spec.train, spec.test, meta)
    return root


@pytest.fixture
def layout_root(tmp_path: Path) -> Path:
    """A clean layout with 3 train and 2 test images and no test_truth."""
    return build_layout(tmp_path / "data")


@pytest.fixture
def make_layout(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_layout(train=[...], test=[...], truth=True)`` → a layout root."""

    def make(name: str = "data", **kwargs: object) -> Path:
        return build_layout(tmp_path / name, LayoutSpec(**kwargs))  # type: ignore[arg-type]

    return make


def rewrite_csv(path: Path, edit: Callable[[list[list[str]]], list[list[str]]]) -> None:
    """Read a CSV as rows of strings, apply ``edit`` and write it back."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(edit(rows))


def write_json(path: Path, payload: dict[str, object]) -> None:
    """Write a VFLOW-like JSON the way a foreign tool would (NaN allowed)."""
    path.write_text(json.dumps(payload, allow_nan=True))


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for tests (conftest modules cannot be imported by name)."""
    return SimpleNamespace(
        H=H,
        W=W,
        NAN=math.nan,
        tile_rgb=tile_rgb,
        tile_agl=tile_agl,
        build_layout=build_layout,
        LayoutSpec=LayoutSpec,
        rewrite_csv=rewrite_csv,
        write_json=write_json,
    )
