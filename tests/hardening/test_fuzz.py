"""Property-based fuzzing (hypothesis): the conventions over the whole float range, the
metric's accumulators against the DESIGN §2 formula, and every reader of data and run
files fed random bytes and randomly damaged real files.

A reader given garbage must raise geopose's own error (:class:`GeoposeError`, which the
command line prints as one line naming the file); any other exception is a crash.
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rasterio.errors import NotGeoreferencedWarning

from geopose.checkpoint import load_checkpoint, read_checkpoint_header
from geopose.conventions import (
    AGL_NODATA,
    agl_cm_to_m,
    agl_m_to_cm,
    angle_difference,
    direction_to_angle,
    wrap_angle,
)
from geopose.errors import GeoposeError
from geopose.inference.manifest import Manifest
from geopose.io.layout import parse_metadata, read_csv_rows
from geopose.io.raster import raster_info, read_agl, read_agl_cm, read_rgb, write_agl, write_rgb
from geopose.io.vflow import read_vflow
from geopose.metrics import GeoposeMetric
from geopose.models import create_model, save_model
from geopose.training.state import load_state, save_state

TWO_PI = 2 * math.pi
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


# ----------------------------------------------------------------------------- conventions
@FUZZ
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=any_float))
def test_agl_to_file_units_is_total(agl_m: np.ndarray) -> None:
    cm = agl_m_to_cm(agl_m)
    assert cm.dtype == np.uint16
    assert cm.shape == agl_m.shape
    assert ((cm == AGL_NODATA) == ~np.isfinite(agl_m)).all()
    valid = np.isfinite(agl_m)
    want = np.clip(np.rint(agl_m[valid] * 100), 0, AGL_NODATA - 1)
    assert (cm[valid] == want).all()


@FUZZ
@given(arrays(np.uint16, st.tuples(st.integers(1, 6), st.integers(1, 6))))
def test_agl_file_round_trip_is_exact(cm: np.ndarray) -> None:
    m = agl_cm_to_m(cm)
    assert m.dtype == np.float32
    assert (np.isnan(m) == (cm == AGL_NODATA)).all()
    assert (agl_m_to_cm(m) == cm).all()


@FUZZ
@given(finite)
def test_wrap_angle_lands_in_range_for_any_finite_input(theta: float) -> None:
    w = wrap_angle(theta)
    assert 0.0 <= w < TWO_PI
    if abs(theta) < 1e6:
        assert math.isclose(math.cos(w), math.cos(theta), abs_tol=1e-6)
        assert math.isclose(math.sin(w), math.sin(theta), abs_tol=1e-6)


@FUZZ
@given(finite, finite)
def test_direction_to_angle_is_total_and_in_range(dx: float, dy: float) -> None:
    a = direction_to_angle(dx, dy)
    assert 0.0 <= a < TWO_PI
    n = math.hypot(dx, dy)
    if 1e-150 < n < 1e150:
        assert math.isclose(math.sin(a), dx / n, abs_tol=1e-9)
        assert math.isclose(math.cos(a), dy / n, abs_tol=1e-9)


@FUZZ
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_angle_difference_is_a_symmetric_distance(a: float, b: float) -> None:
    d = float(angle_difference(a, b))
    assert 0.0 <= d <= math.pi + 1e-12
    assert d == pytest.approx(float(angle_difference(b, a)), abs=1e-9)
    assert float(angle_difference(a, a)) == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------- metric
def _reference(images: list[dict[str, Any]]) -> tuple[float, float]:
    """DESIGN §2 on everything of one city at once (numpy nansum, pooled means)."""
    t = np.concatenate([im["true"].ravel() for im in images]).astype(np.float64)
    p = np.concatenate([im["pred"].ravel() for im in images]).astype(np.float64)
    vt, vp = [], []
    for im in images:
        for agl, scale, angle, out in (
            (im["true"], im["st"], im["at"], vt),
            (im["pred"], im["sp"], im["ap"], vp),
        ):
            mag = agl.astype(np.float64) * scale
            out.append(np.stack([mag * math.sin(angle), mag * math.cos(angle)], -1).ravel())

    def r2(true: np.ndarray, pred: np.ndarray) -> float:
        n = np.sum(np.isfinite(true))
        m = np.nansum(true) / (n + 1e-4)
        sse = np.nansum(np.square(pred - true))
        return float(1.0 - sse / (np.nansum(np.square(true - m)) + 1e-4))

    return r2(t, p), r2(np.concatenate(vt), np.concatenate(vp))


heights = st.floats(0, 300, width=32) | st.just(float("nan"))


@st.composite
def images(draw: Any) -> dict[str, Any]:
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    true = draw(arrays(np.float32, (h, w), elements=heights))
    pred = draw(arrays(np.float32, (h, w), elements=heights))
    return {
        "true": true,
        "pred": pred,
        "st": draw(st.floats(0.05, 3.0)),
        "at": draw(st.floats(0, TWO_PI)),
        "sp": draw(st.floats(0.0, 3.0)),
        "ap": draw(st.floats(-10, 10)),
    }


def _feed(metric: GeoposeMetric, im: dict[str, Any]) -> None:
    metric.update("JAX", im["pred"], im["sp"], im["ap"], im["true"], im["st"], im["at"])


@FUZZ
@given(st.lists(images(), min_size=1, max_size=6), st.integers(0, 6))
def test_metric_accumulators_match_the_formula_and_merge_anywhere(
    ims: list[dict[str, Any]], cut: int
) -> None:
    whole = GeoposeMetric()
    for im in ims:
        _feed(whole, im)
    first, second = GeoposeMetric(), GeoposeMetric()
    for im in ims[:cut]:
        _feed(first, im)
    for im in ims[cut:]:
        _feed(second, im)
    merged = GeoposeMetric().merge(second).merge(first)
    restored = GeoposeMetric.from_state(whole.state_dict(tensors=True))
    agl_r2, vflow_r2 = _reference(ims)
    for metric in (whole, merged, restored):
        city = metric.compute().cities["JAX"]
        assert city.agl_r2 == pytest.approx(agl_r2, rel=1e-6, abs=1e-6)
        assert city.vflow_r2 == pytest.approx(vflow_r2, rel=1e-6, abs=1e-6)
        assert math.isfinite(city.score)


@FUZZ
@given(images(), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_predicted_labels_fail_the_city_not_the_run(
    im: dict[str, Any], bad: float
) -> None:
    metric = GeoposeMetric()
    metric.update("OMA", im["pred"], bad, im["ap"], im["true"], im["st"], im["at"], name="x")
    metric.update("OMA", im["pred"], im["sp"], bad, im["true"], im["st"], im["at"], name="y")
    city = metric.compute().cities["OMA"]
    assert city.score == 0.0
    assert len(city.failed) == 2


# ----------------------------------------------------------------------------- readers
def _never_crashes(read: Callable[[Path], object], path: Path) -> None:
    """``read(path)`` returns, or raises geopose's own error; nothing else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read(path)
    except GeoposeError:
        pass


