"""Tests of geopose.rectification against scenes rendered by the ray rule and a per-pixel loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.rectification import RectifyResult, occlusion_mask, rectify

ROOF = np.array([200, 40, 40], dtype=np.uint8)
WALL = np.array([90, 90, 200], dtype=np.uint8)
FILL = (255, 0, 255)

# Axis-aligned angles: the flow direction d is a whole-pixel step (row, column).
AXIS_STEPS = {0.0: (1, 0), math.pi / 2: (0, 1), math.pi: (-1, 0), 3 * math.pi / 2: (0, -1)}


# ------------------------------------------------------------------ independent references
def naive_rectify(
    image: np.ndarray,
    agl: np.ndarray,
    scale: float,
    angle: float,
    max_hole: int,
    fill_color: tuple[int, ...],
) -> RectifyResult:
    """The documented rules, one pixel at a time in plain Python."""
    h, w = agl.shape
    dx, dy = math.sin(angle), math.cos(angle)
    winner: dict[tuple[int, int], tuple[float, int, int]] = {}
    for r in range(h):
        for c in range(w):
            a = float(agl[r, c])
            if not math.isfinite(a):
                continue
            m = a * scale
            tr, tc = r + round(m * dy), c + round(m * dx)
            if not (0 <= tr < h and 0 <= tc < w):
                continue
            if (tr, tc) not in winner or a > winner[tr, tc][0]:
                winner[tr, tc] = (a, r, c)
    out_img = np.empty_like(image)
    out_img[:] = np.array(fill_color, dtype=image.dtype)
    out_agl = np.full((h, w), np.nan, dtype=np.float32)
    for (tr, tc), (_, r, c) in winner.items():
        out_img[tr, tc] = image[r, c]
        out_agl[tr, tc] = agl[r, c]

    def unreached(r: int, c: int) -> bool:
        return 0 <= r < h and 0 <= c < w and (r, c) not in winner

    size = max_hole + 1
    occluded = np.zeros((h, w), dtype=bool)
    for r in range(h):
        for c in range(w):
            if not unreached(r, c):
                continue
            occluded[r, c] = any(
                all(unreached(i + y, j + x) for y in range(size) for x in range(size))
                for i in range(r - size + 1, r + 1)
                for j in range(c - size + 1, c + 1)
            )
    holes = [(r, c) for r in range(h) for c in range(w) if unreached(r, c) and not occluded[r, c]]
    filled = np.zeros((h, w), dtype=bool)
    for r, c in holes:
        filled[r, c] = True
    known = {(r, c) for r in range(h) for c in range(w) if not unreached(r, c)}
    rest: list[tuple[int, int]] = []
    while holes:
        before = set(known)
        rest = []
        for r, c in holes:
            best = None
            for y in (-1, 0, 1):
                for x in (-1, 0, 1):
                    n = (r + y, c + x)
                    if n in before and (best is None or out_agl[n] < out_agl[best]):
                        best = n
            if best is None:
                rest.append((r, c))
            else:
                out_img[r, c] = out_img[best]
                out_agl[r, c] = out_agl[best]
                known.add((r, c))
        if len(rest) == len(holes):
            break
        holes = rest
    for r, c in rest:  # nothing to fill from: occluded after all
        occluded[r, c], filled[r, c] = True, False
    return RectifyResult(out_img, out_agl, occluded, filled)


def render_oblique(
    ground: np.ndarray, heights: np.ndarray, scale: float, step: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Oblique (image, AGL) of a ground-level scene by the ray rule, for a whole-pixel step d.

    The point at height t above ground pixel g is imaged at g − t·scale·d; along one view
    ray the highest point is seen. So pixel q sees height j/scale for the largest j ≥ 0
    with heights[q + j·d] ≥ j/scale: ground (j = 0), a wall, or a roof (equality).
    """
    h, w = heights.shape
    image = ground.copy()
    agl = np.zeros((h, w), dtype=np.float32)
    top = math.ceil(np.max(heights) * scale)
    for r in range(h):
        for c in range(w):
            for j in range(top, 0, -1):
                gr, gc = r + j * step[0], c + j * step[1]
                if 0 <= gr < h and 0 <= gc < w and heights[gr, gc] * scale >= j:
                    agl[r, c] = j / scale
                    image[r, c] = ROOF if heights[gr, gc] * scale == j else WALL
                    break
    return image, agl


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 120, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------ ray-rule scenes
@pytest.mark.parametrize("angle", list(AXIS_STEPS))
def test_box_rectifies_to_its_footprint(angle: float) -> None:
    h, w, scale, lean = 40, 44, 0.5, 5  # roof leans 5 px: height 10 m at 0.5 px/m
    step = AXIS_STEPS[angle]
    footprint = np.zeros((h, w), dtype=bool)
    footprint[14:25, 15:29] = True
    heights = np.where(footprint, lean / scale, 0.0)
    ground = texture(h, w)
    image, agl = render_oblique(ground, heights, scale, step)
    # The oblique roof sits at footprint − lean·d (the scene is what we think it is).
    roof_seen = np.all(image == ROOF, axis=-1)
    np.testing.assert_array_equal(
        roof_seen, np.roll(footprint, (-lean * step[0], -lean * step[1]), axis=(0, 1))
    )

    result = rectify(image, agl, scale, angle, fill_color=FILL)

    np.testing.assert_array_equal(np.all(result.image == ROOF, axis=-1), footprint)
    np.testing.assert_array_equal(result.agl[footprint], lean / scale)
    # Ground the roof and walls hid in the oblique view: swept area minus footprint.
    swept = np.zeros_like(footprint)
    for j in range(lean + 1):
        swept |= np.roll(footprint, (-j * step[0], -j * step[1]), axis=(0, 1))
    hidden = swept & ~footprint
    np.testing.assert_array_equal(result.occluded, hidden)
    assert not result.filled.any()
    visible = ~swept
    np.testing.assert_array_equal(result.image[visible], ground[visible])
    np.testing.assert_array_equal(result.agl[visible], 0.0)
    assert np.isnan(result.agl[hidden]).all()
    np.testing.assert_array_equal(result.image[hidden], np.broadcast_to(FILL, (hidden.sum(), 3)))


