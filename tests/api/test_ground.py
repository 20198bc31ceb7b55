"""geopose.rectify (geopose.api.ground): the rectification of a prediction or of files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geopose
from geopose.errors import UsageError
from geopose.io import read_agl, read_rgb
from geopose.rectification import rectify


def test_rectify_a_prediction_and_its_files(checkpoint: Path, scene: Path, tmp_path: Path) -> None:
    result = geopose.load_model(checkpoint).predict(scene, tta="none", precision="fp32")
    # A steeper view than the model's guess, so that pixels move several pixels.
    ground = geopose.rectify(scene, result, scale=3.0)
    expected = rectify(read_rgb(scene), result.agl, 3.0, result.angle)
    for key in ("image", "agl", "occluded", "filled"):
        np.testing.assert_array_equal(getattr(ground, key), getattr(expected, key))
    assert not np.array_equal(ground.image, read_rgb(scene))

    agl_path, _ = result.save(tmp_path)
    from_files = geopose.rectify(scene, agl_path, result.scale, result.angle, max_hole=0)
    reference = rectify(read_rgb(scene), read_agl(agl_path), result.scale, result.angle, max_hole=0)
    np.testing.assert_array_equal(from_files.image, reference.image)


def test_rectify_needs_the_flow_and_matching_sizes(scene: Path) -> None:
    image = read_rgb(scene)
    agl = np.zeros(image.shape[:2], dtype=np.float32)
    with pytest.raises(UsageError, match="give the scale"):
        geopose.rectify(image, agl)
    with pytest.raises(UsageError, match="96×160 px but the AGL is 96×159 px"):
        geopose.rectify(image, agl[:, 1:], 1.0, 0.0)
