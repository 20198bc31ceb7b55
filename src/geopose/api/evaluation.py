"""The official metric over files, in the public API."""

from __future__ import annotations

from pathlib import Path

from geopose.errors import DataError
from geopose.metrics import MetricResult
from geopose.scoring import evaluate_files, find_tasks


def score(
    pred_dir: str | Path,
    truth_dir: str | Path,
    *,
    metadata: str | Path | None = None,
    workers: int = 1,
    progress: bool = False,
) -> MetricResult:
    """Score predictions with the competition's official metric, per city.

    For every ``{id}_VFLOW.json`` + ``{id}_AGL.tif`` in ``truth_dir`` the files of the
    same names are read from ``pred_dir`` (AGL uint16 cm, VFLOW scale px/cm and angle
    rad, as :meth:`PoseResult.save` and ``geopose predict`` write them). Per city
    (the id's ``CITY_`` prefix): AGL R², VFLOW R² and their mean; the final score is
    the mean over the cities. A missing or invalid prediction makes its city score 0
    and is listed in ``result.failed``, as ``geopose evaluate`` reports it.

    Args:
        pred_dir: folder of the predictions.
        truth_dir: folder of the true files (a layout's ``test_truth/``).
        metadata: a ``metadata.csv`` to check each id's city against.
        workers: reading processes (1: in this process).
        progress: a progress bar on stderr.

    Returns:
        ``score``, ``agl_r2``, ``vflow_r2`` and ``cities`` (per city: R²s, angle error
        in degrees, scale error px/m, AGL RMSE m, end-point error px); ``as_dict()``
        for JSON.

    Raises:
        DataError: a truth file is missing or unreadable (nothing can be scored).

    Example:
        >>> result = geopose.score("predictions", "data/test_truth")  # doctest: +SKIP
        >>> result.score, {c: r.score for c, r in result.cities.items()}  # doctest: +SKIP
        (0.41, {'JAX': 0.44, 'OMA': 0.38})
    """
    truth = Path(truth_dir)
    tasks = find_tasks(Path(pred_dir), truth, Path(metadata) if metadata is not None else None)
    metric, problems = evaluate_files(tasks, max(1, workers), progress=progress)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(truth, f"cannot score: {problems[0]}{more}")
    return metric.compute()
