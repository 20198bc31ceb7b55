"""The published checkpoints of the 2021 challenge: recognise a file, map its keys strictly.

Four source formats are recognised (the contents, not the file name, decide):

- **2nd place, best** (``*_best.pth``, Catalyst): ``{model_state_dict,
  checkpoint_data: {config: {model, train, ...}}, epoch_metrics, valid_metrics, epoch,
  stage_name ...}``; the network is named by ``config.model.config.slug``.
- **2nd place, train** (``*_train.NN.pth``): the same plus Catalyst's runner fields
  (``loader_name``, ``global_epoch``, ``main_metric`` ...).
- **1st place**: ``{epoch, state_dict, metrics: {r2}}`` saved from the DDP wrapper (keys
  start with ``module.``); the network is ``TimmUnet("tf_efficientnetv2_l_in21k")``.
- **official baseline**: a plain state dict of ``UnetVFLOW("resnet34")``.

Each published network has a manifest (package data, ``models/manifests/*.json``): every
state-dict entry as ``[name, shape, dtype]`` in order. A file's state dict must hold
exactly the manifest's names with its shapes — a missing, unexpected or misshapen key is
an error naming it — and is then renamed, by position, to the keys of the geopose preset
that reproduces the network (:mod:`geopose.models.peers`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from geopose.errors import DataError
from geopose.models.peers import reorder_manifest
from geopose.models.weights import key_problems


@dataclass(frozen=True)
class PublishedNetwork:
    """A published network: its manifest, the preset reproducing it, and its input convention.

    ``preset`` is None when no geopose preset reproduces it yet. ``convention`` holds
    ``channel_order`` ("RGB"/"BGR"), ``mean``/``std`` (applied to the channels in the
    network's order, values in [0, 1]) and ``resolution_factor`` (network pixels per
    input pixel); ``raw_dense`` means its AGL and magnitude heads have no final ReLU.
    ``key_order``: the authors' key prefixes in the order the preset holds the same
    tensors (empty: the manifest's own order), see :func:`manifest_in_preset_order`.
    """

    name: str
    team: str
    manifest: str
    preset: str | None
    convention: dict[str, Any]
    raw_dense: bool = False
    published: str = ""
    key_order: tuple[str, ...] = ()


_IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

#: The published networks by their authors' names.
NETWORKS: dict[str, PublishedNetwork] = {
    n.name: n
    for n in (
        PublishedNetwork(
            "b7_unet",
            "2nd place",
            "b7_unet_manifest.json",
            "b7-unet",
            {"channel_order": "BGR", **_IMAGENET, "resolution_factor": 1.0},
            published="GitHub release 1.0 of BloodAxe/DrivenData-2021-Geopose-Solution",
        ),
        PublishedNetwork(
            "b6_rdtsc_unet",
            "2nd place",
            "b6_rdtsc_unet_manifest.json",
            "b6-rdtsc-unet",
            {"channel_order": "BGR", **_IMAGENET, "resolution_factor": 1.0},
            published="GitHub release 1.0 of BloodAxe/DrivenData-2021-Geopose-Solution",
        ),
        PublishedNetwork(
            "timm_unet_v2l",
            "1st place",
            "timm_unet_v2l_manifest.json",
            "v2l-timm-unet",
            # Their Dataset: (image / 255 - 0.5) * 2 on gdal's RGB.
            {"channel_order": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "resolution_factor": 1.0},
            raw_dense=True,
            published="Dropbox links in the 1st place's Dockerfile (drivendataorg/"
            "overhead-geopose-challenge); NGA DataPort",
            # TimmUnet registers bottlenecks, decoder_stages (finest first), last_upsample,
            # heads, then the encoder; v2l-timm-unet: encoder, decoder blocks (coarsest
            # first, the last upsample's second conv last), upsample convs, heads.
            key_order=(
                "encoder.",
                "bottlenecks.",
                "last_upsample.layer.3.",
                "decoder_stages.3.",
                "decoder_stages.2.",
                "decoder_stages.1.",
                "decoder_stages.0.",
                "last_upsample.layer.1.",
                "xydir_head.",
                "height_head.",
                "mag_head.",
            ),
        ),
        PublishedNetwork(
            "baseline_unet_vflow",
            "official baseline",
            "baseline_unet_vflow_manifest.json",
            "r34-unet",
            {"channel_order": "RGB", **_IMAGENET, "resolution_factor": 0.5},
            raw_dense=True,
            published="Releases page of pubgeo/monocular-geocentric-pose",
        ),
    )
}


def importable_files(preset: str) -> list[str]:
    """The published checkpoints preset ``preset`` imports, as ``"TEAM NETWORK"``."""
    return [f"{n.team} {n.name}" for n in NETWORKS.values() if n.preset == preset]


#: Format names (what :func:`identify` reports).
FORMATS = ("2nd-place-best", "2nd-place-train", "1st-place", "baseline")

_EXPECTED = (
    "expected one of: a 2nd-place Catalyst checkpoint ({model_state_dict, checkpoint_data}), "
    "a 1st-place checkpoint ({epoch, state_dict, metrics}) or the baseline's plain "
    "UnetVFLOW(resnet34) state dict"
)


def read_manifest_resource(file: str) -> dict[str, Any]:
    """A manifest shipped with geopose (``models/manifests/FILE``), parsed."""
    text = resources.files("geopose.models").joinpath("manifests", file).read_text()
    manifest = json.loads(text)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("state_dict"), list):
        raise DataError(file, "not a state-dict manifest")
    return manifest


def manifest_in_preset_order(network: PublishedNetwork) -> dict[str, Any]:
    """The network's manifest with its entries in the order of its preset's state dict."""
    return reorder_manifest(read_manifest_resource(network.manifest), network.key_order)


@dataclass
class PublishedFile:
    """What a published checkpoint holds, after recognition.

    ``state`` is keyed by the authors' names (``module.`` prefixes removed) and has
    exactly the manifest's keys and shapes. ``metrics`` are the validation figures the
    file stores (plain floats); ``epoch`` is None when it stores none.
    """

    format: str
    network: PublishedNetwork
    state: dict[str, Tensor]
    epoch: int | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    downsample: int = 1

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description (for the import verb's report)."""
        return {
            "format": self.format,
            "team": self.network.team,
            "network": self.network.name,
            "preset": self.network.preset,
            "epoch": self.epoch,
            "metrics": self.metrics,
            "tensors": len(self.state),
            "input_convention": self.network.convention,
            "raw_dense_outputs": self.network.raw_dense,
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, Tensor) and value.numel() == 1:
        v = float(value.item())
        return v if math.isfinite(v) else None
    return None


def _flat_metrics(metrics: Any, prefix: str = "") -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if not isinstance(metrics, Mapping):
        return out
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_metrics(value, f"{name}/"))
        else:
            number = _number(value)
            if number is not None or value is None:
                out[name] = number
    return out


