"""Broken labels and metadata through ``check``, ``train`` and ``evaluate``.

AGL rasters of the wrong type, size or content, VFLOW files that are not JSON, lack a
key or hold NaN/inf, and metadata with NaN, infinite, negative, zero or missing GSD:
``check`` names every one (exit 1); ``train`` refuses the layout with a one-line error
naming a file (exit 1); ``evaluate`` scores bad prediction files as the official scorer
does (the city gets 0), names them and exits 1.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from hardening.harness import (
    assert_clean_failure,
    copy_layout,
    error_lines,
    geopose,
    ids_of,
    leftovers,
    truncate,
)


def _write_tif(path: Path, bands: np.ndarray, nodata: float | None = None) -> None:
    count, height, width = bands.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="GTiff", width=width, height=height, count=count,
            dtype=bands.dtype, nodata=nodata,
        ) as ds:  # fmt: skip
            ds.write(bands)


def _add_train_copies(root: Path, names: list[str]) -> None:
    """New train ids ``names`` whose three files copy the first train id's."""
    first = ids_of(root, "train")[0]
    train = root / "train"
    gsd = next(
        line.split(",")[2]
        for line in (root / "metadata.csv").read_text().splitlines()
        if line.startswith(first + ",")
    )
    for image_id in names:
        for suffix in ("_RGB.j2k", "_AGL.tif", "_VFLOW.json"):
            shutil.copy(train / f"{first}{suffix}", train / f"{image_id}{suffix}")
        with open(root / "geopose_train.csv", "a", encoding="utf-8") as f:
            f.write(f"{image_id},{image_id}_AGL.tif,{image_id}_VFLOW.json,{image_id}_RGB.j2k\n")
        with open(root / "metadata.csv", "a", encoding="utf-8") as f:
            f.write(f"{image_id},{image_id.split('_')[0]},{gsd}\n")


#: Label cases: id → (what to do to its files, a fragment of the problem named).
AGL_CASES = {
    "JAX_aglfloat": "expected uint16 centimetres, found float32",
    "JAX_aglnan": "expected uint16 centimetres, found float32",
    "JAX_aglbands": "expected a single-band AGL raster, found 3 bands",
    "JAX_aglsize": "AGL is 32×64 px but its image",
    "JAX_aglempty": "AGL has no valid pixel",
    "JAX_aglzero": "JAX_aglzero_AGL.tif",
    "JAX_agltrunc": "JAX_agltrunc_AGL.tif",
}
VFLOW_CASES = {
    "OMA_notjson": ("{scale: 1", "not valid JSON"),
    "OMA_nokey": ('{"scale": 0.01}', "missing key(s) angle"),
    "OMA_nanscale": ('{"scale": NaN, "angle": 1.0}', "scale is NaN"),
    "OMA_infscale": ('{"scale": Infinity, "angle": 1.0}', "scale is not finite"),
    "OMA_nanangle": ('{"scale": 0.01, "angle": NaN}', "angle is not finite"),
    "OMA_infangle": ('{"scale": 0.01, "angle": -Infinity}', "angle is not finite"),
    "OMA_negscale": ('{"scale": -0.01, "angle": 1.0}', "scale is negative"),
    "OMA_textscale": ('{"scale": "abc", "angle": 1.0}', "must be numbers"),
    "OMA_list": ("[1, 2]", "expected a JSON object"),
    "OMA_zerobytes": ("", "not valid JSON"),
    "OMA_latin1": (b'{"scale": 0.01, "angle": 1.0, "n": "\xe9"}', "cannot read"),
}
GSD_CASES = {
    "JAX_gsdnan": ("nan", "has gsd nan"),
    "JAX_gsdinf": ("inf", "has gsd inf"),
    "JAX_gsdneg": ("-0.3", "has gsd -0.3"),
    "JAX_gsdzero": ("0", "has gsd 0.0"),
    "JAX_gsdtext": ("abc", "has gsd 'abc'"),
    "JAX_gsdempty": ("", "has no gsd"),
}


