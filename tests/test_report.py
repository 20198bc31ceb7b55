"""geopose report: the whole page from a synthetic run, the CLI, and a headless browser."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geopose.cli import main
from geopose.data.synth import write_dataset
from geopose.errors import UsageError
from geopose.io import read_agl, read_vflow, write_prediction
from geopose.report import make_report

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


class PageParser(HTMLParser):
    """Collects <img> attributes, <h2> titles and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.titles: list[str] = []
        self.links: list[str] = []
        self.body: dict[str, str | None] = {}
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if tag == "h2":
            self._in_h2 = True
        if tag == "body":
            self.body = a
        self.links += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.titles.append(data)


def parse(html: str) -> PageParser:
    p = PageParser()
    p.feed(html)
    return p


def metrics_records(n: int = 5) -> list[dict]:
    out = []
    for e in range(n):
        cities = {c: {"score": 0.4 + 0.1 * e + k / 100} for k, c in enumerate(("ARG", "JAX"))}
        out.append(
            {
                "epoch": e,
                "step": 4 * (e + 1),
                "lr": 1e-3 * (1 - e / n),
                "loss": {"total": 2.0 / (e + 1), "agl_huber": 1.5 / (e + 1)},
                "val": {"score": 0.45 + 0.1 * e, "agl_r2": 0.4, "vflow_r2": 0.5, "cities": cities},
                "images_per_s": 10.0,
                "peak_mem_mb": 500.0,
                "skipped_steps": 0,
                "time_s": 3.0 * (e + 1),
            }
        )
    return out


@dataclass(frozen=True)
class Run:
    data: Path
    run: Path
    pred: Path