def _tensor_dict(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())
    )


def check_against_manifest(
    state: Mapping[str, Tensor], manifest: Mapping[str, Any], source: str | Path
) -> None:
    """DataError (naming ``source``) unless ``state`` has exactly the manifest's keys/shapes."""
    expected = {str(e[0]): tuple(int(d) for d in e[1]) for e in manifest["state_dict"]}
    problems = key_problems(expected, state, what="expected")
    if problems:
        name = manifest.get("model", "the published network")
        raise DataError(source, f"not {name}: " + "; ".join(problems))


def _second_place(obj: Mapping[str, Any], path: Path, arch: str | None) -> PublishedFile:
    data = obj.get("checkpoint_data")
    config = data.get("config") if isinstance(data, Mapping) else None
    model_cfg = config.get("model") if isinstance(config, Mapping) else None
    inner = model_cfg.get("config") if isinstance(model_cfg, Mapping) else None
    slug = inner.get("slug") if isinstance(inner, Mapping) else None
    name = arch or slug
    if not isinstance(name, str):
        raise DataError(path, "2nd-place checkpoint without checkpoint_data.config.model slug")
    if name not in NETWORKS or NETWORKS[name].team != "2nd place":
        known = ", ".join(k for k, n in NETWORKS.items() if n.team == "2nd place")
        raise DataError(path, f"2nd-place network {name!r} is not supported (known: {known})")
    train = config.get("train") if isinstance(config, Mapping) else None
    downsample = train.get("downsample", 1) if isinstance(train, Mapping) else 1
    if downsample != 1:
        raise DataError(path, f"trained with downsample={downsample}; only 1 is supported")
    train_fields = ("loader_name", "global_epoch", "main_metric")
    fmt = "2nd-place-train" if any(k in obj for k in train_fields) else "2nd-place-best"
    epoch = obj.get("epoch")
    return PublishedFile(
        format=fmt,
        network=NETWORKS[name],
        state=dict(obj["model_state_dict"]),
        epoch=int(epoch) if isinstance(epoch, int | np.integer) else None,
        metrics=_flat_metrics(obj.get("valid_metrics", {})),
    )


