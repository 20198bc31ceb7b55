"""×2 upsampling modules: shapes, channel grouping, the residual path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geopose.errors import UsageError
from geopose.models.upsample import BilinearAdditiveUp, ResidualDeconvUp, make_upsample


def test_bilinear_additive_averages_groups_of_four_consecutive_channels() -> None:
    values = np.arange(8, dtype=np.float32)  # one constant value per channel
    x = torch.from_numpy(values).reshape(1, 8, 1, 1).expand(1, 8, 3, 5).contiguous()
    out = BilinearAdditiveUp(8)(x)
    assert tuple(out.shape) == (1, 2, 6, 10)
    expected = values.reshape(2, 4).mean(axis=1)  # [1.5, 5.5]
    np.testing.assert_allclose(out[0, :, 2, 3].numpy(), expected)


def test_residual_deconv_is_deconv_plus_bilinear_additive() -> None:
    torch.manual_seed(0)
    up = ResidualDeconvUp(16)
    x = torch.rand(2, 16, 5, 7)
    out = up(x)
    assert tuple(out.shape) == (2, 4, 10, 14)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.bias.zero_()
    residual = up(x)
    torch.testing.assert_close(residual, BilinearAdditiveUp(16)(x))
    assert not torch.allclose(out, residual)


@pytest.mark.parametrize("kind", ["bilinear", "nearest", "deconv", "rdtsc"])
def test_explicit_size_reaches_odd_skip_sizes(kind: str) -> None:
    # A skip map of odd size (ceil-mode strides) is 2n - 1 pixels, not 2n.
    out = make_upsample(kind, 8)(torch.rand(1, 8, 5, 5), (9, 10))
    assert tuple(out.shape[-2:]) == (9, 10)


def test_unknown_upsampling_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="pixelshuffle"):
        make_upsample("pixelshuffle", 8)
