"""Datasets over a competition layout: random training crops and full validation tiles.

Both read decoded rasters from a :class:`~geopose.data.cache.RasterCache` (each tile is
decoded once, then memory-mapped). A training item hands the memory-mapped tile to the
augmentation: its geometric steps are fused into one warp whose plan knows which
source window the crop needs (rotation and zoom margin included), so only that window
is read from disk — a 768² crop out of a 2048² tile touches about a seventh of it.

Augmentation draws are a function of ``(seed, epoch, index)`` only: each item reseeds
the augmentation from that triple. Data-loader workers therefore never draw identical
augmentations, the draws do not depend on the number of workers, and a resumed run
sees exactly the crops the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from tqdm import tqdm

from geopose.conventions import wrap_angle
from geopose.data.cache import RasterCache
from geopose.errors import DataError
from geopose.io.layout import Entry
from geopose.io.vflow import read_vflow
from geopose.transforms import Compose, build_augmentation


def build_cache(entries: Sequence[Entry], cache: RasterCache, *, progress: bool = True) -> int:
    """Decode every entry's RGB and AGL into ``cache`` (stale or corrupt ones again).

    Shows a progress bar on stderr; returns how many rasters were (re)built.
    """
    before = cache.rebuilt
    for entry in tqdm(
        entries, desc="decoding tiles into the cache", unit="tile", disable=not progress
    ):
        cache.rgb(entry.rgb)
        if entry.agl is not None:
            cache.agl(entry.agl)
    return cache.rebuilt - before


def _labels(entry: Entry) -> tuple[float, float]:
    if entry.vflow is None or entry.agl is None:
        raise DataError(entry.rgb, "training and validation need labels (AGL and VFLOW)")
    scale, angle = read_vflow(entry.vflow)
    return float(scale), float(wrap_angle(angle))


class _LayoutDataset(Dataset[dict[str, Any]]):
    """Shared part: labelled entries, their VFLOW labels, the cache."""

    def __init__(self, entries: Sequence[Entry], cache_dir: str | Path) -> None:
        self.entries = list(entries)
        self.cache_dir = Path(cache_dir)
        self.labels = [_labels(e) for e in self.entries]
        self._cache: RasterCache | None = None

    @property
    def cache(self) -> RasterCache:
        if self._cache is None:  # created lazily, so each worker process opens its own
            self._cache = RasterCache(self.cache_dir)
        return self._cache

    def __len__(self) -> int:
        return len(self.entries)

    def tile(self, index: int) -> dict[str, Any]:
        """The whole tile as a Sample whose arrays are read-only memory maps."""
        entry = self.entries[index]
        scale, angle = self.labels[index]
        image = self.cache.rgb(entry.rgb)
        agl = self.cache.agl(entry.agl)  # type: ignore[arg-type]  # checked in _labels
        if agl.shape != image.shape[:2]:
            raise DataError(
                entry.agl or entry.rgb,
                f"AGL is {agl.shape} px but the image is {image.shape[:2]} px",
            )
        return {
            "image": image,
            "agl": agl,
            "gsd": float(entry.gsd),
            "scale": scale,
            "angle": angle,
            "city": entry.city,
            "id": entry.id,
        }


class TrainDataset(_LayoutDataset):
    """Random ``crop_size`` training crops with augmentation ``level``.

    Call :meth:`set_epoch` before each epoch's data loader is iterated.
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        cache_dir: str | Path,
        *,
        level: str,
        crop_size: int,
        seed: int = 0,
    ) -> None:
        super().__init__(entries, cache_dir)
        self.level, self.crop_size, self.seed = level, int(crop_size), int(seed)
        self.epoch = 0
        self._augment: Compose | None = None

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def augmentation(self) -> Compose:
        if self._augment is None:
            self._augment = build_augmentation(self.level, self.crop_size, rng=self.seed)
        return self._augment

    def __getitem__(self, index: int) -> dict[str, Any]:
        augment = self.augmentation()
        augment.reseed(np.random.default_rng([self.seed, self.epoch, int(index)]))
        out = augment(self.tile(index))
        out["image"] = np.ascontiguousarray(out["image"])
        out["agl"] = np.asarray(out["agl"], dtype=np.float32)
        return out


class ValDataset(_LayoutDataset):
    """Whole validation tiles, unaugmented, read from the cache."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.tile(index)
        sample["image"] = np.array(sample["image"])
        sample["agl"] = np.array(sample["agl"], dtype=np.float32)
        return sample
