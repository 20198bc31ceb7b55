"""predict_layout / ``geopose predict --data``: submission files, scores, skips, reruns."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from agl_compare import assert_file_matches_prediction
from geopose.cli import main
from geopose.conventions import agl_cm_to_m, agl_m_to_cm, scale_from_file, scale_to_file
from geopose.errors import UsageError
from geopose.inference.predict import PredictOptions, make_predictor, predict_layout
from geopose.io import load_sample, open_layout, read_agl, read_vflow
from geopose.io.layout import agl_name, vflow_name
from geopose.metrics import GeoposeMetric

FP32_D4 = ["--tta", "d4", "--precision", "fp32", "--device", "cpu", "--quiet"]


def _predict_cli(ckpt: Path, data: Path, out: Path, *extra: str) -> int:
    args = ["predict", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out)]
    return main([*args, *FP32_D4, *extra])


def test_predict_then_evaluate_matches_the_metric_in_memory(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pred"
    assert _predict_cli(tiny_checkpoint, synth_layout, out, "--batch-size", "3", "--tar") == 0
    layout = open_layout(synth_layout)
    ids = [e.id for e in layout.entries("test")]
    with tarfile.open(out / "submission.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(
            [agl_name(i) for i in ids] + [vflow_name(i) for i in ids]
        )
    scores = tmp_path / "scores.json"
    truth = synth_layout / "test_truth"
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(out),
                "--truth",
                str(truth),
                "--json",
                str(scores),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    from_files = json.loads(scores.read_text())["score"]

    # In memory: the same model and settings (and batches), AGL rounded to cm and scale
    # to px/cm as the files hold them, scored against the truth samples.
    options = PredictOptions(tta="d4", precision="fp32", device="cpu", batch_size=3)
    predictor = make_predictor([tiny_checkpoint], options)
    metric = GeoposeMetric()
    entries = layout.entries("test_truth")
    samples = [load_sample(e) for e in entries]
    results = predictor.predict_tiles(
        np.stack([s["image"] for s in samples]), [e.gsd for e in entries]
    )
    for entry, sample, res in zip(entries, samples, results, strict=True):
        agl = agl_cm_to_m(agl_m_to_cm(res.agl))
        scale = scale_from_file(scale_to_file(res.scale))
        metric.update(
            entry.city,
            agl,
            scale,
            res.angle,
            sample["agl"],
            sample["scale"],
            sample["angle"],
            name=entry.id,
        )
    in_memory = metric.compute().score
    assert np.isfinite(in_memory)
    assert abs(from_files - in_memory) < 1e-6
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["complete"]) == sorted(ids)
    assert manifest["settings"]["tta"] == "d4"
    assert len(manifest["settings"]["checkpoints"]) == 1


def _copy_with_corrupt_image(src: Path, dst: Path) -> str:
    shutil.copytree(src, dst)
    entry = open_layout(dst).entries("test")[1]
    entry.rgb.write_bytes(entry.rgb.read_bytes()[:200])  # truncated JPEG 2000
    return entry.id


def test_corrupt_image_is_skipped_named_and_a_rerun_writes_only_what_is_missing(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    bad = _copy_with_corrupt_image(synth_layout, data)
    out = tmp_path / "pred"
    assert _predict_cli(tiny_checkpoint, data, out) == 1
    text = capsys.readouterr().out
    assert bad in text
    assert "skipped 1 image" in text
    ids = [e.id for e in open_layout(data).entries("test")]
    for image_id in ids:
        assert (out / agl_name(image_id)).is_file() == (image_id != bad)
        assert (out / vflow_name(image_id)).is_file() == (image_id != bad)
    # Repair the image; remove one finished output; the rerun writes exactly those two.
    shutil.copyfile(
        open_layout(synth_layout).entry(bad, "test").rgb, open_layout(data).entry(bad, "test").rgb
    )
    gone = next(i for i in ids if i != bad)
    (out / agl_name(gone)).unlink()
    kept = next(i for i in ids if i not in (bad, gone))
    stamp = (out / agl_name(kept)).stat().st_mtime_ns
    summary = predict_layout(
        [tiny_checkpoint],
        data,
        out,
        options=PredictOptions(tta="d4", precision="fp32", device="cpu"),
        progress=False,
    )
    assert sorted(summary.written) == sorted([bad, gone])
    assert not summary.failed
    assert (out / agl_name(kept)).stat().st_mtime_ns == stamp
    assert (out / agl_name(bad)).is_file()


def test_other_settings_are_refused_unless_overwrite(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    opts = PredictOptions(tta="none", precision="fp32", device="cpu")
    first = predict_layout([tiny_checkpoint], synth_layout, out, options=opts, progress=False)
    assert len(first.written) == 4
    flip = PredictOptions(tta="flip", precision="fp32", device="cpu")
    with pytest.raises(UsageError, match="tta"):
        predict_layout([tiny_checkpoint], synth_layout, out, options=flip, progress=False)
    again = predict_layout(
        [tiny_checkpoint], synth_layout, out, options=flip, overwrite=True, progress=False
    )
    assert len(again.written) == 4
    assert json.loads((out / "manifest.json").read_text())["settings"]["tta"] == "flip"


def test_ensemble_of_two_architectures_averages_members(
    tiny_checkpoint: Path, other_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    entry = open_layout(synth_layout).entries("test")[0]
    image = load_sample(entry)["image"][None]
    opts = PredictOptions(tta="flip", precision="fp32", device="cpu")
    single = [
        make_predictor([c], opts).predict_tiles(image, [entry.gsd])[0]
        for c in (tiny_checkpoint, other_checkpoint)
    ]
    weighted = PredictOptions(tta="flip", precision="fp32", device="cpu", weights=(3.0, 1.0))
    both = make_predictor([tiny_checkpoint, other_checkpoint], weighted)
    res = both.predict_tiles(image, [entry.gsd])[0]
    np.testing.assert_allclose(res.agl, 0.75 * single[0].agl + 0.25 * single[1].agl, atol=1e-5)
    assert res.scale == pytest.approx(0.75 * single[0].scale + 0.25 * single[1].scale, rel=1e-5)
    vec = 0.75 * np.array(single[0].direction) + 0.25 * np.array(single[1].direction)
    assert res.angle == pytest.approx(float(np.arctan2(vec[0], vec[1]) % (2 * np.pi)), abs=1e-5)
    # Agreement of all views of all members: each member's direction at its own length.
    agree = sum(
        w * r.agreement * np.array(r.direction) for w, r in zip((0.75, 0.25), single, strict=True)
    )
    assert res.agreement == pytest.approx(float(np.hypot(*agree)), abs=1e-5)


def test_written_files_hold_the_predictions(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    opts = PredictOptions(tta="none", precision="fp32", device="cpu")
    predict_layout([tiny_checkpoint], synth_layout, out, split="test", options=opts, progress=False)
    entry = open_layout(synth_layout).entries("test")[2]
    with torch.inference_mode():
        res = make_predictor([tiny_checkpoint], opts).predict_tiles(
            load_sample(entry)["image"][None], [entry.gsd]
        )[0]
    assert_file_matches_prediction(read_agl(out / agl_name(entry.id)), res.agl)
    scale, angle = read_vflow(out / vflow_name(entry.id))
    assert scale == pytest.approx(res.scale, rel=1e-6)
    assert angle == pytest.approx(res.angle)


def test_shrink_flow_writes_the_scale_times_the_direction_agreement(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    plain, shrunk = tmp_path / "plain", tmp_path / "shrunk"
    assert _predict_cli(tiny_checkpoint, synth_layout, plain) == 0
    assert _predict_cli(tiny_checkpoint, synth_layout, shrunk, "--shrink-flow") == 0
    opts = PredictOptions(tta="d4", precision="fp32", device="cpu")
    predictor = make_predictor([tiny_checkpoint], opts)
    ratios = []
    for entry in open_layout(synth_layout).entries("test"):
        with torch.inference_mode():
            res = predictor.predict_tiles(load_sample(entry)["image"][None], [entry.gsd])[0]
        scale, angle = read_vflow(plain / vflow_name(entry.id))
        scale_s, angle_s = read_vflow(shrunk / vflow_name(entry.id))
        assert angle_s == pytest.approx(angle)
        assert scale_s == pytest.approx(scale * res.agreement, rel=1e-5)
        np.testing.assert_array_equal(
            read_agl(plain / agl_name(entry.id)), read_agl(shrunk / agl_name(entry.id))
        )
        ratios.append(scale_s / scale)
    assert all(0.0 <= r <= 1.0 for r in ratios)
    assert min(ratios) < 0.999  # a briefly trained model's views disagree somewhere
    # The setting is part of the manifest: the other choice is refused without --overwrite.
    assert _predict_cli(tiny_checkpoint, synth_layout, shrunk) != 0


def test_rectify_option_writes_ground_level_images_of_every_prediction(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    args = ["predict", "--checkpoint", str(tiny_checkpoint), "--data", str(synth_layout)]
    opts = ["--tta", "none", "--device", "cpu", "--quiet", "--rectify"]
    assert main([*args, "--out", str(out), *opts]) == 0
    ids = [e.id for e in open_layout(synth_layout).entries("test")]
    for image_id in ids:
        assert (out / "rectified" / f"{image_id}_RGB_rectified.tif").is_file()
        assert (out / "rectified" / f"{image_id}_AGL_rectified.tif").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["info"]["checkpoint_paths"] == [str(tiny_checkpoint.resolve())]
