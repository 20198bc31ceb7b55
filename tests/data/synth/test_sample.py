"""generate_sample: the Sample contract, determinism, the view and the city statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.data.synth import LabelFlaws, generate_sample, load_presets, render_agl
from geopose.data.synth.rasterize import rasterize
from geopose.data.synth.scene import make_district

CITIES = ("ARG", "ATL", "JAX", "OMA")


def test_sample_contract() -> None:
    s = generate_sample("JAX", 5, size=96)
    assert set(s) == {"image", "agl", "gsd", "scale", "angle", "city", "id"}
    assert s["image"].dtype == np.uint8
    assert s["image"].shape == (96, 96, 3)
    assert s["agl"].dtype == np.float32
    assert s["agl"].shape == (96, 96)
    assert np.isfinite(s["agl"]).all()
    assert (s["agl"] >= 0).all()
    assert 0 <= s["angle"] < 2 * math.pi
    assert s["city"] == "JAX"
    assert s["id"] == "JAX_5"
    assert s["image"].std() > 5  # an actual picture, not a flat fill


def test_deterministic_for_a_seed() -> None:
    a = generate_sample("ARG", 11, size=64)
    b = generate_sample("ARG", 11, size=64)
    c = generate_sample("ARG", 12, size=64)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["agl"], b["agl"])
    assert (a["gsd"], a["scale"], a["angle"]) == (b["gsd"], b["scale"], b["angle"])
    assert not np.array_equal(a["image"], c["image"])


def test_given_view_is_kept_and_scale_is_cot_elevation_over_gsd() -> None:
    elev = math.radians(63.0)
    s = generate_sample("OMA", 3, size=64, gsd=0.33, angle=-0.5, elevation=elev)
    assert s["gsd"] == 0.33
    assert s["angle"] == pytest.approx(2 * math.pi - 0.5)
    assert s["scale"] == pytest.approx(math.cos(elev) / math.sin(elev) / 0.33)


@pytest.mark.parametrize("city", CITIES)
def test_agl_never_drops_faster_than_one_over_scale_along_the_flow(city: str) -> None:
    """From p to p + t·d the AGL drops by at most t/s (within one pixel of the landing point)."""
    s = generate_sample(city, 21, size=128)
    theta, scale = s["angle"], s["scale"]
    k = math.floor((theta + math.pi / 4) / (math.pi / 2))
    phi = theta - k * math.pi / 2
    a = np.rot90(s["agl"], -k)  # d now points down the rows, tan φ columns per row
    rows, cols = a.shape
    padded = np.pad(a, ((0, 0), (1, 1)), constant_values=-np.inf)
    best = np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    c = np.arange(cols)
    for t in (1, 3, 8):
        land = np.rint(c + t * math.tan(phi)).astype(int)
        ok = (land >= 1) & (land < cols - 1)  # the whole neighbourhood inside the tile
        for r in range(rows - t):
            drop = a[r, ok] - best[r + t, land[ok]]
            assert np.all(drop <= t / math.cos(phi) / scale + 1e-4)


def test_ray_rule_on_a_rasterised_district(ray_rule) -> None:  # type: ignore[no-untyped-def]
    preset = load_presets()["ATL"]
    scene = make_district(preset, np.random.default_rng(4), 150.0)
    height = rasterize(scene, 0.5, (10.0, 10.0), (96, 96)).height
    assert height.max() > 5
    scale, theta = 0.9, 2.2
    ray_rule(height, render_agl(height, scale, theta), scale, theta)


def test_coarser_gsd_shows_the_same_buildings_smaller() -> None:
    scene = make_district(load_presets()["ARG"], np.random.default_rng(0), 120.0)
    fine = rasterize(scene, 0.3, (0.0, 0.0), (400, 400))
    coarse = rasterize(scene, 0.5, (0.0, 0.0), (240, 240))
    ids, counts = np.unique(fine.building[fine.building > 0], return_counts=True)
    big = ids[counts > 400]
    assert big.size >= 3
    for i in big:
        ratio = (fine.building == i).sum() / max((coarse.building == i).sum(), 1)
        assert ratio == pytest.approx((0.5 / 0.3) ** 2, rel=0.15)


@pytest.mark.slow
@pytest.mark.parametrize("city", CITIES)
def test_city_statistics_match_the_real_data(city: str) -> None:
    preset = load_presets()[city]
    means, gsds, scales, angles, peak = [], [], [], [], 0.0
    for i in range(36):
        s = generate_sample(city, 500 + i, size=192, district_seed=i // 3, district_extent=250.0)
        means.append(float(s["agl"].mean()))
        gsds.append(s["gsd"])
        scales.append(s["scale"])
        angles.append(s["angle"])
        peak = max(peak, float(s["agl"].max()))
    lo, hi = preset.gsd
    assert all(lo <= g <= hi for g in gsds)
    # scale = cot(elevation) / gsd with elevation in 54–86°
    cot = [math.tan(math.pi / 2 - math.radians(e)) for e in (86.0, 54.0)]
    assert all(cot[0] / hi - 1e-9 <= s <= cot[1] / lo + 1e-9 for s in scales)
    assert peak <= preset.max_agl
    assert np.mean(means) == pytest.approx(preset.mean_agl, rel=0.3)
    # view angles cluster around the city's few satellite passes
    for a in angles:
        gap = min(abs((a - math.radians(p)) % (2 * math.pi)) for p, _, _ in preset.passes)
        gap = min(gap, min(abs((math.radians(p) - a) % (2 * math.pi)) for p, _, _ in preset.passes))
        assert gap < math.radians(4 * preset.angle_jitter)


def test_label_flaws() -> None:
    clean = generate_sample("ATL", 8, size=128)
    flawed = generate_sample("ATL", 8, size=128, flaws=LabelFlaws(nodata_patches=60, speckle=0.02))
    np.testing.assert_array_equal(clean["image"], flawed["image"])  # RGB untouched
    holes = np.isnan(flawed["agl"])
    assert holes.any()
    assert not holes.all()
    changed = ~holes & (flawed["agl"] != clean["agl"])
    assert 0.005 < changed.mean() < 0.05  # speckle on about 2 % of the pixels
    assert (np.nan_to_num(flawed["agl"]) >= 0).all()


def test_phantom_buildings_are_in_agl_but_not_in_rgb() -> None:
    clean = generate_sample("JAX", 9, size=128)
    ghost = generate_sample("JAX", 9, size=128, flaws=LabelFlaws(phantom_buildings=1.0))
    np.testing.assert_array_equal(clean["agl"], ghost["agl"])
    assert np.abs(clean["image"].astype(int) - ghost["image"]).mean() > 3


def test_unknown_city() -> None:
    with pytest.raises(ValueError, match="unknown city"):
        generate_sample("XXX", 0, size=32)
