"""The benchmark runner's table: every numeric figure of a script's JSON gets a row."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_all() -> ModuleType:
    return _script("run_all")


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


def test_the_side_by_side_speed_benchmark_says_why_it_skips(tmp_path: Path) -> None:
    """Without the 2nd place's sources or environment it prints one JSON line naming
    what is missing and exits 0 (CI has neither)."""
    import json
    import subprocess
    import sys

    missing = tmp_path / "no-sources"
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "predict_vs_peer.py"), "--sources",
         str(missing), "--peer-python", str(tmp_path / "no-python")],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert str(missing / "bloodaxe") in result["skipped"]
    assert str(tmp_path / "no-python") in result["skipped"]


def test_training_tiles_give_the_first_tiles_of_each_city_with_their_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generalisation gap scores training tiles as the held-out set is scored: each
    city's first tiles, with the labels the training run read."""
    from geopose.data.synth import write_dataset
    from geopose.io import load_sample, open_layout
    from geopose.io.layout import TRAIN

    accuracy = _script("accuracy")
    monkeypatch.setattr(accuracy, "DATA", tmp_path)
    with pytest.raises(SystemExit, match="train-3 does not exist"):
        next(accuracy.training_tiles(3))
    write_dataset(tmp_path / "train-3", accuracy.CITIES, 3, 0, 32, seed=5)
    got = list(accuracy.training_tiles(3, first=2))
    assert [s["city"] for s in got].count("ATL") == 2
    assert sorted({s["city"] for s in got}) == sorted(accuracy.CITIES)
    assert len(got) == 2 * len(accuracy.CITIES)
    every = {s["id"]: s for s in map(load_sample, open_layout(tmp_path / "train-3").entries(TRAIN))}
    for s in got:
        assert np.array_equal(s["agl"], every[s["id"]]["agl"], equal_nan=True)
        assert s["scale"] == every[s["id"]]["scale"]


def test_the_scaling_curve_takes_only_runs_that_differ_in_compute() -> None:
    accuracy = _script("accuracy")

    def run(steps: int, seed: int, *changes: str, **extra: object) -> dict:
        score = {"value": steps / 1e4, "low": steps / 1e4 - 0.01, "high": steps / 1e4 + 0.01}
        return {"kind": "run", "recipe": "demo", "device": None, "train_tiles_per_city": 128,
                "overrides": ["train.precision=fp32", *changes], "steps": steps, "seed": seed,
                "score": score, **extra}  # fmt: skip

    results = [
        run(3000, 0, "model.preset=tiny-lean-gs"),
        run(1500, 0, "model.preset=tiny-lean-gs"),
        run(1500, 1, "model.preset=tiny-lean-gs"),
        run(750, 0, "model.preset=small-lean-gs", device="cpu"),
        run(1500, 0, "model.preset=tiny-lean-gs", "train.crop_size=256"),  # another change
        run(1500, 0, "model.preset=tiny-lean-gs", train_tiles_per_city=512),
        run(1500, 0, "model.preset=tiny-lean-gs", device="cuda"),
        run(1500, 0, "loss.terms.agl_huber.tall_m=10"),
        {"kind": "eval", "score": {}},
    ]
    points = accuracy.curve_points(results)
    assert list(points) == [("small-lean-gs", 0), ("tiny-lean-gs", 0), ("tiny-lean-gs", 1)]
    assert [p[0] for p in points[("tiny-lean-gs", 0)]] == [1500, 3000]
    assert points[("tiny-lean-gs", 0)][0] == pytest.approx((1500, 0.15, 0.14, 0.16))


