"""Model specification: plain dataclasses that round-trip through JSON.

A model is ``input convention → encoder → decoder → heads`` (DESIGN.md §4). Each part is
described by a small frozen dataclass; a :class:`ModelSpec` bundles them and is
everything needed to rebuild the network (presets are named specs; a format-2
checkpoint stores its model's resolved spec). ``to_dict`` gives a JSON-serialisable dict
with a schema ``version`` and ``ModelSpec.from_dict`` reads it back, rejecting unknown
fields and unknown versions with a message naming them.

Channel counts are feature channels, strides are in input pixels, GSD is metres per
pixel, scale pixels per metre.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from geopose.errors import UsageError

#: Activations the blocks understand (names of ``torch.nn`` modules).
ACTIVATIONS = ("relu", "silu", "gelu", "leaky_relu")

#: Version of the ``ModelSpec.to_dict`` schema (the ``version`` key). Readers refuse a
#: newer one; version 1 is the schema introduced with checkpoint format 2.
MODEL_SPEC_VERSION = 1

#: Channel orders a network may expect its input in.
CHANNEL_ORDERS = ("RGB", "BGR")
#: Pixel value ranges a network may expect before its mean/std (1: [0, 1]; 255: [0, 255]).
VALUE_RANGES = (1.0, 255.0)
#: Resampling of the image when the network runs at another resolution.
DOWNSAMPLE_MODES = ("bilinear", "area", "nearest")
#: Resampling of the AGL and magnitude maps back to the input resolution.
UPSAMPLE_MODES = ("bilinear", "nearest")


@dataclass(frozen=True)
class InputConvention:
    """What the network expects to see; the model converts its input to it itself.

    A geopose model always takes RGB in [0, 1] (DESIGN.md §4). Before the encoder it
    reorders the channels to ``channel_order``, multiplies by ``value_range`` (1.0: the
    network saw values in [0, 1]; 255.0: in [0, 255]) and applies ``(x - mean) / std``,
    where ``mean[i]`` and ``std[i]`` belong to the i-th channel *as the network receives
    it* and are in the ``value_range`` scale. ``mean``/``std`` ``None`` means "the
    encoder's own" (timm's pretrained config); a built model and a saved checkpoint
    always hold the resolved numbers.

    ``resolution_factor``: the network runs on the image resized by this factor (0.5:
    the official baseline's ×2 downsampling), resampled with ``downsample``; the GSD it
    sees is divided by the factor, and its AGL map (m) is resized back with
    ``upsample``, its magnitude map (px) resized back and divided by the factor, and its
    scale (px/m) divided by the factor, so outputs are at the input's resolution and in
    its pixels.
    """

    channel_order: str = "RGB"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    value_range: float = 1.0
    resolution_factor: float = 1.0
    downsample: str = "bilinear"
    upsample: str = "bilinear"

    def __post_init__(self) -> None:
        if self.channel_order not in CHANNEL_ORDERS:
            raise UsageError(
                f"input convention: channel_order {self.channel_order!r} is not one of "
                f"{', '.join(CHANNEL_ORDERS)}"
            )
        if (self.mean is None) != (self.std is None):
            raise UsageError("input convention: give both mean and std, or neither")
        for key in ("mean", "std"):
            values = getattr(self, key)
            if values is None:
                continue
            ok = len(values) == 3 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in values
            )
            if not ok:
                raise UsageError(
                    f"input convention: {key} must be 3 finite numbers, got {values!r}"
                )
            if key == "std" and min(values) <= 0:
                raise UsageError(f"input convention: std must be positive, got {values!r}")
        if self.value_range not in VALUE_RANGES:
            raise UsageError(
                f"input convention: value_range {self.value_range!r} is not 1.0 or 255.0"
            )
        factor = self.resolution_factor
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise UsageError(
                f"input convention: resolution_factor must be a number, got {factor!r}"
            )
        if not (math.isfinite(factor) and 0 < factor <= 4):
            raise UsageError(f"input convention: resolution_factor {factor!r} must be in (0, 4]")
        if self.downsample not in DOWNSAMPLE_MODES:
            raise UsageError(
                f"input convention: downsample {self.downsample!r} is not one of "
                f"{', '.join(DOWNSAMPLE_MODES)}"
            )
        if self.upsample not in UPSAMPLE_MODES:
            raise UsageError(
                f"input convention: upsample {self.upsample!r} is not one of "
                f"{', '.join(UPSAMPLE_MODES)}"
            )

    @property
    def is_resolved(self) -> bool:
        """Whether the mean/std are explicit numbers (as a saved model needs them)."""
        return self.mean is not None and self.std is not None


@dataclass(frozen=True)
class EncoderConfig:
    """A timm backbone used with ``features_only``.

    ``name`` is the timm model string (optionally with a ``.tag`` naming its pretrained
    weights); ``out_indices`` picks its feature levels, finest first. Consecutive levels
    must differ in stride by a factor of 2.
    """

    name: str
    out_indices: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class DecoderConfig:
    """A UNet-style decoder.

    ``channels``: output channels of each decoder block, in the order they run (coarsest
    first); each block upsamples ×2, so the decoder's output stride is the encoder's
    deepest stride divided by ``2 ** len(channels)``. A block concatenates the encoder
    feature of its stride when there is one (blocks past the finest encoder level get
    no skip).
    ``block``: ``"conv"`` (two conv-BN-activation layers), ``"residual"`` (the
    residual block with depthwise-separable convolutions of "The Devil is in the
    Decoder" family) or ``"plain"`` (one 3×3 conv with bias → activation, no
    normalisation). ``upsample``: ``"bilinear"``, ``"nearest"`` or ``"rdtsc"``
    (transposed conv + bilinear residual averaging channel groups of 4; divides channels
    by 4). ``upsample_conv``: a 3×3 conv (bias) → activation to the level's width right
    after the upsampling, before the skip concatenation (with ``nearest`` and ``plain``:
    the 1st place's ``TimmUnet`` decoder).
    ``context``: windows (cells of the deepest encoder level, odd) whose mean features
    are appended to that level before the first block — a roof pixel far from any facade
    then sees the facades around it (:class:`geopose.models.decoder_unet.WindowContext`);
    ``context_channels`` per window. Empty (default): none.
    """

    kind: str = "unet"
    channels: tuple[int, ...] = (256, 128, 64, 32)
    block: str = "conv"
    upsample: str = "bilinear"
    activation: str = "relu"
    align_corners: bool = False
    upsample_conv: bool = False
    context: tuple[int, ...] = ()
    context_channels: int = 32

    def __post_init__(self) -> None:
        for window in self.context:
            if (
                isinstance(window, bool)
                or not isinstance(window, int)
                or window < 3
                or window % 2 == 0
            ):
                raise UsageError(f"decoder: context window {window!r} must be an odd integer >= 3")
        if self.context and self.context_channels < 1:
            raise UsageError(f"decoder: context_channels {self.context_channels} must be >= 1")


@dataclass(frozen=True)
class FPNDecoderConfig:
    """A feature-pyramid decoder: every encoder level projected to ``channels``, top-down
    sums, 3×3 smoothing, all levels fused at the finest encoder stride."""

    kind: str = "fpn"
    channels: int = 128
    activation: str = "relu"


@dataclass(frozen=True)
class DenseHeadConfig:
    """AGL (m) and magnitude (px) maps at output stride 1 (signed only with ``identity``).

    From the finest decoder map, ``log2(decoder stride)`` upsampling stages reach stride
    1; each stage is a 1×1 conv, a ×2 upsampling (``upsample``: ``"rdtsc"``, ``"deconv"``
    or ``"bilinear"``) that divides channels by 4, and optionally (``post_conv``) a 3×3
    conv-BN-activation. With ``shared_trunk`` both branches share the stages; otherwise
    each branch has its own. Each branch then has 3×3 convolutions of widths ``hidden``
    followed by a 3×3 conv to one channel and ``output_activation`` (``relu``,
    ``softplus``, or ``identity`` for raw signed maps as the official baseline's heads
    give; AGL files clamp at 0 when written). The GSD (m/px)
    enters the height branch as an extra constant channel at the input of its conv
    number ``height_gsd_at`` (``None``: no GSD input).

    ``output_stride`` (input pixels, a power of 2 at most the decoder's stride): the
    stride the branches predict at. 1 (default) runs the upsampling stages down to
    stride 1; a larger value runs ``log2(decoder stride / output_stride)`` stages only
    and resizes the predicted maps bilinearly to the image (the "simple bilinear
    upsampling" the 2nd place's write-up rejected; the ablation table measures it).
    """

    kind: str = "dense"
    magnitude: bool = True  # False: no magnitude branch (a later head provides ``mag``)
    height: bool = True  # False: no AGL branch (a later head derives ``agl`` from ``mag``)
    shared_trunk: bool = True
    upsample: str = "rdtsc"
    post_conv: bool = True
    hidden: tuple[int, ...] = (16,)
    height_gsd_at: int | None = 0
    dropout: float = 0.0
    activation: str = "relu"
    output_activation: str = "relu"
    output_scale: float = 1.0  # m (AGL) or px (magnitude) per unit of the last conv's output
    output_stride: int = 1  # px; > 1: predict coarser and resize the maps bilinearly

    def __post_init__(self) -> None:
        if not (self.height or self.magnitude):
            raise UsageError("dense head: needs at least one of height and magnitude")
        stride = self.output_stride
        if (
            isinstance(stride, bool)
            or not isinstance(stride, int)
            or stride < 1
            or stride & (stride - 1)
        ):
            raise UsageError(
                f"dense head: output_stride must be a power of 2 (1, 2, 4, ...), got {stride!r}"
            )
        if not (math.isfinite(self.output_scale) and self.output_scale > 0):
            raise UsageError(f"dense head: output_scale must be > 0, got {self.output_scale!r}")


@dataclass(frozen=True)
class OrientationHeadConfig:
    """Global-pooled MLP on the deepest encoder map → unit direction (dx, dy), angle (rad)."""

    kind: str = "orientation"
    hidden: tuple[int, ...] = ()
    dropout: float = 0.0
    activation: str = "relu"


@dataclass(frozen=True)
class DenseOrientationHeadConfig:
    """Per-pixel directions pooled with a softmax attention over |∇ predicted AGL|.

    A 3×3 conv (``hidden`` channels) and a 1×1 conv on the finest decoder map give a
    direction per pixel; pixels vote with weights ``softmax(t · |∇agl|)`` (``t`` a
    learned temperature per metre of height change per pixel, starting at
    ``temperature``), so building edges speak and flat ground does not.
    """

    kind: str = "dense_orientation"
    hidden: int = 32
    activation: str = "relu"
    temperature: float = 1.0


@dataclass(frozen=True)
class LeanOrientationHeadConfig:
    """Direction from the lean of facades: a per-pixel "lean" mask × the AGL gradient.

    A 3×3 conv (``hidden`` channels) and a 1×1 conv on the finest decoder map give logits
    of the pixels that show the lean (facades and other height ramps, see
    :class:`geopose.models.head_lean_orientation.LeanOrientationHead`); the direction is
    minus the mask-weighted sum of the predicted AGL's gradient (``source: agl``) or of
    the magnitude map's (``source: mag``; the same direction, as ``mag = agl · scale``
    with one scale per image), for models whose dense head predicts the magnitude only.
    """

    kind: str = "lean_orientation"
    hidden: int = 16
    activation: str = "relu"
    source: str = "agl"  # the map whose gradient gives the direction: "agl" or "mag"

    def __post_init__(self) -> None:
        if self.source not in ("agl", "mag"):
            raise UsageError(
                f"lean orientation head: source must be agl or mag, not {self.source!r}"
            )


@dataclass(frozen=True)
class ScaleHeadConfig:
    """Per-image least-squares scale (px/m): Σ mag·agl / Σ agl², in fp32.

    When Σ agl² (m²·px) is below ``min_den`` the image has almost no height and the
    scale is ``fallback`` (px/m) instead.
    """

    kind: str = "scale"
    min_den: float = 1e-2
    fallback: float = 0.0


@dataclass(frozen=True)
class GlobalScaleHeadConfig:
    """Scale (px/m) regressed per image from pooled features; ``mag = agl · scale``.

    The deepest encoder map (mean and max pooled) and the finest decoder map (mean
    pooled) go through an MLP of widths ``hidden`` to ``cot(satellite elevation)``, the
    lean in metres per metre of height (softplus, ≥ 0); ``scale = cot / GSD``. The
    magnitude map is the (detached) AGL times that scale, so a magnitude loss trains
    the scale alone, weighted by height as the metric weighs it, and least squares over
    the maps (TTA, windows, ensembles) gives back exactly this scale. With ``derive:
    agl`` the roles swap: the dense head predicts the magnitude (the visible lean, px)
    and the AGL is the (detached) magnitude divided by the scale, so the AGL loss trains
    the scale and the magnitude loss the lean.

    ``pool: attention`` reads the scale where the image shows it: a 3×3 conv of width
    ``hidden[0]`` on the finest decoder map gives every pixel an estimate of the log
    scale and a weight logit, and the image's log scale is the softmax-weighted mean of
    the estimates around ``log(init_cot / GSD)`` (a facade of known storeys or a house
    of typical height says how many px of lean a metre makes; a car park says nothing).
    ``map_trains_scale: false`` detaches the scale in the derived map, so only a scale
    loss trains it: with flattened heights the magnitude loss pulls the scale towards
    whatever makes low roofs lean far, not towards the truth.
    """

    kind: str = "global_scale"
    hidden: tuple[int, ...] = (64,)
    dropout: float = 0.0
    activation: str = "relu"
    init_cot: float = 0.3  # the output's value at initialisation (a typical lean)
    derive: str = "mag"  # "mag": mag = agl · scale; "agl": agl = mag / scale
    pool: str = "global"  # "global": MLP on pooled maps; "attention": see below
    map_trains_scale: bool = True  # the derived map's loss reaches the scale

    def __post_init__(self) -> None:
        if self.derive not in ("agl", "mag"):
            raise UsageError(f"global scale head: derive must be agl or mag, not {self.derive!r}")
        if self.pool not in ("global", "attention"):
            raise UsageError(
                f"global scale head: pool must be global or attention, not {self.pool!r}"
            )
        if self.pool == "attention" and len(self.hidden) != 1:
            raise UsageError(
                "global scale head: pool attention takes one hidden width (its 3x3 conv), "
                f"got hidden={list(self.hidden)}"
            )


HeadConfig = (
    DenseHeadConfig
    | OrientationHeadConfig
    | DenseOrientationHeadConfig
    | LeanOrientationHeadConfig
    | ScaleHeadConfig
    | GlobalScaleHeadConfig
)

#: Head config classes by their ``kind``.
HEAD_CONFIGS: dict[str, type[Any]] = {
    "dense": DenseHeadConfig,
    "orientation": OrientationHeadConfig,
    "dense_orientation": DenseOrientationHeadConfig,
    "lean_orientation": LeanOrientationHeadConfig,
    "scale": ScaleHeadConfig,
    "global_scale": GlobalScaleHeadConfig,
}
#: Decoder config classes by their ``kind``.
DECODER_CONFIGS: dict[str, type[Any]] = {"unet": DecoderConfig, "fpn": FPNDecoderConfig}


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: input convention, encoder, decoder and heads (run in this order).

    ``name`` is the preset it was made from (or any label); ``description`` free text.
    Everything that shapes the network's outputs is in here, so a model rebuilt from a
    spec with the same weights computes the same outputs.
    """

    name: str
    encoder: EncoderConfig
    decoder: DecoderConfig | FPNDecoderConfig
    heads: tuple[HeadConfig, ...]
    description: str = ""
    input: InputConvention = InputConvention()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists) with the schema ``version``."""
        return {"version": MODEL_SPEC_VERSION, **_jsonable(dataclasses.asdict(self))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Build from a dict as written by :meth:`to_dict` (``version`` optional; preset
        dicts leave it out). Unknown fields, a missing field or an unknown version raise
        UsageError naming it."""
        if not isinstance(data, Mapping):
            raise UsageError(f"model spec must be a mapping, got {type(data).__name__}")
        data = dict(data)
        version = data.pop("version", MODEL_SPEC_VERSION)
        if isinstance(version, bool) or version != MODEL_SPEC_VERSION:
            raise UsageError(
                f"model spec: version {version!r} is unknown to this geopose "
                f"(it reads version {MODEL_SPEC_VERSION})"
            )
        _check_fields(cls, data, "model spec")
        for key in ("name", "encoder", "decoder", "heads"):
            if key not in data:
                raise UsageError(f"model spec: missing field {key!r}")
        if not isinstance(data["heads"], list | tuple):
            raise UsageError("model spec: heads must be a list")
        heads = []
        for i, head in enumerate(data["heads"]):
            kind = head.get("kind") if isinstance(head, Mapping) else None
            if kind not in HEAD_CONFIGS:
                raise UsageError(
                    f"model spec: heads[{i}] has unknown kind {kind!r}; "
                    f"known: {', '.join(HEAD_CONFIGS)}"
                )
            heads.append(_build(HEAD_CONFIGS[kind], head, f"heads[{i}]"))
        dec = data["decoder"]
        dec_kind = dec.get("kind", "unet") if isinstance(dec, Mapping) else None
        if dec_kind not in DECODER_CONFIGS:
            raise UsageError(f"model spec: unknown decoder kind {dec_kind!r}")
        convention = data.get("input", {})
        return cls(
            name=str(data["name"]),
            encoder=_build(EncoderConfig, data["encoder"], "encoder"),
            decoder=_build(DECODER_CONFIGS[dec_kind], dec, "decoder"),
            heads=tuple(heads),
            description=str(data.get("description", "")),
            input=_build(InputConvention, convention, "input"),
        )


_T = TypeVar("_T")


def _check_fields(cls: type[Any], data: Mapping[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UsageError(f"model spec: {where} has unknown field(s) {', '.join(unknown)}")


def _build(cls: type[_T], data: Any, where: str) -> _T:
    if not isinstance(data, Mapping):
        raise UsageError(f"model spec: {where} must be a mapping, got {type(data).__name__}")
    _check_fields(cls, data, where)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field missing
        raise UsageError(f"model spec: {where}: {err}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
