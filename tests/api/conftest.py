"""Fixtures of the public API tests: a briefly trained tiny checkpoint, a GeoTIFF scene
and a small synthetic layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from geopose.data.synth import generate_sample, write_dataset
from geopose.io import GeoInfo, write_rgb
from geopose.models import save_model
from tiny_training import train_tiny

CRS_WKT = rasterio.crs.CRS.from_epsg(32615).to_wkt()
#: 0.3 m square pixels in UTM zone 15N.
TRANSFORM = (0.3, 0.0, 500000.0, 0.0, -0.3, 3300000.0)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The briefly trained ``tiny`` model, saved as training saves it (format 2)."""
    path = tmp_path_factory.mktemp("api_ckpt") / "tiny.safetensors"
    save_model(path, train_tiny("tiny"))
    return path


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A georeferenced 96 × 160 px RGB GeoTIFF (0.3 m/px, UTM) cut from a synthetic city."""
    image = generate_sample("JAX", 21, size=160)["image"][:96]
    path = tmp_path_factory.mktemp("api_scene") / "scene.tif"
    write_rgb(path, np.ascontiguousarray(image), geo=GeoInfo(CRS_WKT, TRANSFORM))
    return path


@pytest.fixture(scope="session")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic layout: JAX and OMA, 2 training and 2 test tiles each, 64 px."""
    root = tmp_path_factory.mktemp("api_layout") / "data"
    write_dataset(root, ("JAX", "OMA"), 2, 2, 64, seed=5, progress=False)
    return root
