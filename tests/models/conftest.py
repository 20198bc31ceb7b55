"""Shared fixtures of the model tests: the peer manifests and a seeded tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import geopose  # noqa: F401  (installs the torchvision guard before timm is imported)
from geopose.models import GeoposeModel, create_model

PEERS = Path(__file__).parent / "peers"
#: Preset name → manifest file of the network it reproduces.
MANIFESTS = {
    "b7-unet": "b7_unet_manifest.json",
    "b6-rdtsc-unet": "b6_rdtsc_unet_manifest.json",
    "r34-unet": "baseline_unet_vflow_manifest.json",
}


@pytest.fixture(scope="session")
def manifests() -> dict[str, dict[str, Any]]:
    """Preset name → the manifest (parsed JSON) of the network it reproduces."""
    return {name: json.loads((PEERS / file).read_text()) for name, file in MANIFESTS.items()}


@pytest.fixture
def tiny() -> GeoposeModel:
    """The ``tiny`` preset with seeded random weights, in eval mode."""
    torch.manual_seed(0)
    return create_model("tiny").eval()