def test_scale_report_tells_a_constant_cot_head_from_one_that_reads_the_image() -> None:
    accuracy = _script("accuracy")
    rng = np.random.default_rng(0)
    gsd = rng.uniform(0.3, 0.4, 50)
    truth = rng.uniform(0.1, 0.6, 50) / gsd  # cot / gsd
    constant = 0.35 / gsd  # one cot for the city, divided by the GSD it is given
    report = accuracy.scale_report(
        [("ARG", g, t, p) for g, t, p in zip(gsd, truth, constant, strict=True)]
        + [("OMA", g, t, t) for g, t in zip(gsd, truth, strict=True)]
    )
    arg, oma = report["ARG"], report["OMA"]
    assert arg["tiles"] == 50
    assert arg["corr_pred_true"] == pytest.approx(arg["corr_inv_gsd_true"])
    assert arg["pred_sd"] < 0.5 * arg["true_sd"]
    assert arg["abs_error"] >= 0.9 * arg["abs_error_city_mean"]
    assert oma["corr_pred_true"] == pytest.approx(1.0)
    assert oma["abs_error"] == 0.0
    assert oma["true_mean"] == pytest.approx(float(truth.mean()))
    # A constant prediction has no correlation to report, rather than a NaN.
    flat = accuracy.scale_report([("JAX", 0.3, t, 1.0) for t in truth])
    assert flat["JAX"]["corr_pred_true"] is None


def test_compare_pairs_two_sets_of_checkpoints_on_the_held_out_tiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``accuracy.py compare``: a side against itself differs by exactly 0, and the
    difference is the difference of the two sides' means, on real checkpoints."""
    import torch

    from geopose.data.synth import write_dataset
    from geopose.models import create_model
    from geopose.models.saved import save_model

    accuracy = _script("accuracy")
    monkeypatch.setattr(accuracy, "DATA", tmp_path)
    write_dataset(tmp_path / "heldout", accuracy.CITIES, 0, 2, 32, seed=3)
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"m{seed}.safetensors")
        save_model(paths[-1], create_model("tiny-lean-gs").eval())
    same = accuracy.compare([paths[0]], [paths[0]], tta="none")
    assert all(same["difference"][f]["value"] == 0.0 for f in ("score", "agl_r2", "vflow_r2"))
    assert same["difference"]["score"]["low"] == same["difference"]["score"]["high"] == 0.0
    other = accuracy.compare([paths[0]], [paths[1]], tta="none")
    for f in ("score", "agl_r2", "vflow_r2"):
        want = other["mean_a"][f]["value"] - other["mean_b"][f]["value"]
        assert other["difference"][f]["value"] == pytest.approx(want)
    assert other["difference"]["score"]["value"] != 0.0


@pytest.mark.parametrize("elevation_deg", [58.0, 72.0])
def test_facade_slope_reads_the_rendered_scale_from_the_true_agl(elevation_deg: float) -> None:
    """The renderer is the reference: its AGL's facades fall by 1/scale m per px. A mode
    over slopes can be led astray by a tile of trees, so most tiles, not all, must agree."""
    import math

    from geopose.data.synth import generate_sample

    accuracy = _script("accuracy")
    rel = []
    for seed in range(1, 9):
        s = generate_sample("OMA", seed, 128, elevation=math.radians(elevation_deg))
        rel.append(accuracy.facade_slope_scale(s["agl"]) / float(s["scale"]))
    rel_err = np.abs(np.array(rel) - 1)
    assert np.median(rel_err) < 0.1
    assert np.mean(rel_err < 0.2) >= 0.6
    assert math.isnan(accuracy.facade_slope_scale(np.zeros((32, 32))))


def test_slope_report_compares_both_estimates_with_the_truth() -> None:
    accuracy = _script("accuracy")
    truth = np.array([0.5, 1.0, 1.5, 2.0])
    rows = [("ARG", t, t * 1.1, (t * 2 if i else float("nan"))) for i, t in enumerate(truth)]
    report = accuracy.slope_report(rows)["ARG"]
    assert report["tiles"] == 4
    assert report["true_agl"]["median_ratio"] == pytest.approx(1.1)
    assert report["true_agl"]["within_20pc"] == 1.0
    assert report["true_agl"]["spearman"] == pytest.approx(1.0)
    assert report["pred_agl"]["tiles"] == 3  # the NaN tile showed no facades
    assert report["pred_agl"]["median_abs_rel_error"] == pytest.approx(1.0)
    assert report["pred_agl"]["within_20pc"] == 0.0