def test_thin_occlusion_is_filled_not_occluded() -> None:
    h, w, scale, lean = 32, 32, 1.0, 2  # a 2 px strip hidden behind a 2 m box
    footprint = np.zeros((h, w), dtype=bool)
    footprint[12:20, 10:22] = True
    heights = np.where(footprint, float(lean), 0.0)
    image, agl = render_oblique(texture(h, w), heights, scale, (1, 0))
    result = rectify(image, agl, scale, 0.0)
    strip = np.zeros_like(footprint)
    strip[10:12, 10:22] = True
    np.testing.assert_array_equal(result.filled, strip)
    assert not result.occluded.any()
    assert np.isfinite(result.agl).all()
    # With max_hole=1 the same 2 px strip is too wide to fill.
    strict = rectify(image, agl, scale, 0.0, max_hole=1)
    np.testing.assert_array_equal(strict.occluded, strip)
    assert not strict.filled.any()


@pytest.mark.parametrize("angle", [0.7, 2.3, 4.0, 5.9])
def test_roof_lands_on_footprint_at_any_angle(angle: float) -> None:
    h, w, scale, height = 48, 48, 0.9, 7.3
    shift_r = round(height * scale * math.cos(angle))
    shift_c = round(height * scale * math.sin(angle))
    footprint = np.zeros((h, w), dtype=bool)
    footprint[18:30, 17:31] = True
    seen = np.roll(footprint, (-shift_r, -shift_c), axis=(0, 1))
    image = texture(h, w, 3)
    image[seen] = ROOF
    agl = np.where(seen, height, 0.0).astype(np.float32)
    result = rectify(image, agl, scale, angle)
    landed = np.all(result.image == ROOF, axis=-1) & ~result.filled
    np.testing.assert_array_equal(landed, footprint)
    np.testing.assert_allclose(result.agl[footprint], height, rtol=1e-6)


