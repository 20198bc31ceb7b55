"""Least-squares scale: exact recovery, pooling of sums, fallback, fp32 under autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geopose.models import least_squares_scale, scale_from_sums, scale_sums


def test_recovers_scale_exactly_when_mag_is_proportional() -> None:
    # Small integer heights and power-of-two scales: every product and sum is exact.
    gen = torch.Generator().manual_seed(1)
    agl = torch.randint(0, 40, (3, 1, 32, 32), generator=gen).float()
    s = torch.tensor([0.5, 2.0, 0.125])
    mag = agl * s.reshape(-1, 1, 1, 1)
    assert torch.equal(least_squares_scale(agl, mag), s)


def test_recovers_random_scale_to_float32_precision() -> None:
    gen = torch.Generator().manual_seed(2)
    agl = torch.rand(2, 1, 64, 64, generator=gen) * 30
    s = torch.tensor([0.37, 1.91])
    mag = agl * s.reshape(-1, 1, 1, 1)
    torch.testing.assert_close(least_squares_scale(agl, mag), s, rtol=1e-6, atol=0)


def test_matches_numpy_least_squares_on_noisy_maps() -> None:
    rng = np.random.default_rng(3)
    agl = rng.random((2, 1, 16, 16)) * 10
    mag = agl * 0.8 + rng.normal(0, 0.3, agl.shape)
    expected = [
        np.linalg.lstsq(a.reshape(-1, 1), m.reshape(-1), rcond=None)[0][0]
        for a, m in zip(agl, mag, strict=True)
    ]
    got = least_squares_scale(torch.from_numpy(agl), torch.from_numpy(mag))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_pooled_window_sums_equal_whole_image_fit() -> None:
    gen = torch.Generator().manual_seed(4)
    agl = torch.rand(1, 1, 32, 32, generator=gen) * 20
    mag = agl * 1.3 + torch.rand(1, 1, 32, 32, generator=gen)
    whole = least_squares_scale(agl, mag)
    windows = [(slice(0, 16), slice(0, 32)), (slice(16, 32), slice(0, 32))]
    num = den = torch.zeros(1)
    for rows, cols in windows:
        n, d = scale_sums(agl[..., rows, cols], mag[..., rows, cols])
        num, den = num + n, den + d
    torch.testing.assert_close(scale_from_sums(num, den), whole, rtol=1e-6, atol=0)
    # Averaging the per-window ratios is a different (wrong) estimate here.
    ratios = [least_squares_scale(agl[..., r, c], mag[..., r, c]) for r, c in windows]
    assert not torch.allclose(sum(ratios) / 2, whole, rtol=1e-6, atol=0)


def test_flat_tile_falls_back_and_never_nan() -> None:
    agl = torch.zeros(2, 1, 8, 8, requires_grad=True)
    mag = torch.rand(2, 1, 8, 8)
    scale = least_squares_scale(agl, mag, fallback=0.75)
    assert torch.equal(scale, torch.tensor([0.75, 0.75]))
    scale.sum().backward()
    assert agl.grad is not None
    assert torch.isfinite(agl.grad).all()


def test_nearly_flat_tile_uses_threshold() -> None:
    agl = torch.full((1, 1, 4, 4), 0.01)  # Σ agl² = 1.6e-3 < default 1e-2
    assert least_squares_scale(agl, agl * 5, fallback=1.5).item() == 1.5
    assert least_squares_scale(agl, agl * 5, min_den=1e-4).item() == pytest.approx(5.0, rel=1e-6)


def test_valid_mask_excludes_pixels() -> None:
    agl = torch.ones(1, 1, 2, 2)
    mag = torch.tensor([[[[2.0, 2.0], [100.0, 2.0]]]])
    valid = torch.tensor([[[[True, True], [False, True]]]])
    assert least_squares_scale(agl, mag, valid).item() == pytest.approx(2.0)


def test_sums_are_float32_under_bf16_autocast() -> None:
    gen = torch.Generator().manual_seed(5)
    agl = torch.rand(1, 1, 64, 64, generator=gen) * 50
    mag = agl * 0.9
    with torch.autocast("cpu", dtype=torch.bfloat16):
        num, den = scale_sums(agl.bfloat16(), mag.bfloat16())
    assert num.dtype == torch.float32
    assert den.dtype == torch.float32
    a64 = agl.bfloat16().double()
    m64 = mag.bfloat16().double()
    torch.testing.assert_close(num.double(), (a64 * m64).sum().reshape(1), rtol=1e-5, atol=0)
