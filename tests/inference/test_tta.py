"""TTA: D4 views and their exact de-augmentation, equivariance of the wrapped model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geopose.conventions import (
    agl_m_to_cm,
    angle_after_hflip,
    angle_after_rot90,
    angle_after_transpose,
    angle_after_vflip,
    angle_difference,
    angle_to_direction,
)
from geopose.data.synth import generate_sample
from geopose.errors import UsageError
from geopose.inference.tta import D4_VIEWS, TTA_MODES, TTAModel, pad_to_multiple, tta_views

# Each view as numpy does it, and what it does to an angle (DESIGN.md §1).
NUMPY_VIEWS = {
    "identity": (lambda a: a, lambda t: t % (2 * math.pi)),
    "rot90": (lambda a: np.rot90(a, 1), lambda t: angle_after_rot90(t, 1)),
    "rot180": (lambda a: np.rot90(a, 2), lambda t: angle_after_rot90(t, 2)),
    "rot270": (lambda a: np.rot90(a, 3), lambda t: angle_after_rot90(t, 3)),
    "transpose": (lambda a: a.swapaxes(0, 1), angle_after_transpose),
    "vflip": (lambda a: a[::-1], angle_after_vflip),
    "transverse": (
        lambda a: np.rot90(a, 2).swapaxes(0, 1),
        lambda t: angle_after_rot90(angle_after_transpose(t), 2),
    ),
    "hflip": (lambda a: a[:, ::-1], angle_after_hflip),
}


@pytest.mark.parametrize("name", list(D4_VIEWS))
def test_view_pixels_and_vectors_match_numpy_and_conventions(name: str) -> None:
    view = D4_VIEWS[name]
    np_op, angle_op = NUMPY_VIEWS[name]
    a = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    moved = view.apply(torch.from_numpy(a)[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(moved, np_op(a))
    back = view.invert(torch.from_numpy(np.ascontiguousarray(np_op(a)))[None, None])[0, 0]
    np.testing.assert_array_equal(back.numpy(), a)
    theta = 0.7
    d_view = angle_to_direction(angle_op(theta))
    restored = view.invert_vectors(torch.tensor(d_view, dtype=torch.float32)[None])[0].numpy()
    np.testing.assert_allclose(restored, angle_to_direction(theta), atol=1e-6)
    forward = torch.tensor(angle_to_direction(theta), dtype=torch.float32) @ view.matrix().T
    np.testing.assert_allclose(forward.numpy(), d_view, atol=1e-6)


def test_modes_list_distinct_views_and_unknown_mode_is_refused() -> None:
    assert [len(TTA_MODES[m]) for m in ("none", "flip", "d2", "d4")] == [1, 2, 4, 8]
    assert len(set(TTA_MODES["d4"])) == 8
    with pytest.raises(UsageError, match="tta"):
        tta_views("d8")


def test_pad_to_multiple_centres_the_tile() -> None:
    x = torch.arange(2 * 3 * 40 * 33, dtype=torch.float32).reshape(2, 3, 40, 33)
    padded, (top, left) = pad_to_multiple(x, 32)
    assert padded.shape[-2:] == (64, 64)
    assert (top, left) == (12, 15)
    torch.testing.assert_close(padded[..., top : top + 40, left : left + 33], x)


def _tile(seed: int = 11, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    s = generate_sample("JAX", seed, size=size)
    image = torch.from_numpy(np.ascontiguousarray(s["image"])).permute(2, 0, 1)[None].float() / 255
    return image, torch.tensor([s["gsd"]], dtype=torch.float32)


def _predict(
    model: torch.nn.Module, image: torch.Tensor, gsd: torch.Tensor
) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        out = model(image, gsd)
    return {k: v.float().numpy() for k, v in out.items()}


def _agl_cm(out: dict[str, np.ndarray]) -> np.ndarray:
    return agl_m_to_cm(out["agl"][0, 0]).astype(np.int64)


def test_d4_tta_is_equivariant_to_rot90_and_transpose(tiny_model: torch.nn.Module) -> None:
    image, gsd = _tile()
    tta = TTAModel(tiny_model, "d4")
    base = _predict(tta, image, gsd)
    rot = _predict(tta, torch.rot90(image, 1, dims=(-2, -1)), gsd)
    tr = _predict(tta, image.transpose(-2, -1), gsd)
    # AGL, rounded to cm as files store it, moves with the image (1 cm tolerance).
    assert np.abs(_agl_cm(rot) - np.rot90(_agl_cm(base))).max() <= 1
    assert np.abs(_agl_cm(tr) - _agl_cm(base).T).max() <= 1
    # The angle turns with the image; (dx, dy) swaps under the transpose.
    assert angle_difference(rot["angle"][0], base["angle"][0] + math.pi / 2) < 1e-3
    np.testing.assert_allclose(tr["direction"][0], base["direction"][0][::-1], atol=1e-3)
    assert angle_difference(tr["angle"][0], angle_after_transpose(float(base["angle"][0]))) < 1e-3
    # Scale is invariant.
    for other in (rot, tr):
        assert abs(other["scale"][0] / base["scale"][0] - 1) < 1e-4
    assert base["scale"][0] > 0


def test_without_tta_the_same_model_is_not_equivariant(tiny_model: torch.nn.Module) -> None:
    image, gsd = _tile()
    plain = TTAModel(tiny_model, "none")
    base = _predict(plain, image, gsd)
    rot = _predict(plain, torch.rot90(image, 1, dims=(-2, -1)), gsd)
    agl_gap = np.abs(_agl_cm(rot) - np.rot90(_agl_cm(base))).max()
    angle_gap = angle_difference(rot["angle"][0], base["angle"][0] + math.pi / 2)
    scale_gap = abs(rot["scale"][0] / base["scale"][0] - 1)
    assert agl_gap > 1
    assert angle_gap > 1e-3
    assert scale_gap > 1e-4


def test_flip_tta_is_equivariant_to_the_horizontal_flip_only(tiny_model: torch.nn.Module) -> None:
    image, gsd = _tile(seed=5)
    tta = TTAModel(tiny_model, "flip")
    base = _predict(tta, image, gsd)
    flipped = _predict(tta, torch.flip(image, dims=(-1,)), gsd)
    assert np.abs(_agl_cm(flipped) - _agl_cm(base)[:, ::-1]).max() <= 1
    assert angle_difference(flipped["angle"][0], -base["angle"][0]) < 1e-3
    assert abs(flipped["scale"][0] / base["scale"][0] - 1) < 1e-4


def test_d2_tta_is_equivariant_to_the_vertical_flip(tiny_model: torch.nn.Module) -> None:
    image, gsd = _tile(seed=6)
    tta = TTAModel(tiny_model, "d2")
    base = _predict(tta, image, gsd)
    flipped = _predict(tta, torch.flip(image, dims=(-2,)), gsd)
    assert np.abs(_agl_cm(flipped) - _agl_cm(base)[::-1]).max() <= 1
    assert angle_difference(flipped["angle"][0], math.pi - base["angle"][0]) < 1e-3


def test_tta_equals_an_independent_loop_over_views(tiny_model: torch.nn.Module) -> None:
    """The batched wrapper against a plain per-view loop written with numpy here."""
    image, gsd = _tile(seed=7)
    got = _predict(TTAModel(tiny_model, "d4", max_batch=3), image, gsd)
    aglsum, num, den, vec = np.zeros((64, 64)), 0.0, 0.0, np.zeros(2)
    for _name, (np_op, angle_op) in NUMPY_VIEWS.items():
        x = np.ascontiguousarray(np_op(image[0].permute(1, 2, 0).numpy()))
        out = _predict(tiny_model, torch.from_numpy(x).permute(2, 0, 1)[None], gsd)
        # Undo the view: apply the inverse numpy op found by searching the group.
        probe = np.arange(12.0).reshape(3, 4)
        inverse = next(f for f, _ in NUMPY_VIEWS.values() if np.array_equal(f(np_op(probe)), probe))
        a = inverse(out["agl"][0, 0]).astype(np.float64)
        m = inverse(out["mag"][0, 0]).astype(np.float64)
        aglsum += a
        num += float((a * m).sum())
        den += float((a * a).sum())
        # The view's angle rule, inverted numerically: find θ with angle_op(θ) = predicted.
        theta_view = math.atan2(out["direction"][0, 0], out["direction"][0, 1])
        grid = np.linspace(0, 2 * math.pi, 3601)
        errs = [angle_difference(angle_op(t), theta_view) for t in grid]
        vec += angle_to_direction(grid[int(np.argmin(errs))])
    np.testing.assert_allclose(got["agl"][0, 0], aglsum / 8, atol=1e-4)
    np.testing.assert_allclose(got["scale"][0], num / den, rtol=1e-4)
    assert angle_difference(got["angle"][0], math.atan2(vec[0], vec[1])) < 2e-3
    # The agreement is the length of the mean re-aligned unit direction.
    np.testing.assert_allclose(got["direction_agreement"][0], np.hypot(*vec) / 8, atol=2e-3)


def test_direction_agreement_is_one_for_one_view_and_invariant_under_d4(
    tiny_model: torch.nn.Module,
) -> None:
    image, gsd = _tile(seed=8)
    single = _predict(TTAModel(tiny_model, "none"), image, gsd)
    np.testing.assert_allclose(single["direction_agreement"], [1.0], atol=1e-6)
    tta = TTAModel(tiny_model, "d4")
    base = _predict(tta, image, gsd)["direction_agreement"][0]
    rot = _predict(tta, torch.rot90(image, 1, dims=(-2, -1)), gsd)["direction_agreement"][0]
    assert 0.0 <= base <= 1.0
    assert rot == pytest.approx(base, abs=1e-4)


def test_constant_direction_model_has_no_agreement_under_d4(
    tiny_model: torch.nn.Module,
) -> None:
    """A model that ignores the image for its direction: the eight re-aligned views
    point eight ways and cancel, so the agreement is 0 (and 1 without TTA)."""

    class FixedDirection(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, image: torch.Tensor, gsd: torch.Tensor) -> dict[str, torch.Tensor]:
            out = dict(self.inner(image, gsd))
            d = torch.tensor([[0.6, 0.8]]).expand(image.shape[0], 2)
            out["direction"] = d
            return out

    image, gsd = _tile(seed=9)
    fixed = FixedDirection(tiny_model)
    d4 = _predict(TTAModel(fixed, "d4"), image, gsd)["direction_agreement"][0]
    none = _predict(TTAModel(fixed, "none"), image, gsd)["direction_agreement"][0]
    assert d4 == pytest.approx(0.0, abs=1e-6)
    assert none == pytest.approx(1.0, abs=1e-6)
