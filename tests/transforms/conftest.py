"""Shared fixtures of the transform tests: tiny smooth samples and an independent
vector-field reference (written from the conventions, not from the implementation).

The reference moves the flow field ``v = agl · scale · d`` as an image — each output
pixel samples ``v`` bilinearly (scipy) at its source position — and then maps the
vectors by the linear part of the pixel map, exactly as DESIGN.md §1 says geometry
acts on a vector field. Reusable for the synthetic-generator consistency test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from geopose.conventions import flow_field

#: AGL = a linear function of the image's RGB (metres): AGL and image can be compared.
AGL_OF_RGB = np.array([0.05, 0.03, -0.02], dtype=np.float64)
AGL_OFFSET = 4.0


def agl_from_image(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The AGL (m) that :func:`smooth_sample` ties to an RGB image."""
    return (image.astype(np.float64) @ AGL_OF_RGB + AGL_OFFSET).astype(np.float32)


def smooth_sample(
    h: int,
    w: int,
    seed: int = 0,
    holes: int = 3,
    labels: bool = True,
    period: float = 24.0,
) -> dict[str, Any]:
    """A tiny sample whose image is smooth (waves of ``period`` px or longer), whose AGL
    (m, > 0 everywhere) is :func:`agl_from_image` of the image, with ``holes`` small
    no-data squares; random gsd, scale and angle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    image = np.empty((h, w, 3), dtype=np.uint8)
    for c in range(3):
        kx, ky = rng.uniform(-1, 1, 2) * 2 * math.pi / period
        wave = np.sin(kx * xx + ky * yy + rng.uniform(0, 2 * math.pi))
        image[..., c] = np.clip(np.rint(128 + 100 * wave), 0, 255).astype(np.uint8)
    agl = agl_from_image(image)
    for _ in range(holes):
        r, c = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        agl[r : r + int(rng.integers(1, 4)), c : c + int(rng.integers(1, 4))] = np.nan
    sample: dict[str, Any] = {"image": image, "gsd": float(rng.uniform(0.3, 0.6))}
    sample.update(city="TST", id=f"TST_{seed}")
    if labels:
        sample.update(
            agl=agl, scale=float(rng.uniform(0.5, 2.5)), angle=float(rng.uniform(0, 2 * math.pi))
        )
    return sample


def warp_flow_reference(
    v: NDArray[np.floating[Any]], matrix: NDArray[np.float64], out_hw: tuple[int, int]
) -> NDArray[np.float64]:
    """Move an H×W×2 vector field (dx, dy px) by the affine pixel map ``matrix`` (2×3 or
    3×3, source (x, y) → destination (x, y), pixel centres at integers): sample each
    component bilinearly at the source of each output pixel (NaN outside or next to
    NaN), then map every vector by the linear part of the map."""
    m = np.vstack([np.asarray(matrix, float)[:2], [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(m)
    h, w = out_hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
    sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
    comps = [
        ndimage.map_coordinates(
            np.asarray(v[..., i], np.float64), [sy, sx], order=1, mode="constant", cval=np.nan
        )
        for i in range(2)
    ]
    # Positions a hair outside the last pixel centre count as outside, as in any warp.
    outside = (sx < -1e-6) | (sy < -1e-6) | (sx > v.shape[1] - 1 + 1e-6)
    outside |= sy > v.shape[0] - 1 + 1e-6
    vec = np.stack(comps, -1)
    vec[outside] = np.nan
    return vec @ m[:2, :2].T


def d4_flow_reference(v: NDArray[np.floating[Any]], op: str) -> NDArray[np.float64]:
    """Move an H×W×2 vector field by one named D4 generator, with numpy: 'rot90'
    (counter-clockwise, (dx, dy) → (dy, −dx)), 'transpose', 'hflip', 'vflip'."""
    v = np.asarray(v, np.float64)
    dx, dy = v[..., 0], v[..., 1]
    if op == "rot90":
        return np.stack([np.rot90(dy), -np.rot90(dx)], -1)
    if op == "transpose":
        return np.stack([dy.T, dx.T], -1)
    if op == "hflip":
        return np.stack([-dx[:, ::-1], dy[:, ::-1]], -1)
    if op == "vflip":
        return np.stack([dx[::-1], -dy[::-1]], -1)
    raise ValueError(op)


def sample_flow(sample: dict[str, Any]) -> NDArray[np.float32]:
    """v = agl · scale · d of a sample (px)."""
    return flow_field(sample["agl"], sample["scale"], sample["angle"])


def relative_flow_error(
    got: NDArray[np.floating[Any]], want: NDArray[np.floating[Any]]
) -> tuple[float, int]:
    """Largest |got − want| / |want| over pixels where both are finite, and their count."""
    both = np.isfinite(got).all(-1) & np.isfinite(want).all(-1)
    if not both.any():
        return 0.0, 0
    err = np.linalg.norm(got[both] - want[both], axis=-1)
    norm = np.linalg.norm(want[both], axis=-1)
    return float(np.max(err / norm)), int(both.sum())


@pytest.fixture(scope="session")
def make_sample() -> Callable[..., dict[str, Any]]:
    """Factory of tiny smooth samples (see :func:`smooth_sample`)."""
    return smooth_sample


@pytest.fixture(scope="session")
def tfh() -> SimpleNamespace:
    """The helper functions of this module, for tests (importlib mode cannot import
    a conftest)."""
    return SimpleNamespace(
        agl_from_image=agl_from_image,
        smooth_sample=smooth_sample,
        warp_flow_reference=warp_flow_reference,
        d4_flow_reference=d4_flow_reference,
        sample_flow=sample_flow,
        relative_flow_error=relative_flow_error,
    )
