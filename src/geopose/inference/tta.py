"""Test-time augmentation (TTA) as a model wrapper, de-augmented exactly.

Every view of a tile is one element of the dihedral group D4 acting on the image:
``view(x) = rot90(transpose^t(x), k)`` (``torch.rot90`` over the last two axes,
counter-clockwise like ``np.rot90``). A view maps a flow vector ``(dx, dy)`` (column,
row pixels) by a signed permutation matrix ``M``; its inverse undoes it.

All views of a batch run as **one** forward pass (views whose shape differs — the
rotations of a non-square tile — run as a second pass), split into chunks of at most
``max_batch`` images when asked, and automatically (halving the chunk) when a CUDA
device runs out of memory. De-augmentation:

- ``agl`` (m) and ``mag`` (px): the inverse image transform, then the mean over views;
- ``direction``: the inverse vector map ``Mᵀ d`` of each view, normalised, averaged,
  normalised again; ``angle`` from it;
- ``direction_agreement`` (B, in [0, 1]): the length of that average of unit vectors,
  1 when every view points the same way and near 0 when they scatter;
- ``scale`` (px/m): least-squares sums ``Σ mag·agl`` and ``Σ agl²`` of every
  de-augmented view, each view counted once, pooled, then divided
  (:func:`geopose.models.scale_from_sums`).

With mode ``d4`` the result is exactly equivariant (up to float summation order):
predicting ``rot90(x)`` gives ``rot90`` of the AGL predicted for ``x`` and the angle
plus π/2, and scale does not change.

The wrapper returns the model contract (``agl``, ``mag``, ``scale``, ``direction``,
``angle``) plus ``direction_agreement``, ``agl_var`` (m², the variance of AGL across
the views, accumulated stably by Welford's method) and ``scale_num`` (px·m) and
``scale_den`` (m²), the pooled sums, so that sliding windows can pool them further.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.models.direction import direction_to_angle, unit_direction
from geopose.models.head_scale import DEFAULT_MIN_DEN, scale_from_sums, scale_sums

#: TTA modes and the views each uses (names of :data:`D4_VIEWS`).
TTA_MODES: dict[str, tuple[str, ...]] = {
    "none": ("identity",),
    "flip": ("identity", "hflip"),
    "d2": ("identity", "hflip", "vflip", "rot180"),
    "d4": ("identity", "rot90", "rot180", "rot270", "transpose", "vflip", "transverse", "hflip"),
}


@dataclass(frozen=True)
class D4View:
    """One dihedral view: transpose (if ``transpose``) then ``rot90`` by ``k`` quarter turns."""

    name: str
    k: int
    transpose: bool

    def apply(self, x: Tensor) -> Tensor:
        """Transform images (…×H×W) into this view."""
        if self.transpose:
            x = x.transpose(-2, -1)
        return torch.rot90(x, self.k, dims=(-2, -1)) if self.k % 4 else x

    def invert(self, y: Tensor) -> Tensor:
        """Bring maps (…×H×W) predicted on this view back to the original frame."""
        if self.k % 4:
            y = torch.rot90(y, -self.k, dims=(-2, -1))
        return y.transpose(-2, -1) if self.transpose else y

    def matrix(self) -> Tensor:
        """2×2 map of (dx, dy) flow vectors into this view (float32)."""
        rot = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # rot90: (dx, dy) -> (dy, -dx)
        m = torch.linalg.matrix_power(rot, self.k % 4)
        if self.transpose:
            m = m @ torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        return m

    def invert_vectors(self, d: Tensor) -> Tensor:
        """Map B×2 (dx, dy) vectors predicted on this view back: ``Mᵀ d``."""
        m = self.matrix().to(device=d.device, dtype=torch.float32)
        return d.float() @ m  # row vectors: (Mᵀ d)ᵀ = dᵀ M


#: The eight elements of D4 by name.
D4_VIEWS: dict[str, D4View] = {
    "identity": D4View("identity", 0, False),
    "rot90": D4View("rot90", 1, False),
    "rot180": D4View("rot180", 2, False),
    "rot270": D4View("rot270", 3, False),
    "transpose": D4View("transpose", 0, True),
    "vflip": D4View("vflip", 1, True),
    "transverse": D4View("transverse", 2, True),
    "hflip": D4View("hflip", 3, True),
}


def tta_views(mode: str) -> tuple[D4View, ...]:
    """The views of a TTA mode (``none``, ``flip``, ``d2`` or ``d4``)."""
    if mode not in TTA_MODES:
        raise UsageError(f"tta {mode!r}: choose one of {', '.join(TTA_MODES)}")
    return tuple(D4_VIEWS[name] for name in TTA_MODES[mode])


def scale_head_limits(model: nn.Module) -> tuple[float, float]:
    """``(min_den m², fallback px/m)`` of a model's least-squares scale head (or defaults);
    a stand-in for a network (the ONNX backend's) carries them as ``scale_limits``."""
    limits = getattr(model, "scale_limits", None)
    if limits is not None:
        return float(limits[0]), float(limits[1])
    heads = getattr(model, "heads", None)
    head = heads["scale"] if heads is not None and "scale" in heads else None
    if head is None:
        return DEFAULT_MIN_DEN, 0.0
    return float(head.min_den), float(head.fallback)


def pad_to_multiple(image: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad B×C×H×W so H and W are multiples of ``multiple``, split evenly around the tile.

    Reflection padding (replicate where the tile is too small to reflect). Returns the
    padded tensor and the (top, left) offset of the original tile in it.
    """
    h, w = image.shape[-2], image.shape[-1]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image, (0, 0)
    top, left = ph // 2, pw // 2
    pads = (left, pw - left, top, ph - top)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return torch.nn.functional.pad(image, pads, mode=mode), (top, left)


class TTAModel(nn.Module):
    """Wrap a geopose model: ``forward(image, gsd)`` runs every view and de-augments.

    Args:
        model: a model with the DESIGN.md §4 contract.
        mode: ``none``, ``flip`` (identity + horizontal flip), ``d2`` (identity, both
            flips, rotation by 180°) or ``d4`` (all eight).
        max_batch: largest number of images per forward pass (views × tiles); ``None``
            runs all views of the batch at once.
        pad_multiple: tiles whose sides are not a multiple of this (px) are
            reflect-padded around all sides before the views are made, and the maps are
            cropped back before the scale sums. Default: the model's ``input_multiple``
            (its encoder's deepest stride over its input resolution factor), else 32.
    """

    def __init__(
        self,
        model: nn.Module,
        mode: str = "d4",
        max_batch: int | None = None,
        pad_multiple: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.mode = mode
        self.views = tta_views(mode)
        self.max_batch = max_batch
        if pad_multiple is None:
            pad_multiple = int(getattr(model, "input_multiple", 32))
        self.pad_multiple = pad_multiple
        self.min_den, self.fallback = scale_head_limits(model)

    def forward(self, image: Tensor, gsd: Tensor) -> dict[str, Tensor]:
        """``image`` B×3×H×W float RGB in [0, 1], ``gsd`` B (m/px) → de-augmented outputs."""
        batch, height, width = image.shape[0], image.shape[-2], image.shape[-1]
        gsd = gsd.reshape(-1)
        padded, (top, left) = pad_to_multiple(image, self.pad_multiple)
        outs = self._run_views(padded, gsd)
        agl = torch.zeros((batch, 1, height, width), dtype=torch.float32, device=image.device)
        running = torch.zeros_like(agl)  # Welford: running mean and sum of squared deviations
        sq_dev = torch.zeros_like(agl)
        mag = torch.zeros_like(agl)
        direction = torch.zeros((batch, 2), dtype=torch.float32, device=image.device)
        num = torch.zeros(batch, dtype=torch.float32, device=image.device)
        den = torch.zeros_like(num)
        for k, (view, out) in enumerate(zip(self.views, outs, strict=True), start=1):
            crop = (..., slice(top, top + height), slice(left, left + width))
            view_agl = view.invert(out["agl"].float())[crop]
            view_mag = view.invert(out["mag"].float())[crop]
            n, d = scale_sums(view_agl, view_mag)
            num, den = num + n, den + d
            agl, mag = agl + view_agl, mag + view_mag
            delta = view_agl - running
            running = running + delta / k
            sq_dev = sq_dev + delta * (view_agl - running)
            direction = direction + unit_direction(view.invert_vectors(out["direction"]))
        count = float(len(self.views))
        unit = unit_direction(direction)
        scale = scale_from_sums(num, den, min_den=self.min_den, fallback=self.fallback)
        return {
            "agl": agl / count,
            "agl_var": sq_dev / count,
            "mag": mag / count,
            "scale": scale,
            "direction": unit,
            "angle": direction_to_angle(unit),
            "direction_agreement": torch.linalg.vector_norm(direction, dim=1) / count,
            "scale_num": num,
            "scale_den": den,
        }

    def _run_views(self, image: Tensor, gsd: Tensor) -> list[dict[str, Tensor]]:
        """Model outputs of every view (in ``self.views`` order), batched by view shape."""
        batch = image.shape[0]
        groups: dict[tuple[int, ...], list[int]] = {}
        inputs = [view.apply(image) for view in self.views]
        for i, x in enumerate(inputs):
            groups.setdefault(tuple(x.shape), []).append(i)
        results: list[dict[str, Tensor] | None] = [None] * len(self.views)
        for members in groups.values():
            stacked = torch.cat([inputs[i] for i in members], dim=0)
            out = self._forward_chunked(stacked, gsd.repeat(len(members)))
            for j, i in enumerate(members):
                results[i] = {k: v[j * batch : (j + 1) * batch] for k, v in out.items()}
        return [r for r in results if r is not None]

    def _forward_chunked(self, images: Tensor, gsd: Tensor) -> dict[str, Tensor]:
        """Forward in chunks of ``max_batch`` images; on a CUDA out-of-memory error the
        chunk size is halved (and remembered) until it fits or is one image."""
        size = images.shape[0] if self.max_batch is None else max(1, self.max_batch)
        while True:
            try:
                parts = [
                    self.model(images[i : i + size], gsd[i : i + size])
                    for i in range(0, images.shape[0], size)
                ]
                break
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                size = max(1, size // 2)
                self.max_batch = size
                torch.cuda.empty_cache()
        if len(parts) == 1:
            return dict(parts[0])
        return {k: torch.cat([p[k] for p in parts], dim=0) for k in parts[0]}
