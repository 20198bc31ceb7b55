"""Named augmentation levels (the 2nd-place solution's, made consistent) and
:func:`build_augmentation`.

========  =====================================================================
level     what it does (besides the crop)
========  =====================================================================
none      nothing; with ``crop_size`` a plain random crop (zoom 1)
d4        a uniform random D4 element (8 quarter-turn/transpose combinations)
light     d4; crop zoom log-uniform in [0.9, 1/0.9]; with p = 0.5 rotation ±22°,
          zoom ±10 %, shift ±6.25 %; colour, noise and colour-shift groups
medium    light, with fog (:class:`Haze`) among the noise and coarse dropout (AGL
          no-data under each hole)
hard      d4; crop zoom jitter; with p = 0.5 rotation ±5°, zoom in [0.5, 2],
          shift ±6.25 %; stronger colour, noise, compression, blur
========  =====================================================================

What was made consistent: the 2nd-place code changed GSD and scale the wrong way under
its shift-scale-rotate, and its ``hard`` level used albumentations' plain
ShiftScaleRotate, which left gsd, scale and angle untouched. Here every geometric step
updates the labels, all geometric steps of a level run as one warp, and the
photometric steps use albumentations 2.x argument names (the 1.x GaussNoise
``var_limit`` of 10–50 on the 0–255 scale is ``std_range`` 0.012–0.028; CoarseDropout's
``max_holes`` / ``max_height`` / ``mask_fill_value`` are ``num_holes_range`` /
``hole_height_range`` / ``fill_mask``). Fog is :class:`~geopose.transforms.haze.Haze` instead of
albumentations' RandomFog, which takes ~0.7 s per 768² crop in 2.0.8.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2

from geopose.transforms.base import GeometricTransform
from geopose.transforms.chain import Chain, Compose, Transform
from geopose.transforms.haze import Haze
from geopose.transforms.height import RandomHeightScale
from geopose.transforms.photometric import Photometric
from geopose.transforms.random_affine import RandomAffine
from geopose.transforms.random_crop import RandomSizedCrop
from geopose.transforms.random_d4 import RandomD4
from geopose.transforms.rng import RngLike, as_generator
from geopose.transforms.warp import DEFAULT_FILL

#: The augmentation levels :func:`build_augmentation` knows, weakest first.
LEVELS: tuple[str, ...] = ("none", "d4", "light", "medium", "hard")

#: Zoom range of the random training crop for light and stronger levels.
CROP_ZOOM_JITTER = (0.9, 1.0 / 0.9)


def build_augmentation(
    level: str,
    crop_size: int | tuple[int, int] | None = None,
    rng: RngLike = None,
    *,
    height_scale: tuple[float, float] | None = None,
    fill: tuple[int, int, int] = DEFAULT_FILL,
) -> Compose:
    """The training augmentation of ``level`` (one of :data:`LEVELS`).

    ``crop_size`` (pixels; int for a square) adds a random crop out of the tile, fused
    with the other geometric steps into one warp; ``None`` keeps the tile size.
    ``rng`` (a seed or a Generator) drives every random draw — reproducible; call
    ``.reseed(seed)`` on the result once per data-loader worker. ``height_scale``
    (k range) adds :class:`RandomHeightScale`. ``fill`` is the RGB colour of image area
    from outside the tile (AGL there is no-data).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown augmentation level {level!r}; choose one of {', '.join(LEVELS)}")
    gen = as_generator(rng)
    steps: list[Transform] = []
    geometric = _geometric_steps(level, crop_size, gen, fill)
    if geometric:
        steps.append(Chain(geometric, fill=fill))
    if height_scale is not None:
        steps.append(RandomHeightScale(height_scale, rng=gen))
    photometric = _photometric_steps(level)
    if photometric:
        steps.append(Photometric(photometric, rng=gen))
    return Compose(steps)


def _geometric_steps(
    level: str, crop_size: int | tuple[int, int] | None, gen: Any, fill: tuple[int, int, int]
) -> list[GeometricTransform]:
    steps: list[GeometricTransform] = []
    if level != "none":
        steps.append(RandomD4(rng=gen))
    strong = level in ("light", "medium", "hard")
    if crop_size is not None:
        zoom = CROP_ZOOM_JITTER if strong else (1.0, 1.0)
        steps.append(RandomSizedCrop(crop_size, zoom, rng=gen, fill=fill))
    if level in ("light", "medium"):
        steps.append(RandomAffine(22.0, 0.1, 0.0625, p=0.5, rng=gen, fill=fill))
    elif level == "hard":
        steps.append(RandomAffine(5.0, (-0.5, 1.0), 0.0625, p=0.5, rng=gen, fill=fill))
    return steps


def _photometric_steps(level: str) -> list[Any]:
    if level in ("none", "d4"):
        return []
    if level == "hard":
        return _hard_photometric()
    noise = [A.ISONoise(), A.GaussNoise(std_range=(0.012, 0.028)), A.MultiplicativeNoise()]
    if level == "medium":
        noise.append(Haze(fog_coef_range=(0.1, 0.5)))
    steps: list[Any] = [
        A.OneOf(
            [
                A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1),
                A.CLAHE(),
                A.RandomToneCurve(),
                A.RandomGamma(),
            ],
            p=0.5,
        ),
        A.OneOf(noise, p=0.1),
        A.OneOf(
            [
                A.RGBShift(r_shift_limit=10, g_shift_limit=10, b_shift_limit=10),
                A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=5, val_shift_limit=5),
                A.FancyPCA(),
            ],
            p=0.1,
        ),
    ]
    if level == "medium":
        steps.append(coarse_dropout(p=0.1))
    return steps


def _hard_photometric() -> list[Any]:
    def noise(p: float) -> Any:
        gauss = A.GaussNoise(std_range=(0.012, 0.028))
        return A.OneOf([A.ISONoise(), gauss, A.MultiplicativeNoise()], p=p)

    nearest = {"downscale": cv2.INTER_NEAREST, "upscale": cv2.INTER_NEAREST}
    linear = {"downscale": cv2.INTER_LINEAR, "upscale": cv2.INTER_LINEAR}
    return [
        A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3),
        A.CLAHE(),
        A.RandomToneCurve(),
        noise(0.5),
        A.OneOf([A.RGBShift(), A.HueSaturationValue(), A.FancyPCA()], p=0.5),
        A.OneOf(
            [
                A.ImageCompression(quality_range=(70, 100)),
                A.Downscale(scale_range=(0.5, 0.75), interpolation_pair=nearest),
                A.Downscale(scale_range=(0.25, 0.25), interpolation_pair=linear),
            ],
            p=0.3,
        ),
        noise(0.3),
        A.OneOf(
            [A.MotionBlur(blur_limit=(3, 5)), A.GaussianBlur(blur_limit=(3, 5)), A.Sharpen()],
            p=0.3,
        ),
    ]


def coarse_dropout(p: float = 0.1, max_holes: int = 2, max_side: int = 128) -> Any:
    """Albumentations CoarseDropout of 1–``max_holes`` black holes of 8–``max_side``
    pixels a side, marking AGL no-data under each hole (``fill_mask=0``)."""
    return A.CoarseDropout(
        num_holes_range=(1, max_holes),
        hole_height_range=(8, max_side),
        hole_width_range=(8, max_side),
        fill=0,
        fill_mask=0,
        p=p,
    )
