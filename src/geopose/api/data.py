"""Data in the public API: read one tile of a competition layout; write synthetic cities."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geopose.data.synth import LabelFlaws, SynthSummary, write_dataset
from geopose.errors import UsageError
from geopose.io.catalog import open_layout
from geopose.io.layout import SPLITS, TEST, TEST_TRUTH, TRAIN
from geopose.io.sample import load_sample


def read_tile(
    data: str | Path, image_id: str, split: str | None = None, *, labels: bool = True
) -> dict[str, Any]:
    """Read one image of a competition layout as a sample dict.

    Args:
        data: the layout folder (``train/``, ``test/``, the CSVs, ``metadata.csv``).
        image_id: e.g. ``"JAX_0001"``.
        split: ``train``, ``test`` or ``test_truth`` (the test image with its labels);
            ``None``: the first that has the id, in that order with ``test_truth``
            before ``test``.
        labels: also read the labels when the split has them.

    Returns:
        ``image`` (H×W×3 uint8 RGB), ``gsd`` (m/px), ``city``, ``id`` and, with labels,
        ``agl`` (H×W float32 m, NaN = no data), ``scale`` (px/m) and ``angle`` (rad).

    Example:
        >>> tile = geopose.read_tile("data", "JAX_0001")  # doctest: +SKIP
        >>> tile["image"].shape, tile["gsd"], tile["scale"]  # doctest: +SKIP
        ((512, 512, 3), 0.35, 0.62)
    """
    if split is not None and split not in SPLITS:
        raise UsageError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    layout = open_layout(data)
    for name in [split] if split is not None else [TRAIN, TEST_TRUTH, TEST]:
        for entry in layout.entries(name):
            if entry.id == image_id:
                return load_sample(entry, labels=labels)
    where = f"split {split!r}" if split is not None else "any split"
    raise UsageError(f"{Path(data)}: image id {image_id!r} is not in {where}")


def synth(
    out: str | Path,
    *,
    cities: Sequence[str] = ("ARG", "ATL", "JAX", "OMA"),
    train_per_city: int = 8,
    test_per_city: int = 2,
    size: int = 512,
    seed: int = 0,
    flaws: bool = False,
    workers: int = 1,
    preview: bool = False,
    progress: bool = False,
) -> SynthSummary:
    """Write a synthetic dataset of oblique cities with exact labels (``geopose synth``).

    The folder gets the competition layout: ``train/`` (RGB j2k, AGL tif, VFLOW json),
    ``test/``, ``test_truth/``, ``geopose_train.csv``, ``geopose_test.csv`` and
    ``metadata.csv``. The files are byte-identical for a ``seed`` whatever ``workers``.

    Args:
        out: dataset folder (created).
        cities: city presets (``ARG``, ``ATL``, ``JAX``, ``OMA``).
        train_per_city: training tiles per city.
        test_per_city: test tiles per city.
        size: tile side in pixels (the real tiles are 2048).
        seed: master seed.
        flaws: add the real data's label flaws to the training AGL (no-data patches,
            speckle, buildings in the AGL but not in the RGB).
        workers: processes.
        preview: also write ``preview/{CITY}.png`` (RGB | AGL | flow arrows).
        progress: a progress bar on stderr.

    Returns:
        The ids written, the mean AGL per city (m) and the time taken (s).

    Example:
        >>> summary = geopose.synth("data", cities=["JAX"], train_per_city=2,
        ...                         test_per_city=1, size=64)  # doctest: +SKIP
        >>> summary.train_ids  # doctest: +SKIP
        ['JAX_0000', 'JAX_0001']
    """
    return write_dataset(
        out,
        list(cities),
        train_per_city,
        test_per_city,
        size,
        seed,
        workers,
        preview,
        train_flaws=LabelFlaws.typical() if flaws else None,
        progress=progress,
    )
