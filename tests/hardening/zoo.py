"""A layout with one test image per kind of bad RGB file, beside the good ones.

:func:`raster_zoo` copies a clean layout and adds test ids whose RGB file is broken in
one way each; :data:`BAD` says what a user must be told about each (a fragment of the
one-line problem), :data:`ALSO_GOOD` lists the unusual files that are valid images.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from hardening.harness import copy_layout, flip_bytes, truncate

#: Added test ids with a broken RGB file → a fragment of the problem the user is told.
BAD: dict[str, str] = {
    "JAX_trunc": "JAX_trunc_RGB.j2k",
    "JAX_zero": "JAX_zero_RGB.j2k",
    "JAX_header": "JAX_header_RGB.j2k",
    "JAX_text": "JAX_text_RGB.j2k",
    "OMA_trunctif": "OMA_trunctif_RGB.tif",
    "OMA_garbagetif": "OMA_garbagetif_RGB.tif",
    "OMA_uint16": "expected 8-bit RGB, found uint16",
    "OMA_oneband": "found 1",
    "OMA_float": "expected 8-bit RGB, found float32",
    "OMA_nofile": "file not found",
}
#: Added test ids with unusual but valid RGB files (written like every good image).
ALSO_GOOD = ("JAX_fourband", "JAX_tiny5")


def _write_tif(path: Path, bands: np.ndarray) -> None:
    """Write C×H×W ``bands`` as a deflate GeoTIFF without georeferencing."""
    count, height, width = bands.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=count,
            dtype=bands.dtype,
            compress="deflate",
        ) as ds:
            ds.write(bands)


def _add_ids(root: Path, ids: dict[str, str]) -> None:
    """List ``{id: rgb file name}`` in geopose_test.csv and metadata.csv (GSD 0.3 m)."""
    with open(root / "geopose_test.csv", "a", encoding="utf-8") as f:
        for image_id, name in ids.items():
            f.write(f"{image_id},{name}\n")
    with open(root / "metadata.csv", "a", encoding="utf-8") as f:
        for image_id in ids:
            f.write(f"{image_id},{image_id.split('_')[0]},0.3\n")


def raster_zoo(clean: Path, dst: Path) -> Path:
    """A copy of ``clean`` with every case of :data:`BAD` and :data:`ALSO_GOOD` added."""
    root = copy_layout(clean, dst)
    shutil.rmtree(root / "test_truth")  # the added ids have no labels
    test = root / "test"
    good_j2k = sorted(test.glob("*_RGB.j2k"))[0]
    rng = np.random.default_rng(0)
    rgb = (rng.random((3, 64, 64)) * 255).astype(np.uint8)
    names: dict[str, str] = {}

    def j2k(image_id: str) -> Path:
        names[image_id] = f"{image_id}_RGB.j2k"
        path = test / names[image_id]
        path.write_bytes(good_j2k.read_bytes())
        return path

    def tif(image_id: str, bands: np.ndarray) -> Path:
        names[image_id] = f"{image_id}_RGB.tif"
        path = test / names[image_id]
        _write_tif(path, bands)
        return path

    truncate(j2k("JAX_trunc"), 0.4)
    j2k("JAX_zero").write_bytes(b"")
    flip_bytes(j2k("JAX_header"), 0.0, count=48)
    j2k("JAX_text").write_text("this is not an image\n")
    truncate(tif("OMA_trunctif", rgb), 0.3)
    garbage = tif("OMA_garbagetif", rgb)
    garbage.write_bytes(b"II*\x00" + rng.bytes(2000))
    tif("OMA_uint16", rgb.astype(np.uint16) * 257)
    tif("OMA_oneband", rgb[:1])
    tif("OMA_float", rgb.astype(np.float32))
    names["OMA_nofile"] = "OMA_nofile_RGB.j2k"
    tif("JAX_fourband", np.concatenate([rgb, np.full((1, 64, 64), 255, np.uint8)]))
    tif("JAX_tiny5", rgb[:, :5, :5].copy())
    _add_ids(root, names)
    return root