@pytest.fixture(scope="module")
def broken(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_layout(layout, tmp_path_factory.mktemp("labels") / "data")
    _add_train_copies(root, [*AGL_CASES, *VFLOW_CASES, *GSD_CASES])
    train = root / "train"
    rng = np.random.default_rng(1)
    heights = (rng.random((1, 64, 64)) * 20).astype(np.float32)
    _write_tif(train / "JAX_aglfloat_AGL.tif", heights)
    nan = heights.copy()
    nan[0, :8] = np.nan
    nan[0, 8:16] = np.inf
    _write_tif(train / "JAX_aglnan_AGL.tif", nan)
    cm = (heights * 100).astype(np.uint16)
    _write_tif(train / "JAX_aglbands_AGL.tif", np.concatenate([cm, cm, cm]))
    _write_tif(train / "JAX_aglsize_AGL.tif", cm[:, :32, :].copy(), nodata=65535)
    _write_tif(train / "JAX_aglempty_AGL.tif", np.full_like(cm, 65535), nodata=65535)
    (train / "JAX_aglzero_AGL.tif").write_bytes(b"")
    truncate(train / "JAX_agltrunc_AGL.tif", 0.5)
    for image_id, (content, _) in VFLOW_CASES.items():
        path = train / f"{image_id}_VFLOW.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    meta = root / "metadata.csv"
    lines = meta.read_text().splitlines()
    for i, line in enumerate(lines):
        image_id = line.split(",")[0]
        if image_id in GSD_CASES:
            lines[i] = f"{image_id},JAX,{GSD_CASES[image_id][0]}"
    meta.write_text("\n".join(lines) + "\n")
    return root


def test_check_names_every_bad_label_file(broken: Path) -> None:
    ran = geopose("check", broken, "--no-progress", "--workers", "1")
    fragments = [
        *AGL_CASES.values(),
        *(f for _, f in VFLOW_CASES.values()),
        *(f for _, f in GSD_CASES.values()),
    ]
    assert_clean_failure(ran, 1, *fragments)
    problems = [line.strip() for line in ran.out.splitlines() if line.startswith("  ")]
    for image_id in [*AGL_CASES, *VFLOW_CASES]:
        mine = [p for p in problems if p.split(":", 1)[0].endswith(f"/train/{image_id}_AGL.tif")
                or p.split(":", 1)[0].endswith(f"/train/{image_id}_VFLOW.json")]  # fmt: skip
        assert mine, f"{image_id} not named:\n{ran.out}"
    for image_id in GSD_CASES:
        assert any(p.startswith(str(broken / "metadata.csv")) and image_id in p for p in problems)


def test_train_refuses_a_broken_layout_in_one_line(broken: Path, tmp_path: Path) -> None:
    ran = geopose(
        "train", "--data", broken, "--out", tmp_path / "run", "--config", "tiny",
        "--no-progress", "train.max_steps=1", "train.workers=0",
    )  # fmt: skip
    assert_clean_failure(ran, 1)
    (line,) = error_lines(ran)
    assert str(broken) in line


def test_train_names_a_corrupt_label_that_only_decoding_finds(layout: Path, tmp_path: Path) -> None:
    root = copy_layout(layout, tmp_path / "data")
    victim = ids_of(root, "train")[1]
    agl = root / "train" / f"{victim}_AGL.tif"
    truncate(agl, 0.5)
    run = tmp_path / "run"
    ran = geopose(
        "train", "--data", root, "--out", run, "--config", "tiny", "--no-progress",
        "train.max_steps=1", "train.workers=0", "train.crop_size=32", "train.batch_size=2",
        "data.folds=2",
    )  # fmt: skip
    assert_clean_failure(ran, 1, str(agl))
    assert len(error_lines(ran)) == 1
    assert leftovers(tmp_path) == []


def test_evaluate_scores_bad_predictions_zero_and_names_them(
    layout: Path, tiny_ckpt: Path, tmp_path: Path
) -> None:
    pred = tmp_path / "pred"
    ok = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--data", layout, "--out", pred, "--tta", "none",
        "--no-progress",
    )  # fmt: skip
    assert ok.code == 0, ok.text
    jax = [i for i in ids_of(layout, "test") if i.startswith("JAX")]
    oma = [i for i in ids_of(layout, "test") if i.startswith("OMA")]
    (pred / f"{jax[0]}_VFLOW.json").write_text(json.dumps({"scale": 0.01}))  # no angle
    (pred / f"{oma[0]}_VFLOW.json").write_text('{"scale": NaN, "angle": 0.5}')
    truncate(pred / f"{oma[1]}_AGL.tif", 0.4)
    ran = geopose(
        "evaluate", "--pred", pred, "--truth", layout / "test_truth",
        "--metadata", layout / "metadata.csv", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert_clean_failure(
        ran, 1, f"{jax[0]}_VFLOW.json", f"{oma[0]}_VFLOW.json", f"{oma[1]}_AGL.tif"
    )
