"""Tiny real-format fixtures for the report's viz tests: truth, RGB and predictions.

Images are 40×48 px boxes-on-ground scenes written with geopose.io (uint16 cm AGL
GeoTIFF, VFLOW JSON in px/cm, RGB PNG), so the readers see the competition formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from geopose.io import write_agl, write_prediction, write_rgb, write_vflow
from geopose.io.layout import agl_name, rgb_name, vflow_name

H, W = 40, 48


@dataclass(frozen=True)
class Labels:
    """One image's true and predicted labels as written (metres, px/m, radians)."""

    agl_true: NDArray[np.float32]
    scale_true: float
    angle_true: float
    agl_pred: NDArray[np.float32]
    scale_pred: float
    angle_pred: float


def scene(seed: int) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """RGB and AGL (m, whole cm, a NaN corner) of boxes on flat ground."""
    rng = np.random.default_rng(seed)
    agl = np.zeros((H, W), np.float32)
    for _ in range(3):
        r, c = rng.integers(0, H - 10), rng.integers(0, W - 10)
        agl[r : r + 10, c : c + 10] = np.float32(rng.integers(200, 2500) / 100)
    agl[:3, :3] = np.nan
    image = rng.integers(60, 120, (H, W, 3), dtype=np.uint8)
    image[agl > 0] = (200, 180, 160)
    return image, agl


def write_case(truth_dir: Path, pred_dir: Path, rgb_dir: Path, image_id: str, seed: int) -> Labels:
    """Write one image's truth, RGB and a perturbed prediction; return the labels."""
    rng = np.random.default_rng(seed + 1000)
    image, agl = scene(seed)
    scale, angle = float(rng.uniform(0.5, 2.0)), float(rng.uniform(0, 2 * math.pi))
    write_agl(truth_dir / agl_name(image_id), agl)
    write_vflow(truth_dir / vflow_name(image_id), scale, angle)
    write_rgb(rgb_dir / rgb_name(image_id, ".png"), image)
    noisy = np.nan_to_num(agl) + rng.normal(0, 0.8, agl.shape)
    pred = np.round(np.clip(noisy, 0, None) * 100) / 100  # what a cm file holds
    scale_p, angle_p = scale * float(rng.uniform(0.8, 1.2)), angle + float(rng.normal(0, 0.2))
    write_prediction(pred_dir, image_id, pred, scale_p, angle_p)
    # read back what the files hold (the scale goes through px/cm, the angle is wrapped)
    from geopose.io import read_vflow

    s_true, a_true = read_vflow(truth_dir / vflow_name(image_id))
    s_pred, a_pred = read_vflow(pred_dir / vflow_name(image_id))
    return Labels(agl, s_true, a_true, pred.astype(np.float32), s_pred, a_pred)


@dataclass(frozen=True)
class Case:
    """Folders of a written case and the labels of each id."""

    truth: Path
    pred: Path
    labels: dict[str, Labels]


@pytest.fixture
def case(tmp_path: Path) -> Case:
    """Truth (with RGB beside it) and predictions for 5 ids over 2 cities."""
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    truth.mkdir()
    pred.mkdir()
    ids = ["AAA_0", "AAA_1", "AAA_2", "BBB_0", "BBB_1"]
    labels = {i: write_case(truth, pred, truth, i, k) for k, i in enumerate(ids)}
    return Case(truth, pred, labels)


def official_r2(pred: NDArray[np.float64], true: NDArray[np.float64]) -> float:
    """The official scorer's R² in plain numpy (nansum semantics, 1e-4 guards)."""
    m = np.nansum(true) / (np.sum(np.isfinite(true)) + 1e-4)
    sse = np.nansum((pred - true) ** 2)
    sst = np.nansum((true - m) ** 2)
    return float(1 - sse / (sst + 1e-4))


def reference_scores(labels: dict[str, Labels]) -> dict[str, float]:
    """Per-city official score, independent of geopose.metrics: {city: score}."""
    out = {}
    for city in sorted({i.split("_")[0] for i in labels}):
        agl_p, agl_t, flow_p, flow_t = [], [], [], []
        for i, lab in labels.items():
            if not i.startswith(city + "_"):
                continue
            ok = np.isfinite(lab.agl_true)
            t, p = lab.agl_true[ok].astype(np.float64), lab.agl_pred[ok].astype(np.float64)
            agl_t.append(t)
            agl_p.append(p)
            for vals, s, a, dst in (
                (t, lab.scale_true, lab.angle_true, flow_t),
                (p, lab.scale_pred, lab.angle_pred, flow_p),
            ):
                dst.append(np.concatenate([vals * s * math.sin(a), vals * s * math.cos(a)]))
        r2_agl = official_r2(np.concatenate(agl_p), np.concatenate(agl_t))
        # the flow pools both components of all images: interleave per image identically
        r2_flow = official_r2(np.concatenate(flow_p), np.concatenate(flow_t))
        out[city] = (r2_agl + r2_flow) / 2
    return out
