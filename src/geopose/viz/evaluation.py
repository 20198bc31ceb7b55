"""One streaming pass over predictions and truth: everything the report shows about them.

Per image it reads the prediction (``{id}_AGL.tif`` uint16 cm + ``{id}_VFLOW.json``
px/cm) and the truth, feeds the official metric (:class:`geopose.metrics.GeoposeMetric`)
and the height-bin errors, keeps the image-level labels for the scatter plots and, for
the chosen tiles, renders the tile panel right away (so at most one full tile is in
memory at a time).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from geopose.errors import DataError
from geopose.io.layout import vflow_name
from geopose.io.raster import read_agl, read_rgb
from geopose.io.submission import read_prediction
from geopose.io.vflow import read_vflow
from geopose.metrics import GeoposeMetric, MetricResult
from geopose.rectification import rectify
from geopose.viz.figure import figure_png
from geopose.viz.height_bins import HeightBinErrors
from geopose.viz.scatter import LabelPair
from geopose.viz.sources import TruthItem
from geopose.viz.tiles import TileData, tile_figure


@dataclass
class Evaluation:
    """Result of :func:`evaluate_predictions`.

    ``tiles`` holds (id, PNG bytes) of the rendered tile panels; ``problems`` one line
    per prediction that could not be scored (its city scores 0).
    """

    result: MetricResult
    pairs: list[LabelPair]
    height_bins: HeightBinErrors
    tiles: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _read_prediction(
    pred_dir: Path, item: TruthItem, shape: tuple[int, ...]
) -> tuple[NDArray[np.float32], float, float]:
    """(AGL m, scale px/m, angle rad) of one prediction; DataError names a bad file."""
    pred = read_prediction(pred_dir, item.id, shape=shape)
    return pred.agl, pred.scale, pred.angle


def _rgb(item: TruthItem, shape: tuple[int, ...]) -> NDArray[np.uint8] | None:
    if item.rgb is None:
        return None
    image = read_rgb(item.rgb)
    return image if image.shape[:2] == shape else None


def tile_png(
    item: TruthItem,
    agl_true: NDArray[np.float32],
    truth_labels: tuple[float, float],
    agl_pred: NDArray[np.float32],
    pred_labels: tuple[float, float],
) -> bytes:
    """Render one tile's panel, rectifying its RGB with the predicted flow when it can."""
    image = _rgb(item, agl_true.shape)
    scale_p, angle_p = pred_labels
    rectified = None
    if image is not None and math.isfinite(angle_p) and math.isfinite(scale_p) and scale_p >= 0:
        rectified = np.asarray(rectify(image, agl_pred, scale_p, angle_p).image, dtype=np.uint8)
    tile = TileData(
        item.id,
        item.city,
        image,
        agl_true,
        agl_pred,
        truth_labels[0],
        truth_labels[1],
        scale_p,
        angle_p,
        rectified,
    )
    return figure_png(tile_figure(tile))


def evaluate_predictions(
    pred_dir: Path,
    truth: Mapping[str, TruthItem],
    *,
    tile_ids: Collection[str] = (),
    progress: bool = True,
) -> Evaluation:
    """Score ``pred_dir`` against ``truth`` and gather the report's figures' data."""
    metric = GeoposeMetric()
    bins = HeightBinErrors()
    out = Evaluation(metric.compute(), [], bins)
    bar = tqdm(truth.values(), desc="report", unit="image", file=sys.stderr, disable=not progress)
    for item in bar:
        agl_true = read_agl(item.agl)
        scale_t, angle_t = read_vflow(item.vflow)
        try:
            agl_pred, scale_p, angle_p = _read_prediction(pred_dir, item, agl_true.shape)
        except DataError as err:
            metric.mark_failed(item.city, str(err))
            out.problems.append(str(err))
            continue
        name = str(pred_dir / vflow_name(item.id))
        metric.update(item.city, agl_pred, scale_p, angle_p, agl_true, scale_t, angle_t, name=name)
        if not (math.isfinite(scale_p) and math.isfinite(angle_p)):
            out.problems.append(f"{name}: predicted scale/angle is not finite")
            continue
        bins.update(agl_pred, agl_true)
        out.pairs.append(LabelPair(item.id, item.city, angle_t, angle_p, scale_t, scale_p))
        if item.id in tile_ids:
            png = tile_png(item, agl_true, (scale_t, angle_t), agl_pred, (scale_p, angle_p))
            out.tiles.append((item.id, png))
    out.result = metric.compute()
    return out
