"""With the synthetic generator: rendering the transformed scene equals transforming the
rendered tile, labels included, for the D4 operations (issue: geometry-consistent
augmentation). The renderer knows nothing of geopose.transforms, so this checks the
transforms' label rules against independent geometry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from geopose.data.synth import load_presets, render_agl
from geopose.data.synth.rasterize import rasterize
from geopose.data.synth.sample import district
from geopose.transforms import HFlip, Rot90, Transpose, VFlip

SIZE = 160
D4_OPS: dict[str, tuple[Any, Any]] = {
    # name: (transform, the same pixel move on a plain array)
    "rot90": (Rot90(1), lambda a: np.rot90(a, 1)),
    "rot180": (Rot90(2), lambda a: np.rot90(a, 2)),
    "rot270": (Rot90(3), lambda a: np.rot90(a, 3)),
    "transpose": (Transpose(), lambda a: a.T),
    "hflip": (HFlip(), lambda a: a[:, ::-1]),
    "vflip": (VFlip(), lambda a: a[::-1]),
}


@pytest.fixture(scope="module")
def height_field() -> np.ndarray:
    """A ground-level height field (m) cut from a synthetic ATL district."""
    preset = load_presets()["ATL"]
    scene = district(preset, seed=5, extent=400.0)
    raster = rasterize(scene, gsd=0.5, origin=(100.0, 100.0), shape=(SIZE, SIZE))
    assert raster.height.max() > 5.0  # the window holds buildings
    return np.ascontiguousarray(raster.height, dtype=np.float32)


def _sample(height: np.ndarray, scale: float, angle: float) -> dict[str, Any]:
    agl = render_agl(height, scale, angle)
    # The image is any array that moves with the pixels; use the height field itself
    # (quantised) so that image and labels are checked together.
    image = np.repeat(np.clip(height * 4, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return {
        "image": image,
        "agl": agl,
        "gsd": 0.5,
        "scale": scale,
        "angle": angle,
        "city": "ATL",
        "id": "ATL_synth",
    }


@pytest.mark.parametrize("name", sorted(D4_OPS))
@pytest.mark.parametrize("angle", [0.3, 1.2, 2.9, 4.4, 5.9])
def test_render_then_transform_equals_transform_then_render(
    height_field: np.ndarray, name: str, angle: float
) -> None:
    transform, move = D4_OPS[name]
    scale = 1.4
    rendered = transform(_sample(height_field, scale, angle))
    # Render the moved scene at the angle the transform says the labels now have.
    direct = render_agl(np.ascontiguousarray(move(height_field)), scale, rendered["angle"])
    assert rendered["scale"] == scale
    assert rendered["gsd"] == 0.5
    assert np.array_equal(
        rendered["image"][..., 0], move(_sample(height_field, scale, angle)["image"][..., 0])
    )
    # Exact: the renderer's digital lines are mirror- and rot90-symmetric at these
    # angles (none lies on a rounding tie), so every pixel must agree.
    assert np.array_equal(rendered["agl"], direct)


def test_a_wrong_angle_rule_would_be_caught(height_field: np.ndarray) -> None:
    # Guard against a vacuous test: rendering the flipped scene at the *unchanged*
    # angle disagrees clearly with the flipped render.
    scale, angle = 1.4, 1.2
    flipped = HFlip()(_sample(height_field, scale, angle))
    wrong = render_agl(np.ascontiguousarray(height_field[:, ::-1]), scale, angle)
    assert np.mean(np.abs(flipped["agl"] - wrong) > 1e-4) > 0.05
