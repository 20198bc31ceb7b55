"""Photometric augmentation through albumentations 2.x; labels never change.

Only image-only albumentations transforms are accepted, plus dropout transforms
(e.g. ``CoarseDropout``) that fill the mask with 0: under each dropped hole the AGL
becomes no-data, since the image there no longer shows what the label describes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import albumentations as A
import numpy as np
from albumentations.augmentations.dropout.transforms import BaseDropout
from albumentations.core.composition import BaseCompose

from geopose.transforms._sample import Sample
from geopose.transforms.rng import RngLike, as_generator


class Photometric:
    """Apply albumentations ``transforms`` (2.x argument names) to the sample's image,
    drawing from ``rng``; AGL becomes no-data under dropout holes; other keys untouched.
    """

    def __init__(self, transforms: Sequence[Any], rng: RngLike = None) -> None:
        self._dropout = False
        for t in _leaves(transforms):
            self._dropout |= _check_label_safe(t)
        self.pipeline = A.Compose(list(transforms), p=1.0)
        self.reseed(rng)

    def __repr__(self) -> str:
        return f"Photometric({self.pipeline.transforms!r})"

    def reseed(self, rng: RngLike) -> None:
        """Draw from ``rng`` (a seed or a Generator) from now on."""
        gen = as_generator(rng)
        self.pipeline.set_random_state(gen, random.Random(int(gen.integers(2**63))))

    def __call__(self, sample: Sample) -> Sample:
        out = dict(sample)
        image = np.asarray(sample["image"])
        if not (self._dropout and "agl" in sample):
            out["image"] = self.pipeline(image=image)["image"]
            return out
        keep = np.ones(image.shape[:2], dtype=np.uint8)
        result = self.pipeline(image=image, mask=keep)
        out["image"] = result["image"]
        holes = np.asarray(result["mask"]) == 0
        if holes.any():
            agl = np.array(sample["agl"], dtype=np.float32, copy=True)
            agl[holes] = np.nan
            out["agl"] = agl
        return out


def _leaves(transforms: Sequence[Any]) -> Iterator[Any]:
    for t in transforms:
        if isinstance(t, BaseCompose):
            yield from _leaves(t.transforms)
        else:
            yield t


def _check_label_safe(t: Any) -> bool:
    """True for a dropout transform, False for an image-only one; ValueError otherwise."""
    if isinstance(t, BaseDropout):
        if getattr(t, "fill_mask", None) != 0:
            raise ValueError(f"{type(t).__name__} must have fill_mask=0 to mark AGL no-data")
        return True
    if isinstance(t, A.ImageOnlyTransform):
        return False
    raise ValueError(
        f"{type(t).__name__} changes geometry; use geopose.transforms' geometric "
        "transforms, which keep the labels consistent"
    )
