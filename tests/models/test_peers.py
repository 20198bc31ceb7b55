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
    reorder_manifest,
)
from geopose.models.published import NETWORKS, manifest_in_preset_order, read_manifest_resource

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


def test_v2l_timm_unet_is_the_first_places_network_key_for_key() -> None:
    # The 1st place registers its decoder before its encoder: the manifest regrouped by
    # the network's key order has our shapes in our order, and the pairs are the right ones.
    network = NETWORKS["timm_unet_v2l"]
    manifest = manifest_in_preset_order(network)
    with torch.device("meta"):
        model = create_model("v2l-timm-unet")
    assert len(manifest["state_dict"]) == manifest["num_state_dict_entries"] == 1566
    assert count_parameters(model) == manifest["param_count"]
    mapping = peer_key_mapping(model, manifest)
    pairs = {
        "encoder.net.conv_stem.weight": "encoder.conv_stem.weight",
        "decoder.blocks.0.conv.0.weight": "bottlenecks.0.seq.0.weight",
        "decoder.blocks.3.conv.0.bias": "bottlenecks.3.seq.0.bias",
        "decoder.blocks.4.conv.0.weight": "last_upsample.layer.3.weight",
        "decoder.upsample_convs.0.0.weight": "decoder_stages.3.layer.1.weight",
        "decoder.upsample_convs.3.0.bias": "decoder_stages.0.layer.1.bias",
        "decoder.upsample_convs.4.0.weight": "last_upsample.layer.1.weight",
        "heads.orientation.mlp.1.weight": "xydir_head.3.weight",
        "heads.dense.height.convs.0.weight": "height_head.0.weight",
        "heads.dense.magnitude.convs.0.bias": "mag_head.0.bias",
    }
    assert {k: mapping[k] for k in pairs} == pairs
    # In the manifest's own order the shapes do not line up.
    with pytest.raises(DataError, match="does not match"):
        peer_key_mapping(model, read_manifest_resource(network.manifest))


def test_reorder_manifest_groups_by_prefix_and_names_strays() -> None:
    manifest = {"state_dict": [["b.1", [1], "f"], ["a.1", [2], "f"], ["b.2", [3], "f"]]}
    assert [e[0] for e in reorder_manifest(manifest, ["a.", "b."])["state_dict"]] == [
        "a.1",
        "b.1",
        "b.2",
    ]
    assert reorder_manifest(manifest, [])["state_dict"] == manifest["state_dict"]
    with pytest.raises(ValueError, match=r"b\.1 matches none"):
        reorder_manifest(manifest, ["a."])