# ------------------------------------------------------------------ constructed cases
def test_taller_point_wins_a_collision() -> None:
    # scale 1 px/m, angle 0 (down): (5, 3) at 2 m and (6, 3) at 1 m both land on (7, 3),
    # where the ground pixel (7, 3) stays put.
    image = np.zeros((12, 8, 3), dtype=np.uint8)
    image[5, 3], image[6, 3], image[7, 3] = (10, 0, 0), (0, 20, 0), (0, 0, 30)
    agl = np.zeros((12, 8), dtype=np.float32)
    agl[5, 3], agl[6, 3] = 2.0, 1.0
    result = rectify(image, agl, 1.0, 0.0)
    np.testing.assert_array_equal(result.image[7, 3], (10, 0, 0))
    assert result.agl[7, 3] == 2.0
    # Heights swapped: (6, 3) at 2 m lands on (8, 3) and beats the ground there;
    # (5, 3) at 1 m lands on the (6, 3) it vacated; the ground (7, 3) stays.
    agl[5, 3], agl[6, 3] = 1.0, 2.0
    swapped = rectify(image, agl, 1.0, 0.0)
    np.testing.assert_array_equal(swapped.image[6, 3], (10, 0, 0))
    np.testing.assert_array_equal(swapped.image[8, 3], (0, 20, 0))
    np.testing.assert_array_equal(swapped.image[7, 3], (0, 0, 30))


def test_one_pixel_gap_is_filled_from_the_lowest_neighbour() -> None:
    h, w = 24, 24
    image = texture(h, w, 5)
    agl = np.zeros((h, w), dtype=np.float32)
    agl[10, 5:16] = 1.0  # moves down one row at 1 px/m, leaving row 10 cols 5–15 empty
    result = rectify(image, agl, 1.0, 0.0)
    gap = np.zeros((h, w), dtype=bool)
    gap[10, 5:16] = True
    np.testing.assert_array_equal(result.filled, gap)
    assert not result.occluded.any()
    np.testing.assert_array_equal(result.image[11, 5:16], image[10, 5:16])
    # Known neighbours: ground (0 m) above and at the ends, the moved row (1 m) below;
    # the lowest wins and row-major order puts the north-west neighbour first.
    np.testing.assert_array_equal(result.image[10, 5:16], image[9, 4:15])
    np.testing.assert_array_equal(result.agl[10, 5:16], 0.0)


def test_wide_gap_fills_in_passes_when_allowed() -> None:
    h, w = 20, 20
    image = texture(h, w, 6)
    agl = np.zeros((h, w), dtype=np.float32)
    agl[6:9, 4:14] = 3.0  # 3 rows move down 3 rows: a 3-row gap at rows 6–8
    gap = np.zeros((h, w), dtype=bool)
    gap[6:9, 4:14] = True
    default = rectify(image, agl, 1.0, 0.0)
    np.testing.assert_array_equal(default.occluded, gap)
    wide = rectify(image, agl, 1.0, 0.0, max_hole=3)
    np.testing.assert_array_equal(wide.filled, gap)
    assert not wide.occluded.any()
    # Inside the middle row (7) no neighbour is known in pass 1; in pass 2 it copies
    # the row above it (lowest, first in row-major order), which copied row 5.
    np.testing.assert_array_equal(wide.image[6, 4:14], image[5, 3:13])
    np.testing.assert_array_equal(wide.image[7, 5:13], image[5, 3:11])
    np.testing.assert_array_equal(wide.image[8, 5:13], image[6, 4:12])  # moved: 3 m


def test_zero_scale_is_identity_and_nodata_is_not_moved() -> None:
    rng = np.random.default_rng(2)
    image = texture(30, 26, 7)
    agl = rng.uniform(0, 30, (30, 26)).astype(np.float32)
    agl[3:13, 4:14] = np.nan  # a 10×10 no-data block
    agl[20, 20] = np.nan  # a single no-data pixel
    result = rectify(image, agl, 0.0, 1.0, fill_color=FILL)
    block = np.zeros((30, 26), dtype=bool)
    block[3:13, 4:14] = True
    np.testing.assert_array_equal(result.occluded, block)
    assert result.filled.sum() == 1
    assert result.filled[20, 20]
    keep = ~block
    keep[20, 20] = False
    np.testing.assert_array_equal(result.image[keep], image[keep])
    np.testing.assert_array_equal(result.agl[keep], agl[keep])
    np.testing.assert_array_equal(result.image[block], np.broadcast_to(FILL, (100, 3)))


