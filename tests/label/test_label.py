"""`geopose label` against the synthetic renderer's own labels (issue 17)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject

from geopose.cli import main
from geopose.conventions import angle_difference, scale_from_elevation
from geopose.data.synth.raytrace import trace
from geopose.errors import DataError
from geopose.io.catalog import open_layout
from geopose.io.raster import read_agl
from geopose.io.vflow import read_vflow
from geopose.label.grid import GroundGrid, metres_per_degree
from geopose.label.tile import label_image
from geopose.label.view import affine_rpc, read_worldview_angles, view_from_angles
from truth_tiles import TruthTile, r2


def _check_against_renderer(tile: TruthTile, agl: np.ndarray, scale: float, angle: float) -> None:
    assert r2(agl, tile.agl) >= 0.99
    both = np.isfinite(agl) & np.isfinite(tile.agl)
    assert both.mean() > 0.95
    assert math.degrees(float(angle_difference(angle, tile.angle))) < 0.5
    assert abs(scale / tile.scale - 1) < 0.01


def test_export_truth_is_georeferenced_and_states_the_view(truth_tiles: list[TruthTile]) -> None:
    for tile in truth_tiles:
        with rasterio.open(tile.rgb) as img, rasterio.open(tile.ndsm) as nd:
            assert img.crs == CRS.from_epsg(32617) == nd.crs
            assert img.transform.a == pytest.approx(tile.view["gsd"])
            assert img.transform.e == pytest.approx(-tile.view["gsd"])
            assert nd.width > img.width  # ray margins
            assert nd.height > img.height
        assert tile.view["azimuth_deg"] == pytest.approx((180 - math.degrees(tile.angle)) % 360)
        assert tile.view["scale"] == pytest.approx(tile.scale, rel=1e-6)


def test_label_from_exported_ndsm_reproduces_the_renderer(truth_tiles: list[TruthTile]) -> None:
    for tile in truth_tiles:
        label = label_image(tile.rgb, ndsm=tile.ndsm, elevation=tile.view["elevation_deg"],
                            azimuth=tile.view["azimuth_deg"])  # fmt: skip
        _check_against_renderer(tile, label.agl, label.view.scale, label.view.angle)
        # Same grid, same heights, same ray rule: equal to the centimetre but for facade
        # pixels (their heights follow the scale, which the UTM grid's 0.9996 shifts).
        both = np.isfinite(label.agl) & np.isfinite(tile.agl)
        close = np.abs(label.agl[both] - tile.agl[both]) < 0.011
        assert close.mean() > 0.98
        assert label.view.gsd == pytest.approx(tile.view["gsd"], rel=1e-3)
        assert "flags" in label.view.source


def _warp(src: Path, dst: Path, crs: str, res: float | None) -> None:
    """Reproject a raster (nearest) to ``crs`` at resolution ``res`` (CRS units)."""
    with rasterio.open(src) as ds:
        transform, w, h = calculate_default_transform(
            ds.crs, crs, ds.width, ds.height, *ds.bounds, resolution=res
        )
        out = np.full((h, w), np.nan, np.float32)
        reproject(rasterio.band(ds, 1), out, dst_transform=transform, dst_crs=crs,
                  dst_nodata=np.nan, resampling=Resampling.nearest)  # fmt: skip
    with rasterio.open(dst, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs=crs, transform=transform, nodata=np.nan) as ds:  # fmt: skip
        ds.write(out[None])


def test_label_from_ndsm_in_another_crs_and_resolution(
    truth_tiles: list[TruthTile], tmp_path: Path
) -> None:
    for tile in truth_tiles[::2]:
        lonlat = tmp_path / f"{tile.id}_ll.tif"
        m_lon, _ = metres_per_degree(29.8)
        _warp(tile.ndsm, lonlat, "EPSG:4326", tile.view["gsd"] * 0.4 / m_lon)  # finer, degrees
        mercator = tmp_path / f"{tile.id}_3857.tif"
        _warp(tile.ndsm, mercator, "EPSG:3857", tile.view["gsd"] * 0.7)  # web mercator
        for ndsm in (lonlat, mercator):
            label = label_image(tile.rgb, ndsm=ndsm, elevation=tile.view["elevation_deg"],
                                azimuth=tile.view["azimuth_deg"])  # fmt: skip
            _check_against_renderer(tile, label.agl, label.view.scale, label.view.angle)


def test_label_from_dsm_and_dtm_equals_the_ndsm(
    truth_tiles: list[TruthTile], tmp_path: Path
) -> None:
    tile = truth_tiles[1]
    with rasterio.open(tile.ndsm) as ds:
        ndsm, profile = ds.read(1), ds.profile
    rows, cols = np.mgrid[0 : ndsm.shape[0], 0 : ndsm.shape[1]]
    terrain = (30.0 + 0.05 * rows + 0.02 * cols).astype(np.float32)  # a sloping ground
    for name, data in (("dsm", ndsm + terrain), ("dtm", terrain)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as ds:
            ds.write(data[None])
    kw = {"elevation": tile.view["elevation_deg"], "azimuth": tile.view["azimuth_deg"]}
    from_pair = label_image(tile.rgb, dsm=tmp_path / "dsm.tif", dtm=tmp_path / "dtm.tif", **kw)
    from_ndsm = label_image(tile.rgb, ndsm=tile.ndsm, **kw)
    np.testing.assert_allclose(from_pair.agl, from_ndsm.agl, atol=1e-4)


def test_north_up_angle_is_180_minus_azimuth_and_matches_the_ray_rule() -> None:
    """A satellite at azimuth az leans a roof away from it on the ground; the renderer,
    given θ = 180° − az, must image a 1-pixel tower's top exactly there."""
    gsd, el = 0.5, 60.0
    grid = GroundGrid(CRS.from_epsg(32617), Affine(gsd, 0, 500_000, 0, -gsd, 3_300_000), 81, 81)
    for az in (0.0, 37.0, 90.0, 150.0, 222.0, 300.0):
        view = view_from_angles(grid, el, az)
        assert math.degrees(view.angle) == pytest.approx((180 - az) % 360, abs=0.01)
        assert view.scale == pytest.approx(scale_from_elevation(math.radians(el), gsd), rel=1e-3)
        height = np.zeros((81, 81))
        height[40, 40] = 20.0  # a thin tower, 20 m
        agl = trace(height, view.scale, view.angle)[0]
        # physics: the top is seen 20·cot(el) m from the foot, away from the satellite
        lean = 20.0 / math.tan(math.radians(el)) / gsd
        east, north = -lean * math.sin(math.radians(az)), -lean * math.cos(math.radians(az))
        col, row = 40 + east, 40 - north  # a north-up image: rows run south
        rr, cc = np.nonzero(agl > 19.0)
        assert rr.size > 0
        dist = np.hypot(rr - row, cc - col)  # the top spans a digital-line cell
        assert dist.min() <= 1.1  # (a wrong convention: > 10 px)
        assert dist.max() <= 2.0


