"""The reproduced presets match the peers' manifests tensor for tensor."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from geopose.errors import DataError
from geopose.models import count_parameters, create_model
from geopose.models.peers import (
    load_peer_state_dict,
    manifest_shapes,
    model_shapes,
    peer_key_mapping,
    read_manifest,
)

REPRODUCED = ["b7-unet", "b6-rdtsc-unet", "r34-unet"]


@pytest.mark.parametrize("preset", REPRODUCED)
def test_state_dict_shapes_and_order_match_manifest(
    preset: str, manifests: dict[str, dict[str, Any]]
) -> None:
    manifest = manifests[preset]
    with torch.device("meta"):
        model = create_model(preset)
    ours = [shape for _, shape in model_shapes(model)]
    theirs = [tuple(entry[1]) for entry in manifest["state_dict"]]
    assert len(ours) == manifest["num_state_dict_entries"]
    assert ours == theirs
    assert count_parameters(model) == manifest["param_count"]


@pytest.mark.parametrize("preset", REPRODUCED)
def test_outputs_have_manifest_shapes(preset: str, manifests: dict[str, dict[str, Any]]) -> None:
    outputs = manifests[preset]["outputs_eval"]
    agl_key = "height_agl" if "height_agl" in outputs else "OUTPUT_AGL_MASK"
    with torch.device("meta"):
        model = create_model(preset).eval()
        out = model(torch.zeros(1, 3, 512, 512), torch.ones(1))
    assert tuple(out["agl"].shape) == tuple(outputs[agl_key]["shape"])
    assert tuple(out["direction"].shape) == (1, 2)


def test_peer_mapping_pairs_keys_in_order(manifests: dict[str, dict[str, Any]]) -> None:
    with torch.device("meta"):
        model = create_model("b6-rdtsc-unet")
    mapping = peer_key_mapping(model, manifests["b6-rdtsc-unet"])
    assert list(mapping.values()) == [k for k, _ in manifest_shapes(manifests["b6-rdtsc-unet"])]
    assert mapping["decoder.upsamples.0.conv.weight"] == "decoder.upsamples.0.conv.weight"
    assert mapping["heads.orientation.mlp.3.weight"] == "orientation_head.orientation.3.weight"


def test_mapping_rejects_other_network(manifests: dict[str, dict[str, Any]]) -> None:
    with torch.device("meta"):
        model = create_model("b7-unet")
    with pytest.raises(DataError, match="entries"):
        peer_key_mapping(model, manifests["r34-unet"], "baseline.json")


def test_load_state_dict_in_peer_names_strictly(manifests: dict[str, dict[str, Any]]) -> None:
    manifest = manifests["r34-unet"]
    # A synthetic checkpoint laid out by the baseline's names, every tensor distinct.
    state = {}
    for i, (name, shape) in enumerate(manifest_shapes(manifest)):
        dtype = torch.int64 if name.endswith("num_batches_tracked") else torch.float32
        state[name] = torch.full(shape, float(i), dtype=dtype)
    model = create_model("r34-unet")
    load_peer_state_dict(model, state, manifest)
    ours = model.state_dict()
    assert torch.equal(ours["encoder.net.conv1.weight"], state["encoder.conv1.weight"])
    assert torch.equal(ours["heads.orientation.mlp.1.weight"], state["xydir_head.3.weight"])
    assert torch.equal(ours["heads.dense.magnitude.convs.0.bias"], state["mag_head.0.bias"])
    del state["mag_head.0.bias"]
    state["mag_head.9.bias"] = torch.zeros(1)
    with pytest.raises(DataError, match=r"mag_head\.9\.bias"):
        load_peer_state_dict(model, state, manifest)


def test_read_manifest_names_bad_file(tmp_path: Any) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"no": 1}')
    with pytest.raises(DataError, match=r"x\.json"):
        read_manifest(bad)
