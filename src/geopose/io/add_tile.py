"""Add one labelled tile to a competition layout (DESIGN.md §3), creating it if needed.

Writes ``train/{id}_RGB.tif``, ``train/{id}_AGL.tif`` and ``train/{id}_VFLOW.json`` and
merges the id into ``geopose_train.csv`` and ``metadata.csv`` (its row replaced when the
id is already there); ``geopose_test.csv`` is created empty when absent, so the folder is
a layout ``geopose check`` and ``geopose train`` accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geopose.errors import DataError
from geopose.io.atomic import atomic_write_text
from geopose.io.layout import (
    METADATA_COLUMNS,
    METADATA_CSV,
    TEST_COLUMNS,
    TEST_CSV,
    TRAIN_COLUMNS,
    TRAIN_CSV,
    TRAIN_DIR,
    agl_name,
    csv_text,
    read_csv_rows,
    rgb_name,
    vflow_name,
)
from geopose.io.raster import GeoInfo, write_agl, write_rgb
from geopose.io.vflow import write_vflow


@dataclass(frozen=True)
class TileFiles:
    """Paths of the three files of one training tile."""

    rgb: Path
    agl: Path
    vflow: Path


def add_train_tile(
    root: str | Path,
    image_id: str,
    city: str,
    gsd: float,
    image: NDArray[np.uint8],
    agl: NDArray[np.floating],
    scale: float,
    angle: float,
    *,
    geo: GeoInfo | None = None,
    group: str | None = None,
) -> TileFiles:
    """Write one tile (RGB H×W×3 uint8, AGL m with NaN, scale px/m, angle rad, GSD m/px).

    ``geo`` georeferences both rasters (GeoTIFFs). The id must start with ``{city}_``
    and must not be a test id of the layout already.
    """
    if not image_id.startswith(f"{city}_"):
        raise ValueError(f"id {image_id!r} must start with its city code {city}_")
    r = Path(root)
    (r / TRAIN_DIR).mkdir(parents=True, exist_ok=True)
    test_rows = _rows(r / TEST_CSV, TEST_COLUMNS)
    if any(row["id"] == image_id for row in test_rows):
        raise DataError(r / TEST_CSV, f"id {image_id} is already a test id of this layout")
    files = TileFiles(
        r / TRAIN_DIR / rgb_name(image_id, ".tif"),
        r / TRAIN_DIR / agl_name(image_id),
        r / TRAIN_DIR / vflow_name(image_id),
    )
    write_rgb(files.rgb, image, geo=geo)
    write_agl(files.agl, agl, geo=geo)
    write_vflow(files.vflow, scale, angle)
    train = _replace(_rows(r / TRAIN_CSV, TRAIN_COLUMNS), image_id, {
        "id": image_id, "agl": files.agl.name, "json": files.vflow.name, "rgb": files.rgb.name,
    })  # fmt: skip
    meta_rows = _rows(r / METADATA_CSV, METADATA_COLUMNS)
    meta = _replace(meta_rows, image_id, {
        "id": image_id, "city": city, "gsd": repr(float(gsd)), "group": group or "",
    })  # fmt: skip
    meta_columns = [*METADATA_COLUMNS]
    if any(row.get("group") for row in meta):
        meta_columns.append("group")
    atomic_write_text(r / TRAIN_CSV, _text(TRAIN_COLUMNS, train))
    if not (r / TEST_CSV).exists():
        atomic_write_text(r / TEST_CSV, _text(TEST_COLUMNS, []))
    atomic_write_text(r / METADATA_CSV, _text(meta_columns, meta))
    return files


def _rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    return read_csv_rows(path, columns) if path.exists() else []


def _replace(
    rows: list[dict[str, str]], image_id: str, row: dict[str, str]
) -> list[dict[str, str]]:
    out = [r for r in rows if r["id"] != image_id]
    out.append(row)
    return out


def _text(columns: Sequence[str], rows: list[dict[str, str]]) -> str:
    return csv_text(columns, [[row.get(c, "") for c in columns] for row in rows])