def test_label_through_an_rpc_model(truth_tiles: list[TruthTile], tmp_path: Path) -> None:
    for tile in truth_tiles:
        grid = GroundGrid.of_raster(tile.rgb)
        rpc = affine_rpc(grid, tile.view["elevation_deg"], tile.view["azimuth_deg"])
        with rasterio.open(tile.rgb) as ds:
            data, profile = ds.read(), ds.profile
        image = tmp_path / f"{tile.id}_RGB.tif"
        profile.update(driver="GTiff")
        with rasterio.open(image, "w", rpcs=rpc, **profile) as ds:
            ds.write(data)
        label = label_image(image, ndsm=tile.ndsm, view="rpc")
        assert "RPC model" in label.view.source
        _check_against_renderer(tile, label.agl, label.view.scale, label.view.angle)


def test_worldview_imd_and_xml(tmp_path: Path) -> None:
    imd = tmp_path / "x.IMD"
    imd.write_text("BEGIN_GROUP = IMAGE_1\n\tmeanSunEl = 40.1;\n\tmeanSatEl = 71.5;\n"
                   "\tmeanSatAz = 212.25;\n\tmeanInTrackViewAngle = 1.0;\nEND_GROUP\n")  # fmt: skip
    xml = tmp_path / "x.XML"
    xml.write_text("<IMD><IMAGE><MEANSATAZ>33.5</MEANSATAZ><MEANSATEL>66.0</MEANSATEL>"
                   "</IMAGE></IMD>")  # fmt: skip
    assert read_worldview_angles(imd) == (71.5, 212.25)
    assert read_worldview_angles(xml) == (66.0, 33.5)
    bad = tmp_path / "bad.XML"
    bad.write_text("<IMD><MEANSATEL>66</MEANSATEL></IMD>")
    with pytest.raises(DataError, match="MEANSATAZ"):
        read_worldview_angles(bad)


