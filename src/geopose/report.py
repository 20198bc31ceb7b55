"""``geopose report``: one self-contained HTML page about a run and its predictions.

Sections appear when their inputs exist:

- **scores** — per-city table (AGL R², VFLOW R², score, angle error °, scale error
  px/m, AGL RMSE m, end-point error px) and the final score. Computed with the
  official metric when predictions and truth are both available; otherwise taken from
  ``scores.json`` (written by ``geopose evaluate --json``) in the prediction folder or
  the run folder; otherwise the last validation in ``metrics.jsonl``.
- **training curves** — from ``RUN/metrics.jsonl``: each loss term, the validation
  score per city, the learning rate.
- **predicted vs true angle and scale**, **AGL error by height bin** and **sample
  tiles** (RGB, true and predicted AGL, error map, flow arrows, ground-level rectified
  image) — from predictions + truth.
- **run configuration** — ``RUN/config.yaml`` as written.

Figures are PNGs embedded as data URIs; the page references nothing outside itself.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from geopose import __version__
from geopose.errors import DataError, UsageError
from geopose.io.atomic import atomic_write_text
from geopose.io.layout import VFLOW_SUFFIX
from geopose.viz.curves import curves_figure
from geopose.viz.evaluation import Evaluation, evaluate_predictions
from geopose.viz.figure import figure_png
from geopose.viz.html import Section, esc, fmt, img_tag, paragraph, render_page, score_table
from geopose.viz.metrics_log import MetricsLog, read_metrics_log
from geopose.viz.scatter import scatter_figure
from geopose.viz.sources import TruthItem, pick_tiles, truth_from_folder, truth_from_layout

REPORT_NAME = "report.html"
METRICS_JSONL = "metrics.jsonl"
CONFIG_YAML = "config.yaml"
SCORES_JSON = "scores.json"


@dataclass
class ReportResult:
    """What :func:`make_report` wrote and found.

    ``scores`` is the metric ``as_dict()`` shown in the table (None when there is
    none) and ``scores_source`` says where it came from; ``problems`` lists predictions
    that could not be scored (their city scores 0); ``notes`` anything else worth
    knowing (inputs left out, mismatches).
    """

    path: Path
    scores: dict[str, Any] | None = None
    scores_source: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def has_predictions(folder: Path) -> bool:
    """True when ``folder`` holds at least one ``*_VFLOW.json`` prediction file."""
    return folder.is_dir() and any(folder.glob(f"*{VFLOW_SUFFIX}"))


def read_scores_json(path: Path) -> dict[str, Any]:
    """A metric ``as_dict()`` saved by ``geopose evaluate --json``; DataError if malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"cannot read scores: {err}") from None
    if not (isinstance(data, dict) and isinstance(data.get("cities"), dict)):
        raise DataError(path, "expected a JSON object with a 'cities' object (evaluate --json)")
    return data


def _config(run_dir: Path, notes: list[str]) -> tuple[str | None, dict[str, Any]]:
    """(text of config.yaml or None, parsed mapping or {})."""
    path = run_dir / CONFIG_YAML
    if not path.is_file():
        return None, {}
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        notes.append(f"{path}: not valid YAML ({' '.join(str(err).split())[:200]})")
        return text, {}
    return text, data if isinstance(data, dict) else {}


def _truth(pred_dir: Path, data_dir: Path | None, truth_dir: Path | None) -> dict[str, TruthItem]:
    if truth_dir is not None:
        return truth_from_folder(truth_dir)
    if data_dir is not None:
        ids = [p.name[: -len(VFLOW_SUFFIX)] for p in pred_dir.glob(f"*{VFLOW_SUFFIX}")]
        return truth_from_layout(data_dir, ids)
    return {}


def _default_data_dir(config: dict[str, Any], notes: list[str]) -> Path | None:
    root = (config.get("data") or {}).get("root") if isinstance(config.get("data"), dict) else None
    if not root:
        return None
    path = Path(str(root))
    if path.is_dir():
        notes.append(f"truth from the run's data root {path} (config.yaml data.root)")
        return path
    notes.append(f"the run's data root {path} (config.yaml data.root) is not a folder here")
    return None


