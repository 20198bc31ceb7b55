"""Uniform random element of D4 (8 quarter-turn/transpose combinations), exact."""

from __future__ import annotations

from geopose.transforms.d4 import Dihedral
from geopose.transforms.random_base import RandomGeometric
from geopose.transforms.rng import RngLike


class RandomD4(RandomGeometric):
    """Each of the 8 symmetries of the square with probability 1/8 (transpose with
    probability 1/2, then 0–3 counter-clockwise quarter turns); labels follow exactly."""

    def __init__(self, rng: RngLike = None) -> None:
        super().__init__(rng)

    def __repr__(self) -> str:
        return "RandomD4()"

    def draw(self, in_hw: tuple[int, int]) -> Dihedral:
        k = int(self.rng.integers(4))
        transpose = bool(self.rng.integers(2))
        return Dihedral(k, transpose)
