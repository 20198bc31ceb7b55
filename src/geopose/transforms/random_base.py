"""Base of the random geometric transforms: draw a deterministic transform, apply it."""

from __future__ import annotations

from abc import abstractmethod

from geopose.transforms._sample import Sample, image_hw
from geopose.transforms.base import GeometricTransform
from geopose.transforms.plan import WarpPlan
from geopose.transforms.rng import RngLike, as_generator


class RandomGeometric(GeometricTransform):
    """A geometric transform whose parameters are drawn from ``self.rng`` on every call.

    :meth:`draw` returns the deterministic transform of one draw, so a draw can be
    inspected and tested; calling the random transform draws and applies it.
    """

    def __init__(self, rng: RngLike = None) -> None:
        self.rng = as_generator(rng)

    @abstractmethod
    def draw(self, in_hw: tuple[int, int]) -> GeometricTransform:
        """Draw parameters for an image of ``in_hw`` = (height, width) pixels."""

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        return self.draw(in_hw).plan(in_hw)

    def __call__(self, sample: Sample) -> Sample:
        return self.draw(image_hw(sample))(sample)

    def reseed(self, rng: RngLike) -> None:
        """Draw from ``rng`` (a seed or a Generator) from now on."""
        self.rng = as_generator(rng)
