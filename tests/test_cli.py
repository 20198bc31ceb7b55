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


def test_every_verb_has_help_and_debug(capsys: pytest.CaptureFixture[str]) -> None:
    from geopose.cli import VERBS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    import importlib

    for verb in VERBS:
        # a module may name its verb itself (VERB): ``import`` is a Python keyword
        name = getattr(importlib.import_module(f"geopose.commands.{verb}"), "VERB", None)
        assert (name or verb.replace("_", "-")) in sub.choices or verb in sub.choices
    for name, verb_parser in sub.choices.items():
        assert "--debug" in verb_parser._option_string_actions, name
        assert main([name, "--help"]) == 0
    assert "usage" in capsys.readouterr().out


def test_errors_are_one_line_without_traceback(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "/no/such/folder"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "/no/such/folder" in err
