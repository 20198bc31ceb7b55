"""The benchmark runner's table: every numeric figure of a script's JSON gets a row."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flatten_names_rows_of_lists_by_their_text_fields() -> None:
    run_all = _run_all()
    figures = {
        "modes": [
            {"tta": "d4", "precision": "bf16", "tiles_per_s": 4.5},
            {"tta": "none", "precision": "fp32", "tiles_per_s": 30.0},
        ],
        "presets": {"tiny": {"fp32": {"images_per_s": 12.0, "peak_mem_mb": None}}},
        "plain": [1.5, 2.5],
        "flag": True,
    }
    flat = run_all.flatten(figures)
    assert flat == {
        "modes.d4/bf16.tiles_per_s": 4.5,
        "modes.none/fp32.tiles_per_s": 30.0,
        "presets.tiny.fp32.images_per_s": 12.0,
        "plain.0": 1.5,
        "plain.1": 2.5,
    }
    assert run_all.is_figure("modes.d4/bf16.tiles_per_s")
    assert run_all.is_figure("presets.tiny.fp32.images_per_s")
    assert run_all.is_figure("ms_per_sample.medium.mean")
    assert not run_all.is_figure("tile_px")
    assert not run_all.is_figure("target_ms_medium")


def test_every_speed_script_has_arguments_for_full_and_quick_runs() -> None:
    run_all = _run_all()
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*_speed.py")}
    assert scripts == set(run_all.FULL_ARGS) == set(run_all.QUICK_ARGS)


def test_every_benchmark_recipe_loads_and_names_a_registered_preset() -> None:
    """The benchmark's recipes (CPU and GPU) stay valid as configs and presets change."""
    from geopose.config import load_config
    from geopose.models import get_preset

    recipes = sorted((ROOT / "benchmarks" / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        config = load_config(path)
        assert config.model.preset is not None, path
        get_preset(config.model.preset)
