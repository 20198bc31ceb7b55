"""Turn a recognised published checkpoint into a geopose model (format-2 checkpoint).

:func:`import_published` reads the file safely (:mod:`geopose.models.safe_pickle`),
recognises it (:mod:`geopose.models.published`), builds the preset that reproduces the
network with the network's input convention (channel order, mean/std, resolution
factor) in its spec, maps the keys strictly and writes a format-2 checkpoint carrying
the architecture, the convention and the provenance (source sha256, epoch, stored
validation metrics).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from geopose.checkpoint import Provenance
from geopose.errors import DataError
from geopose.models.config import InputConvention, ModelSpec
from geopose.models.factory import create_model
from geopose.models.peers import load_peer_state_dict
from geopose.models.published import PublishedFile, identify, manifest_in_preset_order
from geopose.models.registry import get_preset
from geopose.models.safe_pickle import read_torch_pickle
from geopose.models.saved import save_model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def imported_spec(found: PublishedFile, source: str | Path) -> ModelSpec:
    """The preset's spec with the published network's input convention."""
    network = found.network
    if network.preset is None:
        raise DataError(
            source,
            f"recognised {found.format} ({network.name}), but no geopose preset reproduces "
            "this network yet",
        )
    conv = network.convention
    nearest = conv["resolution_factor"] != 1.0  # the baseline resizes with INTER_NEAREST
    convention = InputConvention(
        channel_order=conv["channel_order"],
        mean=tuple(conv["mean"]),
        std=tuple(conv["std"]),
        value_range=1.0,
        resolution_factor=float(conv["resolution_factor"]),
        downsample="nearest" if nearest else "bilinear",
        upsample="nearest" if nearest else "bilinear",
    )
    preset = get_preset(network.preset)
    return dataclasses.replace(preset, name=f"{network.preset}-imported", input=convention)


def import_published(src: str | Path, out: str | Path, arch: str | None = None) -> PublishedFile:
    """Import published checkpoint ``src`` as geopose checkpoint ``out``; returns what it found."""
    src = Path(src)
    found = identify(read_torch_pickle(src), src, arch)
    spec = imported_spec(found, src)
    model = create_model(spec)
    load_peer_state_dict(model, found.state, manifest_in_preset_order(found.network), src)
    save_model(
        out,
        model,
        provenance=Provenance(
            source=src.name,
            sha256=_sha256(src),
            origin=f"{found.network.team}, {found.format} ({found.network.name}); "
            f"published: {found.network.published}",
            epoch=found.epoch,
            metrics=dict(found.metrics),
        ),
    )
    return found