def _first_place(obj: Mapping[str, Any], path: Path) -> PublishedFile:
    state = dict(obj["state_dict"])
    prefixed = [k for k in state if k.startswith("module.")]
    if prefixed and len(prefixed) != len(state):
        raise DataError(path, "state_dict mixes 'module.'-prefixed and plain keys")
    if prefixed:
        state = {k[len("module.") :]: v for k, v in state.items()}
    epoch = obj.get("epoch")
    return PublishedFile(
        format="1st-place",
        network=NETWORKS["timm_unet_v2l"],
        state=state,
        epoch=int(epoch) if isinstance(epoch, int | np.integer) else None,
        metrics=_flat_metrics(obj.get("metrics", {})),
    )


def identify(obj: Any, path: str | Path, arch: str | None = None) -> PublishedFile:
    """Recognise a published checkpoint (as read by ``read_torch_pickle``) and check its keys.

    ``arch`` overrides the network named inside a 2nd-place file. Raises DataError
    naming ``path``: what was expected when the file is none of the four formats, or the
    missing/unexpected/misshapen keys when its state dict is not the network's.
    """
    path = Path(path)
    if not isinstance(obj, Mapping):
        raise DataError(path, f"holds a {type(obj).__name__}; {_EXPECTED}")
    if "model_state_dict" in obj and "checkpoint_data" in obj:
        if not _tensor_dict(obj["model_state_dict"]):
            raise DataError(path, "model_state_dict is not a name -> tensor mapping")
        found = _second_place(obj, path, arch)
    elif "state_dict" in obj and "epoch" in obj and "metrics" in obj:
        if not _tensor_dict(obj["state_dict"]):
            raise DataError(path, "state_dict is not a name -> tensor mapping")
        found = _first_place(obj, path)
    elif _tensor_dict(obj):
        baseline = read_manifest_resource(NETWORKS["baseline_unet_vflow"].manifest)
        known = {str(e[0]) for e in baseline["state_dict"]}
        if 2 * len(known.intersection(obj)) < len(known):
            raise DataError(path, f"a state dict of another network; {_EXPECTED}")
        found = PublishedFile(
            format="baseline", network=NETWORKS["baseline_unet_vflow"], state=dict(obj)
        )
    else:
        keys = ", ".join(sorted(str(k) for k in obj)[:8])
        raise DataError(path, f"unrecognised checkpoint (top-level keys: {keys}); {_EXPECTED}")
    if arch is not None and arch != found.network.name:
        raise DataError(path, f"--arch {arch} does not apply to a {found.format} file")
    check_against_manifest(found.state, read_manifest_resource(found.network.manifest), path)
    return found
