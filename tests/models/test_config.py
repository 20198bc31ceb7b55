"""Configs: JSON round trip, clear errors for unknown fields and names."""

from __future__ import annotations

import json

import pytest

from geopose.errors import UsageError
from geopose.models import ModelConfig, get_preset, list_presets, register_preset


@pytest.mark.parametrize(
    "name", ["tiny", "b0-unet", "b7-unet", "b6-rdtsc-unet", "v2l-unet", "r34-unet"]
)
def test_presets_round_trip_through_json(name: str) -> None:
    cfg = get_preset(name)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_unknown_field_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["decoder"]["chanels"] = [1]
    with pytest.raises(UsageError, match=r"decoder has unknown field.*chanels"):
        ModelConfig.from_dict(data)


def test_unknown_head_kind_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["heads"][0]["kind"] = "segmentation"
    with pytest.raises(UsageError, match="segmentation"):
        ModelConfig.from_dict(data)


def test_unknown_preset_lists_known_ones() -> None:
    with pytest.raises(UsageError, match="known: tiny"):
        get_preset("b99")


def test_register_preset_adds_a_config_by_name() -> None:
    data = get_preset("tiny").to_dict()
    data["name"] = "tiny-test-registered"
    if "tiny-test-registered" not in list_presets():
        register_preset(data)
    assert get_preset("tiny-test-registered").decoder == get_preset("tiny").decoder
    with pytest.raises(UsageError, match="already registered"):
        register_preset(data)
