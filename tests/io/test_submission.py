"""Submission files: cm rounding, clipping, no-data, flat tar, reading back."""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import tifffile
from PIL import Image
from rasterio.crs import CRS
from rasterio.transform import Affine

from geopose.errors import DataError
from geopose.io.raster import GeoInfo
from geopose.io.submission import (
    iter_submission,
    pack_submission,
    read_prediction,
    read_submission,
    unpack_submission,
    write_prediction,
)

AGL = np.array(
    [[0.004, 0.005, 1.234], [-3.0, 700.0, np.nan], [12.345, np.inf, 655.34]], dtype=np.float32
)


def expected_cm(agl: np.ndarray) -> np.ndarray:
    """Independent reference: round half to even in cm, clip to [0, 65534], no data 65535."""
    out = np.full(agl.shape, 65535, dtype=np.uint16)
    for idx, v in np.ndenumerate(agl.astype(np.float64)):
        if math.isfinite(v):
            out[idx] = min(max(round(v * 100), 0), 65534)
    return out


def test_agl_file_rounds_clips_and_codes_nodata(tmp_path: Path) -> None:
    agl_path, _ = write_prediction(tmp_path, "JAX_1", AGL, 1.0, 0.0)
    assert agl_path.name == "JAX_1_AGL.tif"
    with tifffile.TiffFile(agl_path) as tif:
        page = tif.pages[0]
        cm = page.asarray()
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    assert cm.dtype == np.uint16
    np.testing.assert_array_equal(cm, expected_cm(AGL))
    assert (cm[1, 0], cm[1, 1], cm[1, 2], cm[2, 1]) == (0, 65534, 65535, 65535)


def test_agl_file_reads_with_pillow(tmp_path: Path, kit: SimpleNamespace) -> None:
    agl = kit.tile_agl(3)
    agl_path, _ = write_prediction(tmp_path, "OMA_2", agl, 1.0, 0.0)
    with Image.open(agl_path) as im:
        cm = np.asarray(im)
    np.testing.assert_array_equal(cm.astype(np.uint16), expected_cm(agl))


def test_vflow_file_is_px_per_cm(tmp_path: Path) -> None:
    _, vflow_path = write_prediction(tmp_path, "JAX_1", AGL, 2.5, 7.0)
    on_disk = json.loads(vflow_path.read_text())
    assert on_disk == {"scale": pytest.approx(0.025), "angle": pytest.approx(7.0 - 2 * math.pi)}


def test_round_trip_through_reader(tmp_path: Path, kit: SimpleNamespace) -> None:
    agl = kit.tile_agl(4)
    write_prediction(tmp_path, "ATL_9", agl, 1.75, 0.25)
    pred = read_prediction(tmp_path, "ATL_9")
    np.testing.assert_array_equal(
        pred.agl,
        expected_cm(agl).astype(np.float32) / 100
        + np.where(np.isnan(agl), np.nan, 0).astype(np.float32),
    )
    assert (pred.scale, pred.angle) == (pytest.approx(1.75), pytest.approx(0.25))


def test_reader_keeps_nan_scale_and_names_missing_file(
    tmp_path: Path, kit: SimpleNamespace
) -> None:
    write_prediction(tmp_path, "JAX_1", AGL, 1.0, 0.5)
    write_prediction(tmp_path, "JAX_2", AGL, 1.0, 0.5)
    kit.write_json(tmp_path / "JAX_2_VFLOW.json", {"scale": math.nan, "angle": 0.5})
    preds = read_submission(tmp_path)
    assert sorted(preds) == ["JAX_1", "JAX_2"]
    assert math.isnan(preds["JAX_2"].scale)
    (tmp_path / "JAX_1_VFLOW.json").unlink()
    with pytest.raises(DataError, match=r"JAX_1_VFLOW\.json: file not found"):
        dict(iter_submission(tmp_path))
    with pytest.raises(DataError, match=r"JAX_3_AGL\.tif: file not found"):
        read_submission(tmp_path, ids=["JAX_3"])


def test_agl_carries_crs(tmp_path: Path) -> None:
    geo = GeoInfo(CRS.from_epsg(32615).to_wkt(), (0.5, 0.0, 1000.0, 0.0, -0.5, 2000.0))
    agl_path, _ = write_prediction(tmp_path, "OMA_1", AGL, 1.0, 0.0, geo=geo)
    with rasterio.open(agl_path) as ds:
        assert ds.crs == CRS.from_epsg(32615)
        assert ds.transform == Affine(0.5, 0.0, 1000.0, 0.0, -0.5, 2000.0)


def test_tar_is_flat_and_complete(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    for i in ("JAX_1", "OMA_2"):
        write_prediction(folder, i, AGL, 1.0, 0.1)
    (folder / "notes.txt").write_text("not part of a submission")
    tar_path = pack_submission(folder, tmp_path / "out" / "submission.tar.gz")
    with tarfile.open(tar_path, "r:gz") as tar:
        names = tar.getnames()
        assert all(m.isfile() for m in tar.getmembers())
        agl_bytes = tar.extractfile("OMA_2_AGL.tif").read()  # type: ignore[union-attr]
    assert names == ["JAX_1_AGL.tif", "JAX_1_VFLOW.json", "OMA_2_AGL.tif", "OMA_2_VFLOW.json"]
    assert agl_bytes == (folder / "OMA_2_AGL.tif").read_bytes()
    assert sorted(p.name for p in tar_path.parent.iterdir()) == ["submission.tar.gz"]
    unpacked = unpack_submission(tar_path, tmp_path / "unpacked")
    assert sorted(read_submission(unpacked)) == ["JAX_1", "OMA_2"]


def test_tar_default_path_and_unpaired_file(tmp_path: Path) -> None:
    write_prediction(tmp_path, "JAX_1", AGL, 1.0, 0.1)
    assert pack_submission(tmp_path) == tmp_path / "submission.tar.gz"
    (tmp_path / "JAX_1_AGL.tif").unlink()
    with pytest.raises(DataError, match=r"JAX_1_AGL\.tif: missing \(its VFLOW file exists\)"):
        pack_submission(tmp_path, tmp_path / "again.tar.gz")
    assert not (tmp_path / "again.tar.gz").exists()


def test_read_prediction_checks_the_shape_and_names_every_bad_file(tmp_path: Path) -> None:
    write_prediction(tmp_path, "JAX_1", np.ones((4, 6), np.float32), 1.0, 0.5)
    assert read_prediction(tmp_path, "JAX_1", shape=(4, 6)).agl.shape == (4, 6)
    with pytest.raises(DataError, match=r"JAX_1_AGL\.tif: shape \(4, 6\) but the truth is"):
        read_prediction(tmp_path, "JAX_1", shape=(6, 4))
    with pytest.raises(DataError) as missing:
        read_prediction(tmp_path, "JAX_2")
    assert "JAX_2_AGL.tif" in str(missing.value)
    assert "JAX_2_VFLOW.json" in str(missing.value)
