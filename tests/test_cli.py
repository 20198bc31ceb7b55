"""The `geopose` command: dispatch, exit codes and `python -m geopose`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from geopose.cli import main


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "geopose" in capsys.readouterr().out


def test_unknown_verb_is_a_usage_error() -> None:
    assert main(["no-such-verb"]) == 2


def test_python_dash_m_matches_console_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "geopose", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0
    assert out.stdout.startswith("geopose ")
    bad = subprocess.run(
        [sys.executable, "-m", "geopose", "no-such-verb"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
