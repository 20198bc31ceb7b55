"""Batching samples into the DESIGN.md §4 tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geopose.data.collate import batch_to_device, collate_samples
from geopose.errors import DataError


def _sample(seed: int, labels: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    s = {
        "image": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
        "gsd": 0.3 + seed,
        "city": "JAX",
        "id": f"JAX_{seed}",
    }
    if labels:
        agl = rng.uniform(0, 50, (5, 7)).astype(np.float32)
        agl[seed, 2] = np.nan
        s.update(agl=agl, scale=1.5 + seed, angle=0.25 * seed)
    return s


def test_collate_matches_numpy_reference() -> None:
    samples = [_sample(0), _sample(1)]
    batch = collate_samples(samples)
    assert batch["image"].dtype == torch.uint8
    assert tuple(batch["image"].shape) == (2, 3, 5, 7)
    for b, s in enumerate(samples):
        np.testing.assert_array_equal(batch["image"][b].numpy(), s["image"].transpose(2, 0, 1))
        valid = np.isfinite(s["agl"])
        np.testing.assert_array_equal(batch["valid"][b, 0].numpy(), valid)
        np.testing.assert_array_equal(batch["agl"][b, 0].numpy(), np.where(valid, s["agl"], 0))
    assert not torch.isnan(batch["agl"]).any()
    assert batch["valid"].dtype == torch.bool
    assert batch["gsd"].tolist() == pytest.approx([0.3, 1.3])
    assert batch["scale"].tolist() == pytest.approx([1.5, 2.5])
    assert batch["angle"].tolist() == pytest.approx([0.0, 0.25])
    assert batch["city"] == ["JAX", "JAX"]
    assert batch["id"] == ["JAX_0", "JAX_1"]


def test_unlabelled_batches_and_mixing_errors() -> None:
    batch = collate_samples([_sample(0, labels=False)])
    assert "agl" not in batch
    assert "valid" not in batch
    with pytest.raises(DataError, match="mixes labelled and unlabelled"):
        collate_samples([_sample(0), _sample(1, labels=False)])
    other = _sample(1)
    other["image"] = other["image"][:4]
    other["agl"] = other["agl"][:4]
    with pytest.raises(DataError, match="different sizes"):
        collate_samples([_sample(0), other])


def test_batch_to_device_makes_float_images_in_unit_range() -> None:
    batch = collate_samples([_sample(0)])
    moved = batch_to_device(batch, torch.device("cpu"), channels_last=True)
    assert moved["image"].dtype == torch.float32
    expected = batch["image"].numpy().astype(np.float32) / 255.0
    np.testing.assert_allclose(moved["image"].numpy(), expected, rtol=0, atol=1e-7)
    assert moved["image"].is_contiguous(memory_format=torch.channels_last)
    assert moved["id"] == batch["id"]
