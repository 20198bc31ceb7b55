"""Base class of the geometric transforms: each one can describe itself as a WarpPlan."""

from __future__ import annotations

from abc import ABC, abstractmethod

from geopose.transforms._sample import Sample, image_hw
from geopose.transforms.plan import WarpPlan
from geopose.transforms.warp import DEFAULT_FILL, apply_plan


class GeometricTransform(ABC):
    """A callable ``sample -> sample`` that moves image and AGL and updates gsd (m/px),
    scale (px/m) and angle (rad) to match (DESIGN.md §1, §4).

    Subclasses give :meth:`plan`; calling the transform applies that plan with one warp.
    Several geometric transforms chained with :class:`~geopose.transforms.chain.Chain`
    cost a single warp.
    """

    #: RGB colour (uint8) of image area that comes from outside the source.
    fill: tuple[int, int, int] = DEFAULT_FILL

    @abstractmethod
    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        """The warp this transform applies to an image of ``in_hw`` = (height, width) px.

        Random transforms draw their parameters here, once per call.
        """

    def __call__(self, sample: Sample) -> Sample:
        return apply_plan(sample, self.plan(image_hw(sample)), self.fill)
