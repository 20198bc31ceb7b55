"""Key mapping to the published reference networks (the peers' state-dict manifests).

A manifest (JSON) lists every state-dict entry of a reference network as
``[name, shape, dtype]`` in order. The presets ``b7-unet``, ``b6-rdtsc-unet`` and
``r34-unet`` have the same shapes in the same order, so the i-th key of ours maps to the
i-th key of theirs; ``v2l-timm-unet`` has them in the order of the manifest regrouped by
key prefixes (:func:`reorder_manifest`). :func:`load_peer_state_dict` renames a state
dict laid out by the peer's names and loads it strictly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from geopose.errors import DataError
from geopose.models.weights import load_strict


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a peer manifest JSON; DataError naming the file if it is not one."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot read manifest: {err}") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("state_dict"), list):
        raise DataError(path, "not a state-dict manifest (no 'state_dict' list)")
    return manifest


def reorder_manifest(manifest: Mapping[str, Any], prefixes: Sequence[str]) -> dict[str, Any]:
    """The manifest with its entries grouped by ``prefixes``, in that order.

    Each entry goes to the first prefix its name starts with, keeping the manifest's
    order within a group; for a peer whose modules are registered in another order than
    geopose's (the 1st place registers its decoder before its encoder). Empty
    ``prefixes``: the manifest unchanged. ValueError names an entry no prefix matches.
    """
    if not prefixes:
        return dict(manifest)
    groups: list[list[Any]] = [[] for _ in prefixes]
    for entry in manifest["state_dict"]:
        name = str(entry[0])
        index = next((i for i, p in enumerate(prefixes) if name.startswith(p)), None)
        if index is None:
            raise ValueError(f"manifest entry {name} matches none of the key-order prefixes")
        groups[index].append(entry)
    return {**manifest, "state_dict": [e for group in groups for e in group]}


def manifest_shapes(manifest: Mapping[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of every state-dict entry of the manifest, in order."""
    return [(str(entry[0]), tuple(int(d) for d in entry[1])) for entry in manifest["state_dict"]]


def model_shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of every state-dict entry of ``model``, in order (meta works)."""
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def peer_key_mapping(
    model: nn.Module, manifest: Mapping[str, Any], source: str | Path = "manifest"
) -> dict[str, str]:
    """Our key → the peer's key, pairing entries by position; shapes must agree.

    Raises DataError (naming ``source``) at the first count or shape mismatch.
    """
    ours = model_shapes(model)
    theirs = manifest_shapes(manifest)
    if len(ours) != len(theirs):
        raise DataError(source, f"{len(theirs)} state-dict entries, model has {len(ours)}")
    for i, ((our_key, our_shape), (their_key, their_shape)) in enumerate(
        zip(ours, theirs, strict=True)
    ):
        if our_shape != their_shape:
            raise DataError(
                source,
                f"entry {i}: {their_key} {their_shape} does not match {our_key} {our_shape}",
            )
    return {o[0]: t[0] for o, t in zip(ours, theirs, strict=True)}


def load_peer_state_dict(
    model: nn.Module,
    state: Mapping[str, Tensor],
    manifest: Mapping[str, Any],
    source: str | Path = "peer weights",
) -> None:
    """Load a state dict keyed by the peer's names into ``model``, strictly."""
    to_ours = {theirs: ours for ours, theirs in peer_key_mapping(model, manifest, source).items()}
    unknown = [k for k in state if k not in to_ours]
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        raise DataError(source, f"unexpected keys: {shown} ({len(unknown)} in all)")
    load_strict(model, {to_ours[k]: v for k, v in state.items()}, source)
