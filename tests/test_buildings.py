"""`geopose buildings`: per-footprint heights from AGL rectified to ground level."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rasterio.warp import transform_geom

from geopose.buildings import ground_agl, height_stats
from geopose.cli import main
from geopose.io.layout import agl_name
from truth_tiles import TruthTile, make_truth_tiles


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> list[TruthTile]:
    """Bigger tiles than the label tests use, so many buildings lie wholly inside."""
    return make_truth_tiles(tmp_path_factory.mktemp("bld"), size=256, per_city=1)


def _true_medians(tile: TruthTile, features: list[dict]) -> tuple[list[float], list[bool]]:
    """Per footprint: median of the renderer's orthographic heights inside it, and whether
    the footprint lies wholly inside the image (with ≥ 16 pixel centres)."""
    with rasterio.open(tile.ndsm) as nd, rasterio.open(tile.rgb) as img:
        ndsm, nd_t, crs = nd.read(1), nd.transform, nd.crs
        img_t, shape = img.transform, (img.height, img.width)
    medians, inside = [], []
    for f in features:
        geom = transform_geom("EPSG:4326", crs, f["geometry"])
        m = rasterize([(geom, 1)], out_shape=ndsm.shape, transform=nd_t).astype(bool)
        medians.append(float(np.median(ndsm[m])) if m.any() else float("nan"))
        full = rasterize([(geom, 1)], out_shape=shape, transform=img_t).sum()
        inside.append(bool(m.sum() >= 16 and full == m.sum()))
    return medians, inside


def test_true_agl_gives_each_buildings_true_height(
    tiles: list[TruthTile], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = 0
    for tile in tiles:
        pred = tile.rgb.parent / agl_name(tile.id)
        out = tmp_path / f"{tile.id}.geojson"
        assert main(["buildings", "--pred", str(pred), "--footprints", str(tile.buildings),
                     "--out", str(out)]) == 0  # fmt: skip
        assert "footprints" in capsys.readouterr().out
        given = json.loads(tile.buildings.read_text())["features"]
        got = json.loads(out.read_text())["features"]
        assert len(got) == len(given)
        medians, inside = _true_medians(tile, given)
        errors: list[float] = []
        fractions: list[float] = []
        for f, g, true, whole in zip(given, got, medians, inside, strict=True):
            p = g["properties"]
            assert p["building"] == f["properties"]["building"]  # attributes kept
            assert p["eave_m"] == f["properties"]["eave_m"]
            if not whole:
                continue
            fractions.append(p["valid_fraction"])
            if p["valid_fraction"] < 0.5:
                continue  # mostly hidden behind a taller neighbour in the oblique view
            errors.append(abs(p["height_median_m"] - true))
            if f["properties"]["rise_m"] == 0 and abs(true - f["properties"]["eave_m"]) < 0.01:
                assert p["height_median_m"] == pytest.approx(f["properties"]["eave_m"], abs=0.5)
        assert errors
        assert max(errors) <= 0.5, (tile.id, sorted(errors)[-5:])
        assert np.mean(fractions) > 0.8
        checked += len(errors)
    assert checked >= 10


def test_csv_output_and_other_crs(tiles: list[TruthTile], tmp_path: Path) -> None:
    tile = tiles[0]
    data = json.loads(tile.buildings.read_text())
    # the same footprints in web mercator, as a GeoJSON with a named CRS
    for f in data["features"]:
        f["geometry"] = transform_geom("EPSG:4326", "EPSG:3857", f["geometry"])
    data["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    merc = tmp_path / "merc.geojson"
    merc.write_text(json.dumps(data))
    pred = tile.rgb.parent / agl_name(tile.id)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["buildings", "--pred", str(pred), "--footprints", str(tile.buildings),
                 "--out", str(a)]) == 0  # fmt: skip
    assert main(["buildings", "--pred", str(pred), "--footprints", str(merc),
                 "--out", str(b)]) == 0  # fmt: skip
    rows_a = list(csv.DictReader(a.open()))
    rows_b = list(csv.DictReader(b.open()))
    assert rows_a[0].keys() >= {"building", "eave_m", "height_median_m", "height_p90_m",
                                "height_max_m", "valid_fraction"}  # fmt: skip
    med_a = np.array([float(r["height_median_m"] or "nan") for r in rows_a])
    med_b = np.array([float(r["height_median_m"] or "nan") for r in rows_b])
    both = np.isfinite(med_a) & np.isfinite(med_b)
    assert both.sum() >= 5
    assert np.median(np.abs(med_a[both] - med_b[both])) < 0.05


def test_roofs_move_onto_footprints_before_the_statistics() -> None:
    """A 10 m block leaning 10 px to the right: its image is off its footprint; rectified,
    it is back on it."""
    agl = np.zeros((40, 60), np.float32)
    agl[10:20, 20:30] = 10.0  # the roof as imaged
    ground = ground_agl(agl, scale=1.0, angle=-np.pi / 2)  # flow points left (−x)
    assert np.nanmedian(ground[10:20, 10:20]) == pytest.approx(10.0)
    stats = height_stats(ground[10:20, 10:20])
    assert stats["height_max_m"] == pytest.approx(10.0)
    assert stats["valid_fraction"] == 1.0


def test_bad_footprints(tiles: list[TruthTile], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    pts = tmp_path / "pts.geojson"
    pts.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
    ]}))  # fmt: skip
    pred = tiles[0].rgb.parent / agl_name(tiles[0].id)
    capsys.readouterr()
    assert main(["buildings", "--pred", str(pred), "--footprints", str(pts),
                 "--out", str(tmp_path / "o.geojson")]) == 1  # fmt: skip
    assert "pts.geojson" in capsys.readouterr().err
    assert main(["buildings", "--pred", str(pred), "--footprints", str(pts),
                 "--out", str(tmp_path / "o.txt")]) == 2  # fmt: skip
