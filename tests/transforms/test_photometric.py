"""Photometric: labels never change; dropout marks AGL no-data under each hole."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from geopose.transforms import Photometric, coarse_dropout
from geopose.transforms.haze import Haze


def test_labels_unchanged(tfh):
    sample = tfh.smooth_sample(32, 32, 0)
    t = Photometric(
        [A.RandomBrightnessContrast(p=1.0), A.GaussNoise(std_range=(0.05, 0.1), p=1.0)], rng=0
    )
    out = t(sample)
    assert not np.array_equal(out["image"], sample["image"])
    assert out["image"].dtype == np.uint8
    assert out["image"].shape == sample["image"].shape
    np.testing.assert_array_equal(out["agl"], sample["agl"])
    for key in ("gsd", "scale", "angle", "city", "id"):
        assert out[key] == sample[key]


def test_dropout_marks_agl_nodata_under_holes():
    agl = np.full((64, 64), 5.0, dtype=np.float32)
    sample = {"image": np.full((64, 64, 3), 255, np.uint8), "agl": agl, "gsd": 0.5}
    t = Photometric([coarse_dropout(p=1.0, max_holes=3, max_side=20)], rng=1)
    for _ in range(5):
        out = t(sample)
        holes = (out["image"] == 0).all(-1)
        assert holes.any()
        np.testing.assert_array_equal(np.isnan(out["agl"]), holes)
    assert np.isfinite(sample["agl"]).all()  # input untouched


def test_dropout_on_unlabelled_sample():
    sample = {"image": np.full((32, 32, 3), 255, np.uint8), "gsd": 0.5}
    out = Photometric([coarse_dropout(p=1.0)], rng=0)(sample)
    assert "agl" not in out
    assert (out["image"] == 0).any()


@pytest.mark.parametrize(
    "bad",
    [A.HorizontalFlip(p=1.0), A.CoarseDropout(p=1.0), A.OneOf([A.Rotate(), A.CLAHE()])],
    ids=["geometric", "dropout-without-fill_mask", "nested-geometric"],
)
def test_label_changing_transforms_rejected(bad):
    with pytest.raises(ValueError, match=r"fill_mask|changes geometry"):
        Photometric([bad])


def test_seeded(tfh):
    sample = tfh.smooth_sample(32, 32, 1)
    steps = [A.RGBShift(p=0.5), A.GaussNoise(std_range=(0.02, 0.05), p=0.5)]
    a = Photometric(steps, rng=5)(sample)["image"]
    b = Photometric(steps, rng=5)(sample)["image"]
    np.testing.assert_array_equal(a, b)


def test_haze_whitens_smoothly_and_keeps_labels(tfh):
    sample = tfh.smooth_sample(64, 64, 2)
    out = Photometric([Haze(fog_coef_range=(0.4, 0.5), p=1.0)], rng=0)(sample)
    before = sample["image"].astype(int)
    after = out["image"].astype(int)
    assert (after >= before - 1).all()  # only towards white
    assert (after - before).mean() > 5
    # opacity never exceeds the coefficient: out <= img + 0.5 (255 - img)
    assert (after <= before + 0.5 * (255 - before) + 1).all()
    np.testing.assert_array_equal(out["agl"], sample["agl"])
    assert out["angle"] == sample["angle"]


def test_haze_rejects_bad_range():
    with pytest.raises(ValueError, match="fog_coef_range"):
        Haze(fog_coef_range=(0.5, 1.5))
