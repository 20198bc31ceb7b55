"""Tests of ``geopose evaluate`` on tiny files written with geopose.io."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from geopose.cli import main
from geopose.io import read_agl, read_vflow, write_agl, write_vflow

CITIES = ("ARG", "JAX", "OMA")
SIZE = 32


def write_pair(folder: Path, image_id: str, agl: np.ndarray, scale: float, angle: float) -> None:
    write_agl(folder / f"{image_id}_AGL.tif", agl)
    write_vflow(folder / f"{image_id}_VFLOW.json", scale, angle)


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """truth/ and pred/ folders: 3 cities × 2 images, no-data in both."""
    rng = np.random.default_rng(11)
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    ids = []
    for city in CITIES:
        for k in range(2):
            image_id = f"{city}_{k:03d}"
            ids.append(image_id)
            true = rng.gamma(1.5, 4.0, (SIZE, SIZE))
            true[rng.random((SIZE, SIZE)) < 0.1] = np.nan
            guess = np.abs(np.nan_to_num(true, nan=2.0) + rng.normal(0, 1.5, (SIZE, SIZE)))
            guess[rng.random((SIZE, SIZE)) < 0.03] = np.nan
            write_pair(truth, image_id, true, rng.uniform(0.3, 2.0), rng.uniform(0, 6.28))
            write_pair(pred, image_id, guess, rng.uniform(0.3, 2.0), rng.uniform(0, 6.28))
    return truth, pred, ids


def reference_scores(truth: Path, pred: Path, ids: list[str]) -> dict[str, tuple[float, float]]:
    """Official formula in plain numpy on the files as read back (per city: AGL, VFLOW R²)."""
    out = {}
    for city in sorted({i.split("_")[0] for i in ids}):
        at, ap, vt, vp = [], [], [], []
        for image_id in (i for i in ids if i.startswith(city + "_")):
            t = read_agl(truth / f"{image_id}_AGL.tif").astype(np.float64)
            p = read_agl(pred / f"{image_id}_AGL.tif").astype(np.float64)
            st, ct = read_vflow(truth / f"{image_id}_VFLOW.json")
            sp, cp = read_vflow(pred / f"{image_id}_VFLOW.json")
            at.append(t.ravel())
            ap.append(p.ravel())
            vt.append(np.stack([t * st * np.sin(ct), t * st * np.cos(ct)], -1).ravel())
            vp.append(np.stack([p * sp * np.sin(cp), p * sp * np.cos(cp)], -1).ravel())
        r2 = []
        for true, guess in (
            (np.concatenate(at), np.concatenate(ap)),
            (np.concatenate(vt), np.concatenate(vp)),
        ):
            m = np.nansum(true) / (np.sum(np.isfinite(true)) + 1e-4)
            sse = np.nansum((guess - true) ** 2)
            r2.append(1 - sse / (np.nansum((true - m) ** 2) + 1e-4))
        out[city] = (float(r2[0]), float(r2[1]))
    return out


def run_cli(*argv: str) -> int:
    return main(["evaluate", *argv])


def test_scores_match_reference(dataset, tmp_path: Path, capsys) -> None:
    truth, pred, ids = dataset
    out_json = tmp_path / "scores.json"
    code = run_cli(
        "--pred", str(pred), "--truth", str(truth), "--json", str(out_json), "--workers", "1"
    )
    assert code == 0
    report = json.loads(out_json.read_text())
    ref = reference_scores(truth, pred, ids)
    for city, (agl_r2, vflow_r2) in ref.items():
        got = report["cities"][city]
        assert got["agl_r2"] == pytest.approx(agl_r2, abs=1e-6)
        assert got["vflow_r2"] == pytest.approx(vflow_r2, abs=1e-6)
        assert got["score"] == pytest.approx((agl_r2 + vflow_r2) / 2, abs=1e-6)
        assert got["images"] == 2
        assert got["pred_nodata"] > 0
        assert got["failed"] == []
        for key in ("angle_error_deg", "scale_error", "agl_rmse", "epe"):
            assert math.isfinite(got[key])
    assert report["score"] == pytest.approx(np.mean([(a + v) / 2 for a, v in ref.values()]))
    assert report["agl_r2"] == pytest.approx(np.mean([a for a, _ in ref.values()]))
    assert report["vflow_r2"] == pytest.approx(np.mean([v for _, v in ref.values()]))
    stdout = capsys.readouterr().out
    assert all(city in stdout for city in CITIES)
    assert f"final score {report['score']:.4f}" in stdout


def test_missing_prediction_fails_its_city(dataset, tmp_path: Path, capsys) -> None:
    truth, pred, ids = dataset
    missing = pred / "JAX_001_AGL.tif"
    missing.unlink()
    out_json = tmp_path / "scores.json"
    code = run_cli(
        "--pred", str(pred), "--truth", str(truth), "--json", str(out_json), "--workers", "1"
    )
    assert code == 1
    report = json.loads(out_json.read_text())
    jax = report["cities"]["JAX"]
    assert (jax["score"], jax["agl_r2"], jax["vflow_r2"]) == (0.0, 0.0, 0.0)
    assert str(missing) in jax["failed"][0]
    assert str(missing) in capsys.readouterr().err
    ref = reference_scores(truth, pred, [i for i in ids if not i.startswith("JAX")])
    expected = sum((a + v) / 2 for a, v in ref.values()) / 3  # JAX counts as 0
    assert report["score"] == pytest.approx(expected, abs=1e-6)


def test_nan_scale_fails_its_city(dataset, tmp_path: Path, capsys) -> None:
    truth, pred, _ = dataset
    bad = pred / "OMA_000_VFLOW.json"
    bad.write_text('{"scale": NaN, "angle": 1.0}\n')
    out_json = tmp_path / "scores.json"
    code = run_cli(
        "--pred", str(pred), "--truth", str(truth), "--json", str(out_json), "--workers", "1"
    )
    assert code == 1
    oma = json.loads(out_json.read_text())["cities"]["OMA"]
    assert oma["score"] == 0.0
    assert str(bad) in oma["failed"][0]
    assert str(bad) in capsys.readouterr().err


def test_workers_give_the_same_result(dataset, tmp_path: Path) -> None:
    truth, pred, _ = dataset
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert (
        run_cli("--pred", str(pred), "--truth", str(truth), "--json", str(one), "--workers", "1")
        == 0
    )
    assert (
        run_cli("--pred", str(pred), "--truth", str(truth), "--json", str(two), "--workers", "2")
        == 0
    )
    assert json.loads(one.read_text()) == json.loads(two.read_text())


def test_metadata_city_mismatch_is_reported(dataset, tmp_path: Path, capsys) -> None:
    truth, pred, ids = dataset
    meta = tmp_path / "metadata.csv"
    rows = [f"{i},{'OMA' if i == 'ARG_001' else i.split('_')[0]},0.3" for i in ids]
    meta.write_text("id,city,gsd\n" + "\n".join(rows) + "\n")
    code = run_cli(
        "--pred", str(pred), "--truth", str(truth), "--metadata", str(meta), "--workers", "1"
    )
    assert code == 1
    err = capsys.readouterr().err
    assert str(meta) in err
    assert "ARG_001" in err


def test_metadata_that_agrees_is_accepted(dataset, tmp_path: Path) -> None:
    truth, pred, ids = dataset
    meta = tmp_path / "metadata.csv"
    meta.write_text("id,city,gsd\n" + "".join(f"{i},{i.split('_')[0]},0.3\n" for i in ids))
    assert (
        run_cli(
            "--pred", str(pred), "--truth", str(truth), "--metadata", str(meta), "--workers", "1"
        )
        == 0
    )


def test_usage_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("--pred", str(empty), "--truth", str(tmp_path / "nope")) == 2
    assert run_cli("--pred", str(empty), "--truth", str(empty)) == 2
    assert run_cli("--pred", str(empty)) == 2


def test_bad_truth_file_cannot_finish(dataset, capsys) -> None:
    truth, pred, _ = dataset
    (truth / "ARG_000_AGL.tif").write_bytes(b"not a tiff")
    code = run_cli("--pred", str(pred), "--truth", str(truth), "--workers", "1")
    assert code == 3
    assert "ARG_000_AGL.tif" in capsys.readouterr().err
