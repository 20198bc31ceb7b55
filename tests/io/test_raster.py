"""Rasters written by other libraries read back exactly; bad files name file and problem."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import imagecodecs
import numpy as np
import pytest
import rasterio
import tifffile
from PIL import Image
from rasterio.crs import CRS
from rasterio.transform import Affine

from geopose.conventions import agl_m_to_cm
from geopose.errors import DataError
from geopose.io.raster import (
    GeoInfo,
    agl_row_writer,
    first_georeferenced,
    raster_info,
    read_agl,
    read_geo,
    read_gsd,
    read_rgb,
    write_agl,
    write_rgb,
)


def test_j2k_from_imagecodecs_reads_exactly_in_rgb_order(
    tmp_path: Path, kit: SimpleNamespace
) -> None:
    img = kit.tile_rgb(1)
    path = tmp_path / "x_RGB.j2k"
    path.write_bytes(imagecodecs.jpeg2k_encode(img, level=0, codecformat="J2K", reversible=True))
    out = read_rgb(path)
    assert out.dtype == np.uint8
    assert out.shape == (kit.H, kit.W, 3)
    np.testing.assert_array_equal(out, img)
    assert tuple(out[0, 0]) == (10, 120, 230)


def test_tif_from_tifffile_and_png_from_pillow_read_exactly(
    tmp_path: Path, kit: SimpleNamespace
) -> None:
    img = kit.tile_rgb(2)
    tifffile.imwrite(tmp_path / "a_RGB.tif", img, photometric="rgb", compression="zlib")
    Image.fromarray(img, mode="RGB").save(tmp_path / "a_RGB.png")
    np.testing.assert_array_equal(read_rgb(tmp_path / "a_RGB.tif"), img)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a_RGB.png"), img)


def test_rgba_png_drops_alpha(tmp_path: Path, kit: SimpleNamespace) -> None:
    img = kit.tile_rgb(3)
    rgba = np.dstack([img, np.full(img.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), img)


def test_write_rgb_j2k_is_lossless_for_imagecodecs(tmp_path: Path, kit: SimpleNamespace) -> None:
    img = kit.tile_rgb(4)
    write_rgb(tmp_path / "a_RGB.j2k", img)
    decoded = imagecodecs.jpeg2k_decode((tmp_path / "a_RGB.j2k").read_bytes())
    np.testing.assert_array_equal(decoded, img)


def test_reduced_read_uses_resolution_levels(tmp_path: Path) -> None:
    y, x = np.mgrid[0:256, 0:256]
    img = np.stack([x, y, (x + y) // 2], -1).astype(np.uint8)
    path = tmp_path / "a_RGB.j2k"
    write_rgb(path, img)
    info = raster_info(path)
    assert (info.height, info.width, info.count, info.dtype) == (256, 256, 3, "uint8")
    # GDAL offers the JPEG 2000 resolution levels down to about 128 px.
    assert info.reductions == (2,)
    small = read_rgb(path, reduction=info.coarsest_reduction)
    assert small.shape == (128, 128, 3)
    # A smooth ramp stays close to the full image sampled every 2nd pixel.
    assert np.abs(small.astype(int) - img[::2, ::2].astype(int)).max() <= 2


def test_window_read(tmp_path: Path, kit: SimpleNamespace) -> None:
    img = kit.tile_rgb(5)
    write_rgb(tmp_path / "a_RGB.j2k", img)
    np.testing.assert_array_equal(
        read_rgb(tmp_path / "a_RGB.j2k", window=(3, 5, 10, 20)), img[3:13, 5:25]
    )


def test_agl_uint16_cm_with_nodata_from_tifffile(tmp_path: Path) -> None:
    cm = np.array([[0, 1, 65534], [65535, 250, 12345]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a_AGL.tif", cm, compression="zlib")
    out = read_agl(tmp_path / "a_AGL.tif")
    expected = np.where(cm == 65535, np.nan, cm / 100.0).astype(np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_agl_float_metres_need_the_unit(tmp_path: Path) -> None:
    m = np.array([[1.25, -9999.0], [np.inf, 3.5]], dtype=np.float32)
    path = tmp_path / "a_AGL.tif"
    profile = {
        "driver": "GTiff",
        "width": 2,
        "height": 2,
        "count": 1,
        "dtype": "float32",
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(m[None])
    np.testing.assert_array_equal(
        read_agl(path, unit="m"), np.array([[1.25, np.nan], [np.nan, 3.5]], np.float32)
    )
    with pytest.raises(DataError, match="uint16") as err:
        read_agl(path)
    assert "a_AGL.tif" in str(err.value)
    assert "unit='m'" in str(err.value)


def test_agl_wrong_dtype_names_file(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "b_AGL.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match=r"b_AGL\.tif: expected uint16 centimetres, found uint8"):
        read_agl(tmp_path / "b_AGL.tif")


def test_rgb_wrong_dtype_and_band_count_name_file(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a_RGB.tif", np.zeros((4, 4, 3), np.uint16), photometric="rgb")
    with pytest.raises(DataError, match=r"a_RGB\.tif: expected 8-bit RGB, found uint16"):
        read_rgb(tmp_path / "a_RGB.tif")
    tifffile.imwrite(tmp_path / "g_RGB.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match=r"g_RGB\.tif: expected an RGB image with 3 bands, found 1"):
        read_rgb(tmp_path / "g_RGB.tif")


def test_truncated_tif_names_file(tmp_path: Path) -> None:
    cm = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    path = tmp_path / "t_AGL.tif"
    tifffile.imwrite(path, cm)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        read_agl(path)
    assert err.value.path == str(path)
    assert "corrupt or truncated" in err.value.problem or "cannot open" in err.value.problem


def test_corrupt_j2k_names_file(tmp_path: Path) -> None:
    path = tmp_path / "c_RGB.j2k"
    path.write_bytes(b"\xff\x4f\xff\x51" + b"garbage" * 20)
    with pytest.raises(DataError) as err:
        read_rgb(path)
    assert err.value.path == str(path)
    assert str(err.value).startswith(f"{path}: ")


def test_missing_file_names_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope_RGB\.j2k: file not found"):
        read_rgb(tmp_path / "nope_RGB.j2k")


def test_agl_output_carries_crs_and_transform(tmp_path: Path, kit: SimpleNamespace) -> None:
    src = tmp_path / "geo_RGB.tif"
    crs = CRS.from_epsg(32617)
    transform = Affine(0.31, 0.0, 358000.0, 0.0, -0.31, 3350000.0)
    profile = {
        "driver": "GTiff",
        "width": kit.W,
        "height": kit.H,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
    }
    with rasterio.open(src, "w", **profile) as ds:
        ds.write(kit.tile_rgb(6).transpose(2, 0, 1))
    np.testing.assert_array_equal(read_rgb(src), kit.tile_rgb(6))
    geo = read_geo(src)
    assert geo.is_georeferenced
    out = tmp_path / "geo_AGL.tif"
    write_agl(out, kit.tile_agl(6), geo=geo)
    with rasterio.open(out) as ds:
        assert ds.crs == crs
        assert ds.transform.almost_equals(transform)
        assert ds.dtypes[0] == "uint16"
        assert ds.nodata == 65535


def test_plain_raster_has_no_geo(tmp_path: Path, kit: SimpleNamespace) -> None:
    write_rgb(tmp_path / "p_RGB.png", kit.tile_rgb(7))
    assert read_geo(tmp_path / "p_RGB.png") == GeoInfo(None, None)


def test_rows_arriving_in_uneven_blocks_are_written_once_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    agl = (rng.random((700, 300)) * 50).astype(np.float32)
    agl[5, 7] = np.nan
    path = tmp_path / "rows.tif"
    with agl_row_writer(path, 700, 300, geo=GeoInfo(None, None)) as write_rows:
        for top, bottom in [(0, 100), (100, 390), (390, 391), (391, 700)]:
            write_rows(top, agl[top:bottom])
        with pytest.raises(ValueError, match="in order"):
            write_rows(0, agl[:10])
    np.testing.assert_array_equal(rasterio.open(path).read(1), agl_m_to_cm(agl))


def test_first_georeferenced_skips_files_without_georeferencing(tmp_path: Path) -> None:
    plain, geo_tif = tmp_path / "plain.tif", tmp_path / "geo.tif"
    write_agl(plain, np.zeros((4, 4), dtype=np.float32))
    geo = GeoInfo(CRS.from_epsg(32615).to_wkt(), (0.5, 0.0, 100.0, 0.0, -0.5, 200.0))
    write_agl(geo_tif, np.zeros((4, 4), dtype=np.float32), geo=geo)
    assert first_georeferenced(plain, geo_tif) == read_geo(geo_tif)
    assert first_georeferenced(plain) is None


def _geo_raster(path: Path, crs: CRS | None, transform: Affine) -> Path:
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    write_rgb(path, rgb, geo=GeoInfo(crs.to_wkt() if crs else None, tuple(transform)[:6]))
    return path


@pytest.mark.parametrize(
    ("epsg", "transform", "expected"),
    [
        (32615, Affine(0.3, 0.0, 5e5, 0.0, -0.3, 3.3e6), 0.3),  # UTM, metres
        (2236, Affine(1.0, 0.0, 6e5, 0.0, -1.0, 6e5), 0.3048006),  # US survey feet
        # rotated by 30°: the pixel side is still 0.5 m
        (32617, Affine.rotation(30) @ Affine.scale(0.5, -0.5), 0.5),
    ],
)
def test_gsd_read_from_a_projected_crs(
    tmp_path: Path, epsg: int, transform: Affine, expected: float
) -> None:
    path = _geo_raster(tmp_path / "g.tif", CRS.from_epsg(epsg), transform)
    assert read_gsd(path) == pytest.approx(expected, rel=1e-6)


def test_gsd_needs_a_metric_crs_and_square_pixels(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    write_rgb(plain, np.zeros((4, 6, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r"plain\.png: no GSD: the raster has no CRS"):
        read_gsd(plain)
    degrees = _geo_raster(
        tmp_path / "deg.tif", CRS.from_epsg(4326), Affine(1e-5, 0, 0, 0, -1e-5, 0)
    )
    with pytest.raises(DataError, match=r"deg\.tif: no GSD: its CRS is not projected"):
        read_gsd(degrees)
    oblong = _geo_raster(tmp_path / "ob.tif", CRS.from_epsg(32615), Affine(0.3, 0, 0, 0, -0.5, 0))
    with pytest.raises(DataError, match=r"not square \(0\.3 × 0\.5 m\)"):
        read_gsd(oblong)


def test_agl_in_float_metres_round_trips_with_nan(tmp_path: Path) -> None:
    agl = np.array([[0.0, 1.234567], [np.nan, 250.5]], dtype=np.float32)
    geo = GeoInfo(CRS.from_epsg(32615).to_wkt(), (0.5, 0.0, 100.0, 0.0, -0.5, 200.0))
    write_agl(tmp_path / "m.tif", agl, geo=geo, unit="m")
    np.testing.assert_array_equal(read_agl(tmp_path / "m.tif", unit="m"), agl)
    assert read_geo(tmp_path / "m.tif").transform == pytest.approx(geo.transform)
    with pytest.raises(ValueError, match="unit"):
        write_agl(tmp_path / "x.tif", agl, unit="mm")  # type: ignore[arg-type]
