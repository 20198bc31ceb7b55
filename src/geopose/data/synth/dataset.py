"""Write a complete synthetic dataset in the competition layout (DESIGN.md §3).

Tiles are cut from districts: ``tiles_per_district`` consecutive tiles of a city and
split share one district (their ``group`` in ``metadata.csv``) and overlap, as the real
data's tiles do. Train and test use different districts. Every tile's random streams
derive from ``(seed, city, split, index)``, so the output is byte-identical for a seed
whatever the number of worker processes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from geopose.data.synth.flaws import LabelFlaws
from geopose.data.synth.presets import CityPreset, load_presets
from geopose.data.synth.preview import preview, write_png
from geopose.data.synth.sample import generate_sample_with_truth
from geopose.data.synth.truth import SynthTruth
from geopose.data.synth.truth_files import truth_geo, write_truth
from geopose.io.layout import (
    TEST_DIR,
    TRAIN_DIR,
    TRUTH_DIR,
    ImageMeta,
    agl_name,
    rgb_name,
    vflow_name,
    write_index,
)
from geopose.io.raster import write_agl, write_rgb
from geopose.io.vflow import write_vflow

SPLITS = {"train": 0, "test": 1}
#: District side as a multiple of the largest tile extent of a city: 3 tiles overlap.
DISTRICT_FACTOR = 1.5


@dataclass(frozen=True)
class TileTask:
    """Everything a worker needs to make and write one tile."""

    out_dir: str
    city: str
    split: str
    index: int
    seed: int
    size: int
    tiles_per_district: int
    flaws: LabelFlaws | None
    presets: dict[str, CityPreset]
    export_truth: bool = False

    @property
    def image_id(self) -> str:
        return f"{self.city}_{self.split}{self.index:04d}"

    @property
    def rgb_ext(self) -> str:
        """RGB file suffix: GeoTIFF when georeferenced (a .j2k codestream holds no CRS)."""
        return ".tif" if self.export_truth else ".j2k"

    @property
    def district(self) -> int:
        return self.index // self.tiles_per_district

    @property
    def group(self) -> str:
        return f"{self.city}_{self.split}_d{self.district:03d}"


@dataclass(frozen=True)
class TileResult:
    """What the main process needs back: the metadata row and a label statistic."""

    meta: ImageMeta
    split: str
    mean_agl: float  # m over valid pixels


@dataclass
class SynthSummary:
    """Outcome of :func:`write_dataset`."""

    out_dir: Path
    train_ids: list[str] = field(default_factory=list)
    test_ids: list[str] = field(default_factory=list)
    mean_agl: dict[str, float] = field(default_factory=dict)  # m per city (train+test)
    seconds: float = 0.0
    previews: list[Path] = field(default_factory=list)


def _derive(seed: int, *key: int) -> int:
    """A 32-bit seed for a sub-stream of ``seed`` (tile or district)."""
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1)[0])


def tile_sample(task: TileTask) -> dict[str, Any]:
    """The sample of one task (deterministic; also used to redraw previews)."""
    return tile_sample_with_truth(task)[0]


def tile_sample_with_truth(task: TileTask) -> tuple[dict[str, Any], SynthTruth]:
    """The sample of one task and the truth it was made from."""
    preset = task.presets[task.city]
    split = SPLITS[task.split]
    return generate_sample_with_truth(
        task.city,
        _derive(task.seed, split, task.index),
        task.size,
        district_seed=_derive(task.seed, split, 1_000_000 + task.district),
        district_extent=task.size * preset.gsd[1] * DISTRICT_FACTOR,
        flaws=task.flaws,
        presets=task.presets,
        image_id=task.image_id,
    )


def make_tile(task: TileTask) -> TileResult:
    """Generate one tile and write its files into the layout."""
    sample, truth = tile_sample_with_truth(task)
    root = Path(task.out_dir)
    iid = task.image_id
    agl = sample["agl"]
    scale, angle = float(sample["scale"]), float(sample["angle"])
    geo = truth_geo(truth, truth.tile_origin) if task.export_truth else None
    if task.export_truth:
        write_truth(root, iid, truth)
    if task.split == "train":
        write_rgb(root / TRAIN_DIR / rgb_name(iid, task.rgb_ext), sample["image"], geo=geo)
        write_agl(root / TRAIN_DIR / agl_name(iid), agl, geo=geo)
        write_vflow(root / TRAIN_DIR / vflow_name(iid), scale, angle)
    else:
        write_rgb(root / TEST_DIR / rgb_name(iid, task.rgb_ext), sample["image"], geo=geo)
        write_agl(root / TRUTH_DIR / agl_name(iid), agl, geo=geo)
        write_vflow(root / TRUTH_DIR / vflow_name(iid), scale, angle)
    meta = ImageMeta(iid, task.city, float(sample["gsd"]), task.group)
    return TileResult(meta, task.split, float(np.nanmean(agl)))


def _tasks(
    out_dir: Path,
    cities: Sequence[str],
    counts: dict[str, int],
    size: int,
    seed: int,
    tiles_per_district: int,
    flaws: dict[str, LabelFlaws | None],
    presets: dict[str, CityPreset],
    export_truth: bool = False,
) -> list[TileTask]:
    return [
        TileTask(
            str(out_dir),
            city,
            split,
            i,
            seed,
            size,
            tiles_per_district,
            flaws[split],
            presets,
            export_truth,
        )
        for city in cities
        for split in ("train", "test")
        for i in range(counts[split])
    ]


def _run(tasks: list[TileTask], workers: int) -> Iterator[TileResult]:
    if workers <= 1:
        yield from map(make_tile, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(make_tile, tasks, chunksize=1)


def write_dataset(
    out_dir: str | Path,
    cities: Sequence[str] = ("ARG", "ATL", "JAX", "OMA"),
    train_per_city: int = 8,
    test_per_city: int = 2,
    size: int = 512,
    seed: int = 0,
    workers: int = 1,
    preview: bool = False,
    *,
    tiles_per_district: int = 3,
    train_flaws: LabelFlaws | None = None,
    test_flaws: LabelFlaws | None = None,
    presets: dict[str, CityPreset] | None = None,
    progress: bool = True,
    export_truth: bool = False,
) -> SynthSummary:
    """Write train/, test/, test_truth/ and the three CSVs of a synthetic dataset.

    Args:
        out_dir: dataset root (created).
        cities: preset names.
        train_per_city / test_per_city: tiles per city and split.
        size: tile side in pixels.
        seed: master seed; the output is byte-identical for it whatever ``workers`` is.
        workers: processes (1: in this process).
        preview: also write ``preview/{CITY}.png`` (RGB | AGL | flow arrows).
        tiles_per_district: consecutive tiles sharing (and overlapping on) one district.
        train_flaws / test_flaws: label flaws (see :class:`LabelFlaws`); None = clean.
        presets: city presets (default: :func:`load_presets`).
        progress: show a progress bar on stderr.
        export_truth: georeference every tile (EPSG:32617, see
            :mod:`geopose.data.synth.truth`; RGB as GeoTIFF ``{id}_RGB.tif``) and write
            ``truth/{id}_NDSM.tif``,
            ``{id}_VIEW.json`` and ``{id}_BUILDINGS.geojson``
            (:mod:`geopose.data.synth.truth_files`).
    """
    table = load_presets() if presets is None else presets
    unknown = [c for c in cities if c not in table]
    if unknown:
        raise ValueError(f"unknown cities {unknown}; known: {', '.join(sorted(table))}")
    if train_per_city < 0 or test_per_city < 0 or size < 8 or tiles_per_district < 1:
        raise ValueError("tile counts must be ≥ 0, size ≥ 8 px and tiles_per_district ≥ 1")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for sub in (TRAIN_DIR, TEST_DIR, TRUTH_DIR):
        (root / sub).mkdir(exist_ok=True)
    used = {c: table[c] for c in cities}
    counts = {"train": train_per_city, "test": test_per_city}
    tasks = _tasks(root, cities, counts, size, seed, tiles_per_district,
                   {"train": train_flaws, "test": test_flaws}, used, export_truth)  # fmt: skip
    start = time.perf_counter()
    summary = SynthSummary(out_dir=root)
    metadata: dict[str, ImageMeta] = {}
    sums: dict[str, list[float]] = {c: [] for c in cities}
    bar = tqdm(total=len(tasks), desc="synth", unit="tile", file=sys.stderr, disable=not progress)
    for result in _run(tasks, workers):
        metadata[result.meta.id] = result.meta
        (summary.train_ids if result.split == "train" else summary.test_ids).append(result.meta.id)
        sums[result.meta.city].append(result.mean_agl)
        bar.update(1)
    bar.close()
    rgb_ext = ".tif" if export_truth else ".j2k"
    write_index(root, summary.train_ids, summary.test_ids, metadata, rgb_ext=rgb_ext)
    summary.mean_agl = {c: float(np.mean(v)) for c, v in sums.items() if v}
    if preview:
        summary.previews = _previews(root, tasks)
    summary.seconds = time.perf_counter() - start
    return summary


def _previews(root: Path, tasks: list[TileTask]) -> list[Path]:
    """One preview per city, of its first train tile (else its first test tile)."""
    out = []
    seen: set[str] = set()
    for task in sorted(tasks, key=lambda t: (t.city, t.split != "train", t.index)):
        if task.city in seen:
            continue
        seen.add(task.city)
        path = root / "preview" / f"{task.city}.png"
        write_png(path, preview(tile_sample(task)))
        out.append(path)
    return out
