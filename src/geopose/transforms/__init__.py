"""Geometry-consistent and photometric augmentation of samples (DESIGN.md §1, §4).

Every transform is a callable ``sample -> sample`` that never modifies its input.
Geometric transforms move image and AGL together and update gsd (m/px), scale (px/m)
and angle (rad) through :mod:`geopose.conventions`; photometric ones change only the
image (and mark AGL no-data under dropout holes).

Deterministic: :class:`Rot90`, :class:`Transpose`, :class:`HFlip`, :class:`VFlip`,
:class:`Dihedral`, :class:`Affine`, :class:`Crop`, :class:`Resize`.
Random (explicit seeded generator): :class:`RandomD4`, :class:`RandomAffine`,
:class:`RandomSizedCrop`, :class:`RandomHeightScale`, :class:`Photometric` (with
:class:`Haze`, a fast fog).
Composition: :class:`Chain` (geometric steps fused into one warp), :class:`Compose`.
Levels: :data:`LEVELS`, :func:`build_augmentation`.
"""

from geopose.transforms._sample import Sample
from geopose.transforms.affine import Affine
from geopose.transforms.base import GeometricTransform
from geopose.transforms.chain import Chain, Compose, Transform
from geopose.transforms.crop import Crop
from geopose.transforms.d4 import Dihedral, HFlip, Rot90, Transpose, VFlip
from geopose.transforms.haze import Haze
from geopose.transforms.height import RandomHeightScale
from geopose.transforms.levels import LEVELS, build_augmentation, coarse_dropout
from geopose.transforms.photometric import Photometric
from geopose.transforms.plan import WarpPlan
from geopose.transforms.random_affine import RandomAffine
from geopose.transforms.random_base import RandomGeometric
from geopose.transforms.random_crop import RandomSizedCrop
from geopose.transforms.random_d4 import RandomD4
from geopose.transforms.resize import Resize
from geopose.transforms.warp import apply_plan

__all__ = [
    "LEVELS",
    "Affine",
    "Chain",
    "Compose",
    "Crop",
    "Dihedral",
    "GeometricTransform",
    "HFlip",
    "Haze",
    "Photometric",
    "RandomAffine",
    "RandomD4",
    "RandomGeometric",
    "RandomHeightScale",
    "RandomSizedCrop",
    "Resize",
    "Rot90",
    "Sample",
    "Transform",
    "Transpose",
    "VFlip",
    "WarpPlan",
    "apply_plan",
    "build_augmentation",
    "coarse_dropout",
]