@pytest.fixture(scope="module")
def good_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid file of every kind a stranger could hand geopose."""
    d = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
    write_rgb(d / "A_RGB.j2k", rgb)
    write_rgb(d / "A_RGB.tif", rgb)
    write_rgb(d / "A_RGB.png", rgb)
    write_agl(d / "A_AGL.tif", (rng.random((40, 40)) * 30).astype(np.float32))
    (d / "A_VFLOW.json").write_text('{"scale": 0.012, "angle": 1.5}\n')
    (d / "metadata.csv").write_text("id,city,gsd\nJAX_1,JAX,0.3\nOMA_2,OMA,0.5\n")
    torch.manual_seed(0)
    save_model(d / "m.safetensors", create_model("tiny"))
    save_state(d / "s.safetensors", {"step": 3, "opt": {"m": torch.ones(4)}, "t": (1, "a")})
    Manifest(d, {"tta": "none"}).mark("JAX_1", 1.0, 0.5)
    return {
        "j2k": d / "A_RGB.j2k",
        "tif": d / "A_RGB.tif",
        "png": d / "A_RGB.png",
        "agl": d / "A_AGL.tif",
        "vflow": d / "A_VFLOW.json",
        "csv": d / "metadata.csv",
        "ckpt": d / "m.safetensors",
        "state": d / "s.safetensors",
        "manifest": d / "manifest.json",
    }


def _read_manifest(path: Path) -> None:
    out = path.parent
    if path.name != "manifest.json":
        shutil.copy(path, out / "manifest.json")
    Manifest.open(out, {"tta": "none"})


def _read_raster_all(path: Path) -> None:
    raster_info(path)
    read_rgb(path)


#: Reader under test → the kind of valid file its damaged inputs start from.
READERS: dict[str, tuple[Callable[[Path], object], str]] = {
    "read_rgb-j2k": (_read_raster_all, "j2k"),
    "read_rgb-tif": (_read_raster_all, "tif"),
    "read_rgb-png": (_read_raster_all, "png"),
    "read_rgb-reduced": (lambda p: read_rgb(p, reduction=raster_info(p).coarsest_reduction), "j2k"),
    "read_agl": (read_agl, "agl"),
    "read_agl_cm": (read_agl_cm, "agl"),
    "read_agl-m": (lambda p: read_agl(p, unit="m"), "agl"),
    "read_vflow": (read_vflow, "vflow"),
    "parse_metadata": (parse_metadata, "csv"),
    "read_csv_rows": (lambda p: read_csv_rows(p, ("id", "rgb")), "csv"),
    "load_checkpoint": (load_checkpoint, "ckpt"),
    "read_checkpoint_header": (read_checkpoint_header, "ckpt"),
    "load_state": (load_state, "state"),
    "manifest": (_read_manifest, "manifest"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=600),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
)
def test_readers_given_garbage_raise_geopose_errors(
    reader: str,
    good_files: dict[str, Path],
    tmp_path: Path,
    data: bytes,
    cut: float,
    flips: list[tuple[float, int]],
) -> None:
    read, kind = READERS[reader]
    source = good_files[kind]
    # Pure random bytes, under the file's own name (the format comes from the suffix).
    path = tmp_path / source.name
    path.write_bytes(data)
    _never_crashes(read, path)
    # The real file, truncated and with bytes overwritten.
    real = bytearray(source.read_bytes())
    real = real[: max(1, int(len(real) * (0.5 + cut / 2)))]
    for at, value in flips:
        real[int(at * (len(real) - 1))] = value
    path.write_bytes(bytes(real))
    _never_crashes(read, path)


def test_rasters_with_strange_shapes_are_named(tmp_path: Path) -> None:
    """Rasters whose band count or type a reader refuses, and a 0-band-like header."""
    cases = {
        "two_bands.tif": (2, "uint8"),
        "int8.tif": (3, "int8"),
        "complex.tif": (1, "complex64"),
        "float_agl.tif": (1, "float64"),
    }
    for name, (count, dtype) in cases.items():
        path = tmp_path / name
        with (
            warnings.catch_warnings(),
            rasterio.open(
                path, "w", driver="GTiff", width=4, height=4, count=count, dtype=dtype
            ) as ds,
        ):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds.write(np.zeros((count, 4, 4), dtype=dtype))
        for read in (read_rgb, read_agl_cm):
            with pytest.raises(GeoposeError, match=name):
                read(path)