def _scores_section(scores: dict[str, Any], source: str) -> Section:
    sec = Section("Scores")
    sec.body.append(
        f'<p><span class="big">{esc(fmt(scores.get("score")))}</span> final score '
        f"(mean over cities of (AGL R² + VFLOW R²)/2)</p>"
    )
    sec.body.append(score_table(scores))
    sec.body.append(paragraph(f"Source: {source}.", "note"))
    return sec


def _curves_section(log: MetricsLog) -> Section | None:
    fig = curves_figure(log.records)
    if fig is None:
        return None
    sec = Section("Training curves")
    alt = "training curves: loss terms, validation score per city and learning rate by step"
    sec.body.append(img_tag(figure_png(fig), alt))
    last = log.records[-1]
    facts = [
        ("epoch", last.get("epoch")),
        ("optimizer steps", last.get("step")),
        ("images/s", _num(last.get("images_per_s"), 1)),
        ("peak memory (MB)", _num(last.get("peak_mem_mb"), 0)),
        ("skipped steps", last.get("skipped_steps")),
        ("wall time (s)", _num(last.get("time_s"), 0)),
    ]
    text = " · ".join(f"{k}: {v}" for k, v in facts if v is not None)
    sec.body.append(paragraph(f"Last record: {text}", "note"))
    return sec


def _num(value: Any, digits: int) -> str | None:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:,.{digits}f}"
    return None


def _evaluation_sections(ev: Evaluation) -> list[Section]:
    sections = []
    if ev.pairs:
        sec = Section("Predicted vs true angle and scale")
        alt = "scatter plots of predicted against true flow angle (degrees) and scale (px/m)"
        sec.body.append(
            img_tag(figure_png(scatter_figure(ev.pairs)), alt, f"{len(ev.pairs)} images")
        )
        sections.append(sec)
        sec = Section("AGL error by height")
        alt = "AGL RMSE, mean absolute error and bias by true-height bin"
        caption = "pixels where truth and prediction are both valid, binned by true AGL"
        sec.body.append(img_tag(figure_png(ev.height_bins.figure()), alt, caption))
        sections.append(sec)
    if ev.tiles:
        sec = Section("Sample tiles")
        sec.body.append(
            paragraph(
                "Arrows: vertical flow from each imaged point to its ground footprint "
                "(cyan true, red predicted), lengthened by the factor in the panel title. "
                "Rectified: the RGB moved to ground level with the predicted flow "
                "(black: ground hidden in the oblique view).",
                "note",
            )
        )
        for image_id, png in ev.tiles:
            alt = f"tile {image_id}: RGB, true AGL, predicted AGL, error, flow arrows, rectified"
            sec.body.append(img_tag(png, alt, image_id))
        sections.append(sec)
    return sections


def _choose_scores(
    ev: Evaluation | None,
    pred_dir: Path | None,
    run_dir: Path,
    log: MetricsLog | None,
    notes: list[str],
) -> tuple[dict[str, Any] | None, str]:
    files = [d / SCORES_JSON for d in (pred_dir, run_dir) if d is not None]
    saved = next((f for f in files if f.is_file()), None)
    if ev is not None and ev.result.cities:
        computed = ev.result.as_dict()
        if saved is not None:
            old = read_scores_json(saved).get("score")
            new = computed.get("score")
            if not (isinstance(old, (int, float)) and new is not None and abs(old - new) < 1e-6):
                notes.append(f"{saved} says score {fmt(old)} but the files score {fmt(new)} now")
        return computed, "computed from the prediction and truth files with the official metric"
    if saved is not None:
        return read_scores_json(saved), f"{saved}"
    vals = log.validations if log is not None else []
    if vals:
        step = vals[-1].get("step")
        return dict(vals[-1]["val"]), f"last validation in {METRICS_JSONL} (step {step})"
    return None, ""


