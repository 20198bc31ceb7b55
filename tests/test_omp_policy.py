"""geopose sets passive OpenMP waiting before torch loads, unless the user chose a policy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "import os, geopose; print(os.environ['OMP_WAIT_POLICY'])"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_wait_policy_is_passive_unless_set(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_policy_is_set_before_geopose_imports_torch() -> None:
    import geopose

    with open(geopose.__file__, encoding="utf-8") as source:
        text = source.read()
    assert text.index("OMP_WAIT_POLICY") < text.index("_torchvision_guard")
