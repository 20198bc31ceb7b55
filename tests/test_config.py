"""Typed config: YAML + key=value overrides, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from geopose.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
)


def test_defaults_round_trip_through_dict() -> None:
    config = Config()
    again = config_from_dict(config_to_dict(config))
    assert again == config


def test_yaml_then_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochs": 3, "batch_size": 8}, "optim": {}}))
    config = load_config(path, ["train.epochs=7", "optim.lr=3e-4", "model.weights=null"])
    assert config.train.epochs == 7
    assert config.train.batch_size == 8
    assert config.optim.lr == pytest.approx(3e-4)
    assert isinstance(config.optim.lr, float)
    assert config.model.weights is None


def test_base_config_is_extended_by_overrides() -> None:
    base = config_to_dict(load_config(None, ["train.max_steps=30"]))
    extended = load_config(None, ["train.max_steps=60"], base=base)
    assert extended.train.max_steps == 60


def test_unknown_key_names_itself_and_nearest() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'train\.epoch'.*'epochs'"):
        load_config(None, ["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"unknown section 'trian'.*'train'"):
        load_config(None, ["trian.epochs=3"])


def test_bad_choice_names_allowed_values() -> None:
    with pytest.raises(ConfigError, match=r"train\.precision.*'fp32', 'bf16', 'fp16'"):
        load_config(None, ["train.precision=fp8"])
    with pytest.raises(ConfigError, match=r"data\.split.*'city-stratified', 'group'"):
        load_config(None, ["data.split=random"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=three", "expected an integer"),
        ("train.batch_size=0", "must be positive"),
        ("data.fold=5", "outside 0..4"),
        ("train.channels_last=maybe", "expected true or false"),
        ("train=5", "needs a section"),
        ("noequals", "section.key=value"),
    ],
)
def test_bad_values_are_reported(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("train:\n  epocs: 2\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: unknown key 'train\.epocs'"):
        load_config(wrong)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_loss_terms_can_be_overridden_per_parameter() -> None:
    config = load_config(None, ["loss.terms.agl_huber.delta=4", "loss.terms.scale_mse.weight=0"])
    assert config.loss.terms["agl_huber"]["delta"] == 4
    assert config.loss.terms["scale_mse"]["weight"] == 0
    assert "mag_huber" in config.loss.terms