def _write_run(root: Path) -> Run:
    data, run = root / "data", root / "run"
    write_dataset(
        data,
        cities=("ARG", "JAX"),
        train_per_city=0,
        test_per_city=2,
        size=64,
        seed=5,
        progress=False,
    )
    pred = run / "pred"
    pred.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for f in sorted((data / "test_truth").glob("*_VFLOW.json")):
        image_id = f.name[: -len("_VFLOW.json")]
        agl = read_agl(data / "test_truth" / f"{image_id}_AGL.tif")
        scale, angle = read_vflow(f)
        noisy = np.clip(
            np.nan_to_num(agl) * rng.uniform(0.8, 1.1) + rng.normal(0, 0.5, agl.shape), 0, None
        )
        write_prediction(pred, image_id, noisy, scale * 1.1, angle + 0.1)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics_records()))
    (run / "config.yaml").write_text(f"model:\n  preset: tiny\ndata:\n  root: {data}\n")
    return Run(data, run, pred)


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory) -> Run:
    return _write_run(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def full_report(synth_run) -> Path:
    out = synth_run.run / "full.html"
    make_report(
        synth_run.run,
        pred_dir=synth_run.pred,
        data_dir=synth_run.data,
        out=out,
        max_tiles=3,
        progress=False,
    )
    return out


def test_every_figure_is_an_embedded_png_with_alt_text(full_report):
    page = parse(full_report.read_text(encoding="utf-8"))
    assert len(page.images) == 1 + 2 + 3  # curves, scatter + height bins, 3 tiles
    for img in page.images:
        src = img["src"] or ""
        assert src.startswith("data:image/png;base64,")
        decoded = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        decoded.load()
        assert decoded.format == "PNG"
        assert decoded.width > 100
        assert np.asarray(decoded.convert("L")).std() > 5  # not blank
        assert (img.get("alt") or "").strip()
    assert all(link.startswith("data:") for link in page.links)
    assert page.titles == [
        "Scores",
        "Training curves",
        "Predicted vs true angle and scale",
        "AGL error by height",
        "Sample tiles",
        "Run configuration",
    ]


def test_score_table_agrees_with_geopose_evaluate(synth_run, tmp_path, capsys):
    scores_file = tmp_path / "scores.json"
    truth = synth_run.data / "test_truth"
    rc = main(
        [
            "evaluate",
            "--pred",
            str(synth_run.pred),
            "--truth",
            str(truth),
            "--json",
            str(scores_file),
            "--workers",
            "1",
        ]
    )
    assert rc == 0
    expected = json.loads(scores_file.read_text())
    res = make_report(
        synth_run.run,
        pred_dir=synth_run.pred,
        data_dir=synth_run.data,
        out=tmp_path / "r.html",
        max_tiles=0,
        progress=False,
    )
    assert res.scores is not None
    assert res.scores["score"] == pytest.approx(expected["score"], abs=1e-9)
    for city in ("ARG", "JAX"):
        assert res.scores["cities"][city]["vflow_r2"] == pytest.approx(
            expected["cities"][city]["vflow_r2"], abs=1e-9
        )
    html = (tmp_path / "r.html").read_text()
    assert f"{expected['score']:.4f}" in html
    assert "Sample tiles" not in html  # max_tiles=0


def test_truth_found_through_the_runs_config(synth_run, tmp_path):
    res = make_report(
        synth_run.run, pred_dir=synth_run.pred, out=tmp_path / "r.html", max_tiles=1, progress=False
    )
    assert res.scores is not None
    assert set(res.scores["cities"]) == {"ARG", "JAX"}
    assert any("data.root" in n for n in res.notes)


def test_metrics_only_run_shows_curves_and_last_validation(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records = metrics_records(3)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = make_report(run, progress=False).path
    assert path == run / "report.html"
    html = path.read_text()
    page = parse(html)
    assert page.titles == ["Scores", "Training curves"]
    assert len(page.images) == 1
    assert f"{records[-1]['val']['score']:.4f}" in html
    assert "last validation in metrics.jsonl (step 12)" in html


def test_scores_json_is_used_when_there_is_no_truth(tmp_path):
    pred = tmp_path / "pred"
    write_prediction(pred, "OMA_1", np.ones((8, 8), np.float32), 1.0, 0.5)
    scores = {"score": 0.777, "agl_r2": 0.7, "vflow_r2": 0.854, "cities": {"OMA": {"score": 0.777}}}
    (pred / "scores.json").write_text(json.dumps(scores))
    res = make_report(pred, progress=False)
    assert res.scores == scores
    html = res.path.read_text()
    assert "0.7770" in html
    assert "scores.json" in html
    assert any("no truth found" in n for n in res.notes)


def test_nothing_to_report_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(UsageError, match="nothing to report"):
        make_report(tmp_path, progress=False)
    assert main(["report", str(tmp_path)]) == 2
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_cli_exit_1_and_report_written_when_a_prediction_is_missing(synth_run, tmp_path, capsys):
    pred = tmp_path / "pred"
    shutil.copytree(synth_run.pred, pred)
    (pred / "JAX_test0001_VFLOW.json").unlink()
    out, figures = tmp_path / "r.html", tmp_path / "r.json"
    rc = main(
        [
            "report",
            str(synth_run.run),
            "--pred",
            str(pred),
            "--data",
            str(synth_run.data),
            "--out",
            str(out),
            "--max-tiles",
            "1",
            "--json",
            str(figures),
        ]
    )
    assert rc == 1
    captured = capsys.readouterr()
    assert "JAX_test0001_VFLOW.json" in captured.err
    assert "report written to" in captured.out
    payload = json.loads(figures.read_text())
    assert payload["scores"]["cities"]["JAX"]["score"] == 0.0
    assert payload["scores"]["cities"]["ARG"]["score"] > 0.0
    assert out.is_file()
    assert "(failed)" in out.read_text()


# ----------------------------------------------------------------------------- browser
PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-loaded", String(ok.length));
  document.body.setAttribute("data-height", String(document.body.scrollHeight));
});
</script>"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (scripts/install-chromium.sh installs Debian's "
    "chromium when run as root with apt-get)",
)
def test_headless_chromium_loads_every_figure(full_report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(full_report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    url = probed.resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = parse(dom.stdout).body
    n_images = len(parse(full_report.read_text(encoding="utf-8")).images)
    assert body.get("data-images") == str(n_images)
    assert body.get("data-loaded") == str(n_images)
    assert int(body.get("data-height") or 0) > 1000
    shot = tmp_path / "shot.png"
    res = _chromium(["--window-size=1280,1600", f"--screenshot={shot}", url], tmp_path / "profile2")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file()
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (1600, 1280)
    assert pixels.std() > 20
    assert not math.isclose(pixels.mean(), 255.0, abs_tol=1.0)


def test_stale_scores_json_is_flagged(synth_run, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(synth_run.pred, pred)
    (pred / "scores.json").write_text(json.dumps({"score": 0.1, "cities": {}}))
    res = make_report(pred, data_dir=synth_run.data, max_tiles=0, progress=False)
    assert res.path == pred / "report.html"
    assert res.scores is not None
    assert res.scores["score"] > 0.5
    assert any("says score 0.1000" in n for n in res.notes)
    assert "says score 0.1000" in res.path.read_text()