def test_occlusion_mask_is_an_opening_inside_the_image() -> None:
    unreached = np.zeros((9, 9), dtype=bool)
    unreached[4, 4] = unreached[0, 8] = True
    unreached[6:9, 0:2] = True  # 2 px wide at the border: the outside does not count
    block = np.zeros_like(unreached)
    block[6:9, 0:2] = True
    np.testing.assert_array_equal(occlusion_mask(unreached, 0), unreached)
    np.testing.assert_array_equal(occlusion_mask(unreached, 1), block)
    assert not occlusion_mask(unreached, 2).any()
    unreached[6:9, 0:3] = block[6:9, 0:3] = True
    np.testing.assert_array_equal(occlusion_mask(unreached, 2), block)
    assert not occlusion_mask(unreached[:2], 2).any()  # image thinner than the window


def test_single_channel_image_and_input_checks() -> None:
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    agl = np.zeros((8, 8), dtype=np.float32)
    agl[0:2, 0:2] = 4.0  # moves 4 px right at angle π/2, scale 1
    result = rectify(image, agl, 1.0, math.pi / 2, max_hole=0, fill_color=-1.0)
    assert result.image.dtype == np.float32
    np.testing.assert_array_equal(result.image[0:2, 4:6], image[0:2, 0:2])
    np.testing.assert_array_equal(result.image[0:2, 0:2], -1.0)
    with pytest.raises(ValueError, match="does not match"):
        rectify(image[:, :7], agl, 1.0, 0.0)
    with pytest.raises(ValueError, match="scale"):
        rectify(image, agl, -1.0, 0.0)
    with pytest.raises(ValueError, match="max_hole"):
        rectify(image, agl, 1.0, 0.0, max_hole=-1)
    with pytest.raises(ValueError, match="fill_color"):
        rectify(texture(8, 8), agl, 1.0, 0.0, fill_color=(1, 2))
    with pytest.raises(ValueError, match="fill_color"):
        rectify(texture(8, 8), agl, 1.0, 0.0, fill_color=300)


# ------------------------------------------------------------------ equality with the loop
def random_scene(seed: int, h: int = 36, w: int = 44) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of random heights on noisy ground, some negative and no-data heights."""
    rng = np.random.default_rng(seed)
    agl = rng.normal(0.0, 0.4, (h, w)).astype(np.float32)
    for _ in range(5):
        r, c = rng.integers(0, h - 4), rng.integers(0, w - 4)
        agl[r : r + rng.integers(3, 12), c : c + rng.integers(3, 12)] = rng.uniform(1, 25)
    agl[rng.random((h, w)) < 0.03] = np.nan
    agl[rng.integers(0, h), :] = rng.uniform(0, 3, w)  # a sloping row: spreads apart
    return texture(h, w, seed), agl


@pytest.mark.parametrize(("seed", "max_hole"), [(0, 2), (1, 0), (2, 1), (3, 3), (4, 2), (5, 5)])
def test_vectorised_equals_naive_loop(seed: int, max_hole: int) -> None:
    image, agl = random_scene(seed)
    rng = np.random.default_rng(100 + seed)
    scale, angle = float(rng.uniform(0.2, 2.0)), float(rng.uniform(0, 2 * math.pi))
    got = rectify(image, agl, scale, angle, max_hole=max_hole, fill_color=FILL)
    want = naive_rectify(image, agl, scale, angle, max_hole, FILL)
    assert got.occluded.any() or max_hole == 5  # the scenes do exercise occlusion
    np.testing.assert_array_equal(got.occluded, want.occluded)
    np.testing.assert_array_equal(got.filled, want.filled)
    np.testing.assert_array_equal(got.image, want.image)
    np.testing.assert_array_equal(got.agl, want.agl)  # NaN positions must agree too


def test_half_pixel_flow_moves_rigidly() -> None:
    # A flow of exactly 0.5 px rounds to 0 for every pixel (np.rint: ties to even), so
    # equal heights never collide and nothing is lost.
    image = texture(10, 10, 9)
    agl = np.full((10, 10), 0.5, dtype=np.float32)
    result = rectify(image, agl, 1.0, math.pi / 2)
    np.testing.assert_array_equal(result.image, image)
    agl[:] = 1.5  # rounds to 2: a rigid 2 px shift right
    shifted = rectify(image, agl, 1.0, math.pi / 2, max_hole=0)
    np.testing.assert_array_equal(shifted.image[:, 2:], image[:, :-2])
    np.testing.assert_array_equal(shifted.occluded[:, :2], True)
