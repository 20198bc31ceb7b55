"""Built-in model presets, as data.

``b7-unet``, ``b6-rdtsc-unet`` and ``r34-unet`` reproduce, tensor for tensor (same
shapes in the same order), the published 2nd-place networks and the official baseline,
and ``v2l-timm-unet`` the 1st place's (same shapes; its key order differs, see
:mod:`geopose.models.published`), so their trained weights can be loaded through a key
mapping (:mod:`geopose.models.peers`).
"""

from __future__ import annotations

from typing import Any

from geopose.models.config import ModelSpec

_SCALE: dict[str, Any] = {"kind": "scale"}

#: The demo's preset; the benchmark's variants of it change one part each.
_TINY_LEAN_GS: dict[str, Any] = {
    "name": "tiny-lean-gs",
    "description": "tiny-lean with the global scale head (scale regressed per image)",
    "encoder": {"name": "test_efficientnet"},
    "decoder": {"channels": [48, 32, 24, 16]},
    "heads": [
        {"kind": "dense", "hidden": [8], "magnitude": False},
        {"kind": "global_scale", "hidden": [64]},
        {"kind": "lean_orientation", "hidden": 16},
    ],
}

PRESETS: tuple[dict[str, Any], ...] = (
    {
        "name": "tiny",
        "description": "timm test_efficientnet UNet for tests and fast CPU runs",
        "encoder": {"name": "test_efficientnet"},
        "decoder": {"channels": [48, 32, 24, 16]},
        "heads": [
            {"kind": "dense", "hidden": [8]},
            _SCALE,
            {"kind": "orientation", "hidden": [64]},
        ],
    },
    {
        "name": "tiny-lean",
        "description": "tiny with the lean orientation head (direction read from facades)",
        "encoder": {"name": "test_efficientnet"},
        "decoder": {"channels": [48, 32, 24, 16]},
        "heads": [
            {"kind": "dense", "hidden": [8]},
            _SCALE,
            {"kind": "lean_orientation", "hidden": 16},
        ],
    },
    {
        "name": "small-lean",
        "description": "MobileNetV4-small UNet with the lean orientation head: 15x tiny's "
        "weights at about its CPU step time",
        "encoder": {"name": "mobilenetv4_conv_small"},
        "decoder": {"channels": [96, 64, 48, 32]},
        "heads": [
            {"kind": "dense", "hidden": [16]},
            _SCALE,
            {"kind": "lean_orientation", "hidden": 16},
        ],
    },
    _TINY_LEAN_GS,
    {
        "name": "tiny-lean-mag",
        "description": "tiny, lean first: the dense head predicts the lean (px), the AGL is "
        "lean / scale with the scale regressed per image",
        "encoder": {"name": "test_efficientnet"},
        "decoder": {"channels": [48, 32, 24, 16]},
        "heads": [
            {"kind": "dense", "hidden": [8], "height": False},
            {"kind": "lean_orientation", "hidden": 16, "source": "mag"},
            {"kind": "global_scale", "hidden": [64], "derive": "agl"},
        ],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-ctx",
        "description": "tiny-lean-gs whose deepest features get the mean features of 3x3 "
        "and 7x7 windows (96 and 224 px): roof pixels see the facades around them",
        "decoder": {**_TINY_LEAN_GS["decoder"], "context": [3, 7], "context_channels": 32},
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-sd",
        "description": "tiny-lean-gs whose scale only a scale loss trains (the magnitude "
        "loss does not reach it)",
        "heads": [
            _TINY_LEAN_GS["heads"][0],
            {"kind": "global_scale", "hidden": [64], "map_trains_scale": False},
            _TINY_LEAN_GS["heads"][2],
        ],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-att",
        "description": "tiny-lean-gs-sd whose scale is pooled by attention from per-pixel "
        "estimates on the finest decoder map (read where facades show it)",
        "heads": [
            _TINY_LEAN_GS["heads"][0],
            {
                "kind": "global_scale",
                "hidden": [16],
                "pool": "attention",
                "map_trains_scale": False,
            },
            _TINY_LEAN_GS["heads"][2],
        ],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-half",
        "description": "tiny-lean-gs run at half resolution: 4x the context per pixel of "
        "compute, so a crop sees a tall building's roof and its lean together",
        "input": {"resolution_factor": 0.5},
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-x10",
        "description": "tiny-lean-gs whose height output is in units of 10 m (tall roofs "
        "within reach of weights of order one)",
        "heads": [
            {"kind": "dense", "hidden": [8], "magnitude": False, "output_scale": 10.0},
            *_TINY_LEAN_GS["heads"][1:],
        ],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-bilinear",
        "description": "tiny-lean-gs whose height branch predicts at the decoder's stride 2 "
        "and is resized bilinearly to the image (no stride-1 stage; ablation)",
        "heads": [
            {"kind": "dense", "hidden": [8], "magnitude": False, "output_stride": 2},
            *_TINY_LEAN_GS["heads"][1:],
        ],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-lean-gs-nogsd",
        "description": "tiny-lean-gs without the GSD input to the height branch (ablation)",
        "heads": [
            {"kind": "dense", "hidden": [8], "magnitude": False, "height_gsd_at": None},
            *_TINY_LEAN_GS["heads"][1:],
        ],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-gs-pooled",
        "description": "tiny-lean-gs with the 2nd place's orientation head (MLP on the "
        "pooled deepest encoder map) instead of the lean head (ablation)",
        "heads": [*_TINY_LEAN_GS["heads"][:2], {"kind": "orientation", "hidden": [64]}],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-gs-dense-orient",
        "description": "tiny-lean-gs with the dense orientation head (per-pixel directions "
        "pooled by attention over the AGL gradient) instead of the lean head (ablation)",
        "heads": [*_TINY_LEAN_GS["heads"][:2], {"kind": "dense_orientation", "hidden": 16}],
    },
    {
        **_TINY_LEAN_GS,
        "name": "tiny-convnext-lean-gs",
        "description": "tiny-lean-gs on timm's test_convnext encoder (ConvNeXt blocks, "
        "stride-4 patch stem; about 1.1x the reference's CPU step time; ablation)",
        "encoder": {"name": "test_convnext", "out_indices": [0, 1, 2, 3]},
    },
    {
        "name": "small-lean-gs",
        "description": "small-lean with the global scale head (scale regressed per image)",
        "encoder": {"name": "mobilenetv4_conv_small"},
        "decoder": {"channels": [96, 64, 48, 32]},
        "heads": [
            {"kind": "dense", "hidden": [16], "magnitude": False},
            {"kind": "global_scale", "hidden": [64]},
            {"kind": "lean_orientation", "hidden": 16},
        ],
    },
    {
        "name": "regnet-lean",
        "description": "RegNetX-200MF UNet with the lean orientation head",
        "encoder": {"name": "regnetx_002"},
        "decoder": {"channels": [96, 64, 48, 32]},
        "heads": [
            {"kind": "dense", "hidden": [16]},
            _SCALE,
            {"kind": "lean_orientation", "hidden": 16},
        ],
    },
    {
        "name": "b0-unet",
        "description": "EfficientNet-B0 UNet, a real CPU-friendly model",
        "encoder": {"name": "efficientnet_b0.ra_in1k"},
        "decoder": {"channels": [256, 128, 64, 64], "activation": "silu"},
        "heads": [
            {"kind": "dense", "hidden": [16], "activation": "silu"},
            _SCALE,
            {"kind": "orientation", "hidden": [320], "dropout": 0.2, "activation": "silu"},
        ],
    },
    {
        "name": "b0-lean-gs",
        "description": "EfficientNet-B0 UNet with the lean orientation and global scale heads "
        "(the accuracy benchmark's GPU preset)",
        "encoder": {"name": "efficientnet_b0.ra_in1k"},
        "decoder": {"channels": [256, 128, 64, 64], "activation": "silu"},
        "heads": [
            {"kind": "dense", "hidden": [16], "activation": "silu", "magnitude": False},
            {"kind": "global_scale", "hidden": [128], "activation": "silu"},
            {"kind": "lean_orientation", "hidden": 32, "activation": "silu"},
        ],
    },
    {
        "name": "b7-unet",
        "description": "2nd place EfficientNet-B7 (noisy student) UNet, stride-1 AGL head with GSD",
        "encoder": {"name": "tf_efficientnet_b7.ns_jft_in1k"},
        "decoder": {
            "channels": [512, 384, 256, 192],
            "activation": "silu",
            "align_corners": True,
        },
        "heads": [
            {
                "kind": "dense",
                "shared_trunk": False,
                "post_conv": False,
                "hidden": [128, 128],
                "height_gsd_at": 1,
                "dropout": 0.2,
                "activation": "silu",
            },
            _SCALE,
            {"kind": "orientation", "hidden": [640], "dropout": 0.2, "activation": "silu"},
        ],
    },
    {
        "name": "b6-rdtsc-unet",
        "description": "2nd place EfficientNet-B6 residual-deconvolution UNet",
        "encoder": {"name": "tf_efficientnet_b6.ns_jft_in1k", "out_indices": [1, 2, 3, 4]},
        "decoder": {
            "channels": [512, 384, 256],
            "block": "residual",
            "upsample": "rdtsc",
            "activation": "silu",
        },
        "heads": [
            {"kind": "dense", "hidden": [16], "height_gsd_at": 0, "activation": "silu"},
            _SCALE,
            {"kind": "orientation", "hidden": [576], "dropout": 0.2, "activation": "silu"},
        ],
    },
    {
        "name": "v2l-unet",
        "description": "1st place style EfficientNetV2-L UNet",
        "encoder": {"name": "tf_efficientnetv2_l.in21k_ft_in1k"},
        "decoder": {"channels": [512, 256, 128, 64], "activation": "silu"},
        "heads": [
            {"kind": "dense", "hidden": [16], "activation": "silu"},
            _SCALE,
            {"kind": "orientation", "hidden": [640], "dropout": 0.2, "activation": "silu"},
        ],
    },
    {
        "name": "r34-unet",
        "description": "official baseline ResNet34 UNet (no GSD input)",
        "encoder": {"name": "resnet34.tv_in1k"},
        "decoder": {"channels": [256, 128, 64, 32, 16], "upsample": "nearest"},
        "heads": [
            {"kind": "orientation"},
            {"kind": "dense", "hidden": [], "height_gsd_at": None, "output_activation": "identity"},
            _SCALE,
        ],
    },
    {
        "name": "v2l-timm-unet",
        "description": "1st place TimmUnet(tf_efficientnetv2_l_in21k): plain-conv UNet decoder "
        "(upsample conv, skip concat, conv), heads at stride 1, no GSD input",
        "encoder": {"name": "tf_efficientnetv2_l.in21k"},
        "decoder": {
            "channels": [256, 192, 128, 64, 64],
            "block": "plain",
            "upsample": "nearest",
            "upsample_conv": True,
        },
        "heads": [
            {"kind": "orientation", "dropout": 0.5},
            {"kind": "dense", "hidden": [], "height_gsd_at": None, "output_activation": "identity"},
            _SCALE,
        ],
    },
)


def builtin_specs() -> list[ModelSpec]:
    """The built-in presets as specs."""
    return [ModelSpec.from_dict(p) for p in PRESETS]


def register_builtin() -> None:
    """Register the built-in presets once (later calls do nothing)."""
    from geopose.models import registry

    if getattr(register_builtin, "_done", False):
        return
    register_builtin._done = True  # type: ignore[attr-defined]
    for cfg in builtin_specs():
        registry.register_preset(cfg)
