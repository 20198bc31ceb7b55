"""Composition: ``Chain`` fuses geometric transforms into one warp; ``Compose`` runs
any transforms in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from geopose.transforms._sample import Sample
from geopose.transforms.base import GeometricTransform
from geopose.transforms.plan import WarpPlan, identity_plan
from geopose.transforms.rng import RngLike, as_generator
from geopose.transforms.warp import DEFAULT_FILL

Transform = Callable[[Sample], Sample]


class Chain(GeometricTransform):
    """Geometric transforms applied in order as a single warp (one interpolation, and
    only the source area the output needs is read). Labels follow every step."""

    def __init__(
        self, transforms: Sequence[GeometricTransform], fill: tuple[int, int, int] = DEFAULT_FILL
    ) -> None:
        for t in transforms:
            if not isinstance(t, GeometricTransform):
                raise TypeError(f"Chain takes geometric transforms only, got {t!r}")
        self.transforms = list(transforms)
        self.fill = fill

    def __repr__(self) -> str:
        return f"Chain({self.transforms!r})"

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        result = identity_plan(in_hw)
        for t in self.transforms:
            result = result.then(t.plan(result.out_hw))
        return result

    def reseed(self, rng: RngLike) -> None:
        """Give every random member the generator ``rng`` (e.g. in a data-loader worker)."""
        reseed_all(self.transforms, as_generator(rng))


class Compose:
    """Run transforms (any ``sample -> sample`` callables) one after another."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"

    def __call__(self, sample: Sample) -> Sample:
        sample = dict(sample)  # a new dict even when there is nothing to do
        for t in self.transforms:
            sample = t(sample)
        return sample

    def reseed(self, rng: RngLike) -> None:
        """Give every random member one new generator (seed or Generator).

        Call it once per data-loader worker with a distinct seed, else forked workers
        draw identical augmentations.
        """
        reseed_all(self.transforms, as_generator(rng))


def reseed_all(transforms: Sequence[object], rng: np.random.Generator) -> None:
    """Call ``reseed(rng)`` on every transform that has one."""
    for t in transforms:
        reseed = getattr(t, "reseed", None)
        if callable(reseed):
            reseed(rng)
