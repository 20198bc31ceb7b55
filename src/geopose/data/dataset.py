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

:class:`SynthStreamDataset` is the other training source: a fresh synthetic tile for
every item of every epoch (rendered on the fly, the tile's seed a function of the same
triple), so a long run never sees a tile twice and resumes to the same tiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from tqdm import tqdm

from geopose.data.cache import RasterCache
from geopose.data.synth import generate_sample, load_presets
from geopose.data.synth.presets import CityPreset
from geopose.errors import UsageError
from geopose.io.layout import Entry
from geopose.io.sample import make_sample, read_labels
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


class _LayoutDataset(Dataset[dict[str, Any]]):
    """Shared part: labelled entries, their VFLOW labels, the cache."""

    def __init__(self, entries: Sequence[Entry], cache_dir: str | Path) -> None:
        self.entries = list(entries)
        self.cache_dir = Path(cache_dir)
        self.labels = [read_labels(e) for e in self.entries]
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
        image = self.cache.rgb(entry.rgb)
        agl = self.cache.agl(entry.agl)  # type: ignore[arg-type]  # read_labels checked it
        return make_sample(entry, image, agl, self.labels[index])


class _RandomCrops:
    """Augmented ``crop_size`` crops whose draws depend on ``(seed, epoch, index)`` only."""

    def __init__(self, level: str, crop_size: int, seed: int) -> None:
        self.level, self.crop_size, self.seed = level, int(crop_size), int(seed)
        self.epoch = 0
        self._augment: Compose | None = None

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations (and fresh tiles) of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def augmentation(self) -> Compose:
        if self._augment is None:
            self._augment = build_augmentation(self.level, self.crop_size, rng=self.seed)
        return self._augment

    def crop(self, tile: dict[str, Any], index: int) -> dict[str, Any]:
        """The augmented crop of item ``index`` of the current epoch from ``tile``."""
        augment = self.augmentation()
        augment.reseed(np.random.default_rng([self.seed, self.epoch, int(index)]))
        out = augment(tile)
        out["image"] = np.ascontiguousarray(out["image"])
        out["agl"] = np.asarray(out["agl"], dtype=np.float32)
        return out


class TrainDataset(_LayoutDataset, _RandomCrops):
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
        _LayoutDataset.__init__(self, entries, cache_dir)
        _RandomCrops.__init__(self, level, crop_size, seed)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.crop(self.tile(index), index)


#: Mixed into every streamed tile's seed so that the stream's tiles are drawn from a
#: sequence of their own, apart from the seeds ``write_dataset`` derives for its tiles.
_STREAM_KEY = 0x57EA


def stream_tile_seed(seed: int, epoch: int, index: int) -> int:
    """The renderer seed (63 bits) of item ``index`` in ``epoch`` of a stream seeded ``seed``."""
    state = np.random.SeedSequence([_STREAM_KEY, seed, epoch, index]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


class SynthStreamDataset(Dataset[dict[str, Any]], _RandomCrops):
    """Training crops of fresh synthetic tiles: item ``index`` of every epoch is a new
    ``size`` px tile of ``cities[index]`` (GSD, view and scene drawn by the renderer from
    the city's preset), then augmented and cropped like :class:`TrainDataset`'s.

    ``cities`` fixes the epoch's length and city mix (the trainer passes the cities of
    the training fold's tiles, so epochs and validation keep their cadence).
    """

    def __init__(
        self,
        cities: Sequence[str],
        *,
        size: int,
        level: str,
        crop_size: int,
        seed: int = 0,
        presets: dict[str, CityPreset] | None = None,
    ) -> None:
        _RandomCrops.__init__(self, level, crop_size, seed)
        self.presets = presets or load_presets()
        unknown = sorted(set(cities) - set(self.presets))
        if unknown:
            raise UsageError(
                f"data.stream renders tiles of the training cities, but {', '.join(unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} not a synthetic city preset "
                f"({', '.join(sorted(self.presets))})"
            )
        if size < crop_size:
            raise UsageError(f"data.stream_size {size} px is smaller than the {crop_size} px crop")
        self.cities, self.size = list(cities), int(size)

    def __len__(self) -> int:
        return len(self.cities)

    def tile(self, index: int) -> dict[str, Any]:
        """Item ``index``'s fresh tile of the current epoch (a synthetic Sample)."""
        seed = stream_tile_seed(self.seed, self.epoch, index)
        city = self.cities[index]
        return generate_sample(
            city, seed, self.size, presets=self.presets, image_id=f"stream-{city}-{seed:x}"
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.crop(self.tile(index), index)


class ValDataset(_LayoutDataset):
    """Whole validation tiles, unaugmented, read from the cache."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.tile(index)
        sample["image"] = np.array(sample["image"])
        sample["agl"] = np.array(sample["agl"], dtype=np.float32)
        return sample
