"""The examples in the public API's docstrings run (those not marked ``+SKIP``, which
need files of the user's)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import geopose
import geopose.api

MODULES = ("model", "result", "data", "evaluation", "ground", "training")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"geopose.api.{name}")
    result = doctest.testmod(
        module, extraglobs={"geopose": geopose, "np": np}, optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0


def test_every_public_name_has_an_example() -> None:
    for name in geopose.api.__all__:
        doc = getattr(geopose.api, name).__doc__ or ""
        assert "Example:" in doc, f"geopose.{name} has no example"
        assert ">>> " in doc, f"geopose.{name}'s example has no code"
