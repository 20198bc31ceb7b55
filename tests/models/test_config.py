"""Model specs: JSON round trip, clear errors for unknown fields, versions and names."""

from __future__ import annotations

import json

import pytest

from geopose.errors import UsageError
from geopose.models import (
    MODEL_SPEC_VERSION,
    InputConvention,
    ModelSpec,
    get_preset,
    list_presets,
    register_preset,
)


@pytest.mark.parametrize("name", list_presets())
def test_presets_round_trip_through_json(name: str) -> None:
    cfg = get_preset(name)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["version"] == MODEL_SPEC_VERSION
    assert ModelSpec.from_dict(data) == cfg


def test_unknown_version_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["version"] = 99
    with pytest.raises(UsageError, match=r"version 99 is unknown"):
        ModelSpec.from_dict(data)


def test_unknown_top_level_and_input_fields_are_named() -> None:
    data = get_preset("tiny").to_dict()
    data["activation"] = "silu"
    with pytest.raises(UsageError, match=r"model spec has unknown field.*activation"):
        ModelSpec.from_dict(data)
    data = get_preset("tiny").to_dict()
    data["input"]["chanel_order"] = "BGR"
    with pytest.raises(UsageError, match=r"input has unknown field.*chanel_order"):
        ModelSpec.from_dict(data)


def test_a_spec_without_input_section_takes_the_default_convention() -> None:
    data = get_preset("tiny").to_dict()
    del data["input"], data["version"]
    spec = ModelSpec.from_dict(data)
    assert spec.input == InputConvention()
    assert not spec.input.is_resolved


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channel_order": "GBR"}, "channel_order 'GBR'"),
        ({"mean": (0.5, 0.5, 0.5)}, "both mean and std"),
        ({"mean": (0.5, 0.5), "std": (1.0, 1.0)}, "mean must be 3 finite numbers"),
        ({"mean": (0.5, 0.5, 0.5), "std": (1.0, 0.0, 1.0)}, "std must be positive"),
        ({"value_range": 100.0}, "value_range 100.0"),
        ({"resolution_factor": 0}, "resolution_factor 0"),
        ({"resolution_factor": float("nan")}, "resolution_factor nan"),
        ({"downsample": "cubic"}, "downsample 'cubic'"),
        ({"upsample": "area"}, "upsample 'area'"),
    ],
)
def test_bad_input_conventions_are_named(fields: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        InputConvention(**fields)


def test_unknown_field_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["decoder"]["chanels"] = [1]
    with pytest.raises(UsageError, match=r"decoder has unknown field.*chanels"):
        ModelSpec.from_dict(data)


def test_unknown_head_kind_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["heads"][0]["kind"] = "segmentation"
    with pytest.raises(UsageError, match="segmentation"):
        ModelSpec.from_dict(data)


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
