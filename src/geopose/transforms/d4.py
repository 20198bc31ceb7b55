"""The dihedral group D4 of the square: quarter turns, transpose and flips.

These move pixels exactly (numpy index operations, no interpolation) and update the
flow angle with :mod:`geopose.conventions`; gsd, scale and AGL values do not change.
Their plans (integer matrices) let them join a one-warp :class:`Chain` too.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import (
    angle_after_hflip,
    angle_after_rot90,
    angle_after_transpose,
    angle_after_vflip,
)
from geopose.transforms._sample import PIXEL_KEYS, Sample, check_pixel_shapes
from geopose.transforms.base import GeometricTransform
from geopose.transforms.plan import AngleUpdate, WarpPlan


class _ExactD4(GeometricTransform):
    """A D4 element applied with numpy; subclasses give the pixel move and the plan."""

    def _move(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        raise NotImplementedError

    def _angle(self) -> AngleUpdate:
        raise NotImplementedError

    def __call__(self, sample: Sample) -> Sample:
        check_pixel_shapes(sample)
        out = dict(sample)
        for key in PIXEL_KEYS:
            if key in sample:
                out[key] = np.ascontiguousarray(self._move(np.asarray(sample[key])))
        if "angle" in sample:
            out["angle"] = self._angle()(float(sample["angle"]))
        return out


class Rot90(_ExactD4):
    """Turn the image ``k`` quarter turns counter-clockwise, as ``np.rot90(image, k)``;
    the flow angle turns with it: θ' = θ + k·π/2."""

    def __init__(self, k: int = 1) -> None:
        self.k = int(k) % 4

    def __repr__(self) -> str:
        return f"Rot90(k={self.k})"

    def _move(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.rot90(array, self.k)

    def _angle(self) -> AngleUpdate:
        return partial(angle_after_rot90, k=self.k)

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        h, w = in_hw
        m = np.eye(3)
        for _ in range(self.k):  # one counter-clockwise quarter turn: (x, y) -> (y, W-1-x)
            m = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]) @ m
            h, w = w, h
        return WarpPlan(m, in_hw, (h, w), angle_updates=(self._angle(),))


class Transpose(_ExactD4):
    """Swap rows and columns (``image.transpose(1, 0, 2)``); flow (dx, dy) → (dy, dx)."""

    def __repr__(self) -> str:
        return "Transpose()"

    def _move(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.swapaxes(array, 0, 1)

    def _angle(self) -> AngleUpdate:
        return angle_after_transpose

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        m = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        return WarpPlan(m, in_hw, (in_hw[1], in_hw[0]), angle_updates=(self._angle(),))


class HFlip(_ExactD4):
    """Mirror left-right (``image[:, ::-1]``); flow dx → −dx."""

    def __repr__(self) -> str:
        return "HFlip()"

    def _move(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        return array[:, ::-1]

    def _angle(self) -> AngleUpdate:
        return angle_after_hflip

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        m = np.array([[-1.0, 0.0, in_hw[1] - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        return WarpPlan(m, in_hw, in_hw, angle_updates=(self._angle(),))


class VFlip(_ExactD4):
    """Mirror top-bottom (``image[::-1]``); flow dy → −dy."""

    def __repr__(self) -> str:
        return "VFlip()"

    def _move(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        return array[::-1]

    def _angle(self) -> AngleUpdate:
        return angle_after_vflip

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        m = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, in_hw[0] - 1.0], [0.0, 0.0, 1.0]])
        return WarpPlan(m, in_hw, in_hw, angle_updates=(self._angle(),))


class Dihedral(GeometricTransform):
    """One of the 8 D4 elements: optionally transpose, then ``Rot90(k)``; exact."""

    def __init__(self, k: int = 0, transpose: bool = False) -> None:
        self.k = int(k) % 4
        self.transpose = bool(transpose)

    def __repr__(self) -> str:
        return f"Dihedral(k={self.k}, transpose={self.transpose})"

    def _steps(self) -> list[_ExactD4]:
        steps: list[_ExactD4] = [Transpose()] if self.transpose else []
        if self.k:
            steps.append(Rot90(self.k))
        return steps

    def __call__(self, sample: Sample) -> Sample:
        for step in self._steps():
            sample = step(sample)
        return dict(sample)

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        result = WarpPlan(np.eye(3), in_hw, in_hw)
        for step in self._steps():
            result = result.then(step.plan(result.out_hw))
        return result