def _shrunk_flows(pred_dir: Path) -> bool:
    """Whether the prediction manifest in ``pred_dir`` says flows were shrunk."""
    from geopose.inference.manifest import MANIFEST

    try:
        settings = json.loads((pred_dir / MANIFEST).read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(settings, dict) and bool(settings.get("shrink_flow"))


def make_report(
    run_dir: str | Path,
    *,
    pred_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    truth_dir: str | Path | None = None,
    out: str | Path | None = None,
    max_tiles: int = 6,
    progress: bool = True,
) -> ReportResult:
    """Build the report and say what went into it (see :func:`build_report`)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"{run}: run folder not found")
    if max_tiles < 0:
        raise UsageError(f"max_tiles must be ≥ 0, got {max_tiles}")
    target = Path(out) if out is not None else run / REPORT_NAME
    res = ReportResult(target)
    config_text, config = _config(run, res.notes)
    log = read_metrics_log(run / METRICS_JSONL) if (run / METRICS_JSONL).is_file() else None
    if log is not None:
        res.notes += log.notes
    preds = Path(pred_dir) if pred_dir is not None else (run if has_predictions(run) else None)
    if preds is not None and not preds.is_dir():
        raise UsageError(f"{preds}: prediction folder not found")
    ev = None
    if preds is not None:
        if _shrunk_flows(preds):
            res.notes.append(
                f"{preds} was written with --shrink-flow: each scale is the model's times "
                "the agreement of the TTA views' directions, so the flow arrows and "
                "rectified images show the shrunk lean"
            )
        data = Path(data_dir) if data_dir is not None else None
        if data is None and truth_dir is None:
            data = _default_data_dir(config, res.notes)
        truth = _truth(preds, data, Path(truth_dir) if truth_dir is not None else None)
        if truth:
            tiles = pick_tiles(truth.values(), max_tiles)
            ev = evaluate_predictions(preds, truth, tile_ids=set(tiles), progress=progress)
            res.problems = ev.problems
        else:
            res.notes.append(f"predictions in {preds} but no truth found: no scores or tiles")
    res.scores, res.scores_source = _choose_scores(ev, preds, run, log, res.notes)
    sections = []
    if res.scores is not None:
        sections.append(_scores_section(res.scores, res.scores_source))
    curves = _curves_section(log) if log is not None else None
    sections += [s for s in (curves,) if s is not None]
    sections += _evaluation_sections(ev) if ev is not None else []
    if not sections:
        raise UsageError(
            f"{run}: nothing to report (no {METRICS_JSONL}, no scores, no predictions with truth)"
        )
    if config_text is not None:
        sections.append(Section("Run configuration", [f"<pre>{esc(config_text)}</pre>"]))
    if res.problems or res.notes:
        items = "".join(f"<li>{esc(t)}</li>" for t in [*res.problems, *res.notes])
        sections.append(Section("Problems and notes", [f"<ul>{items}</ul>"]))
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{run.resolve()} · geopose {__version__} · {now}"
    atomic_write_text(target, render_page(f"geopose report: {run.name}", subtitle, sections))
    return res


def build_report(
    run_dir: str | Path,
    *,
    pred_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    truth_dir: str | Path | None = None,
    out: str | Path | None = None,
    max_tiles: int = 6,
    progress: bool = True,
) -> Path:
    """Write one self-contained ``report.html`` about a run; return its path.

    Args:
        run_dir: a training run folder (``config.yaml``, ``metrics.jsonl``), or a
            prediction folder (``{id}_AGL.tif`` + ``{id}_VFLOW.json``).
        pred_dir: prediction folder (default: ``run_dir`` when it holds predictions).
        data_dir: layout root for the truth and RGB (default: the run's
            ``data.root`` from ``config.yaml`` when it exists).
        truth_dir: a folder of truth ``{id}_AGL.tif`` + ``{id}_VFLOW.json`` (instead of
            ``data_dir``; the RGB is looked for beside it and in ``../test``).
        out: the HTML file (default ``run_dir/report.html``).
        max_tiles: how many tiles get a panel (taken in turn from each city).
        progress: show a progress bar on stderr while reading predictions.

    Raises:
        UsageError: missing folders, or nothing to report.
        DataError: an unreadable truth file, ``metrics.jsonl`` or ``scores.json``.
    """
    return make_report(
        run_dir,
        pred_dir=pred_dir,
        data_dir=data_dir,
        truth_dir=truth_dir,
        out=out,
        max_tiles=max_tiles,
        progress=progress,
    ).path