def test_cli_writes_a_layout_check_accepts(
    truth_tiles: list[TruthTile], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data"
    for tile in truth_tiles[:2]:
        imd = tmp_path / f"{tile.id}.IMD"
        imd.write_text(f"meanSatEl = {tile.view['elevation_deg']};\n"
                       f"meanSatAz = {tile.view['azimuth_deg']};\n")  # fmt: skip
        figures = tmp_path / f"{tile.id}.json"
        code = main(["label", "--image", str(tile.rgb), "--ndsm", str(tile.ndsm),
                     "--view", str(imd), "--out", str(out), "--id", tile.id,
                     "--json", str(figures)])  # fmt: skip
        assert code == 0
        stated = json.loads(figures.read_text())
        assert "WorldView" in stated["view_source"]
        assert abs(stated["scale_px_per_m"] / tile.scale - 1) < 0.01
        printed = capsys.readouterr().out
        for word in ("angle", "scale", "GSD"):
            assert word in printed
        assert "WorldView metadata" in printed
    layout = open_layout(out)
    assert [e.id for e in layout.entries("train")] == [t.id for t in truth_tiles[:2]]
    entry = layout.entries("train")[0]
    tile = truth_tiles[0]
    assert entry.gsd == pytest.approx(tile.view["gsd"], rel=1e-3)
    assert r2(read_agl(entry.agl), tile.agl) >= 0.99
    scale, angle = read_vflow(entry.vflow)
    assert abs(scale / tile.scale - 1) < 0.01
    assert math.degrees(float(angle_difference(angle, tile.angle))) < 0.5
    with rasterio.open(entry.agl) as ds:
        assert ds.crs == CRS.from_epsg(32617)
    assert main(["check", str(out)]) == 0


def test_cli_errors(truth_tiles: list[TruthTile], tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    tile = truth_tiles[0]
    base = ["label", "--image", str(tile.rgb), "--out", str(tmp_path / "d"), "--id", tile.id]
    assert main([*base, "--ndsm", str(tile.ndsm)]) == 2  # no view
    assert main([*base, "--ndsm", str(tile.ndsm), "--elevation", "60"]) == 2
    assert main([*base, "--dsm", str(tile.ndsm), "--elevation", "60", "--azimuth", "3"]) == 2
    plain = tmp_path / "plain.png"
    with rasterio.open(tile.rgb) as ds:
        data = ds.read()
    with rasterio.open(plain, "w", driver="PNG", width=data.shape[2], height=data.shape[1],
                       count=3, dtype="uint8") as ds:  # fmt: skip
        ds.write(data)
    capsys.readouterr()
    code = main(["label", "--image", str(plain), "--ndsm", str(tile.ndsm), "--elevation", "60",
                 "--azimuth", "10", "--out", str(tmp_path / "d"), "--city", "ATL"])  # fmt: skip
    assert code == 1
    assert "plain.png" in capsys.readouterr().err
    assert main([*base, "--ndsm", str(tile.ndsm), "--view", "rpc"]) == 1  # no RPCs
