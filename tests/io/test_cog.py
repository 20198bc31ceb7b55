"""Georeferenced GeoTIFF outputs are Cloud-Optimised GeoTIFFs; plain ones stay plain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS

from geopose.io.raster import GeoInfo, agl_row_writer, read_agl, read_geo, write_agl, write_float

GEO = GeoInfo(CRS.from_epsg(32617).to_wkt(), (0.5, 0.0, 500_000.0, 0.0, -0.5, 3_300_000.0))


def _layout(path: Path) -> str | None:
    with rasterio.open(path) as ds:
        return ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")


def test_georeferenced_agl_is_a_cog_with_overviews(tmp_path: Path) -> None:
    agl = np.random.default_rng(0).uniform(0, 30, (700, 600)).astype(np.float32)
    agl[:5] = np.nan
    path = tmp_path / "x_AGL.tif"
    write_agl(path, agl, geo=GEO)
    assert _layout(path) == "COG"
    with rasterio.open(path) as ds:
        assert ds.block_shapes[0] == (256, 256)
        assert ds.overviews(1)  # at least one reduced level
        assert ds.nodata == 65535
    np.testing.assert_allclose(read_agl(path), agl, atol=0.006)
    assert read_geo(path).transform == GEO.transform


def test_streamed_and_float_rasters_are_cogs_too(tmp_path: Path) -> None:
    rows = np.full((300, 280), 2.5, np.float32)
    streamed = tmp_path / "s_AGL.tif"
    with agl_row_writer(streamed, 300, 280, geo=GEO) as write:
        write(0, rows[:100])
        write(100, rows[100:])
    assert _layout(streamed) == "COG"
    np.testing.assert_allclose(read_agl(streamed), rows)
    spread = tmp_path / "s_SPREAD.tif"
    write_float(spread, rows, geo=GEO)
    assert _layout(spread) == "COG"


def test_plain_outputs_stay_plain_geotiffs(tmp_path: Path) -> None:
    path = tmp_path / "p_AGL.tif"
    write_agl(path, np.ones((64, 64), np.float32))
    assert _layout(path) is None
