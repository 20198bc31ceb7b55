"""How well `predict --uncertainty`'s spread ranks the error, on held-out tiles.

Predicts the labelled tiles of a layout split (default ``test_truth``) with TTA (and an
ensemble when several checkpoints are given), and pools every valid pixel's AGL spread
(standard deviation across views and members, m) with its absolute AGL error (m):

- mean |error| in the top and the bottom spread decile, and their ratio;
- Spearman rank correlation of spread and |error| (pixels);
- for comparison, the same decile ratio when pixels are ranked by the predicted AGL
  itself (taller pixels err more: the spread must beat this to add information) and by
  the spread relative to the predicted AGL;
- per tile: Spearman correlation of the angle spread (degrees) and the angle error.

Prints JSON.

    PYTHONPATH=src python benchmarks/uncertainty.py --checkpoint M.safetensors \\
        --data DATA --limit 64
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from geopose.conventions import angle_difference
from geopose.inference.options import PredictOptions, make_predictor
from geopose.inference.predictor import angle_spread_deg
from geopose.io import load_sample, open_layout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, action="append", required=True)
    p.add_argument("--data", type=Path, required=True, help="layout with labelled tiles")
    p.add_argument("--split", default="test_truth")
    p.add_argument("--tta", default="d4")
    p.add_argument("--limit", type=int, default=64, help="tiles used (spread over cities)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    entries = list(open_layout(args.data).entries(args.split))
    step = max(1, len(entries) // args.limit)
    entries = entries[::step][: args.limit]
    opts = PredictOptions(tta=args.tta, precision="fp32", device="cpu")
    predictor = make_predictor(args.checkpoint, opts)
    spreads, errors, heights, tile_spread, tile_err = [], [], [], [], []
    for entry in entries:
        sample = load_sample(entry)
        res = predictor.predict_tiles(sample["image"][None], [entry.gsd])[0]
        assert res.spread is not None  # every TTA / ensemble model gives it
        valid = np.isfinite(sample["agl"])
        spreads.append(res.spread[valid])
        heights.append(res.agl[valid])
        errors.append(np.abs(res.agl[valid] - sample["agl"][valid]))
        tile_spread.append(angle_spread_deg(res.agreement))
        tile_err.append(math.degrees(float(angle_difference(res.angle, sample["angle"]))))
    s, e, h = np.concatenate(spreads), np.concatenate(errors), np.concatenate(heights)

    def deciles(rank: np.ndarray) -> tuple[float, float]:
        lo, hi = np.quantile(rank, [0.1, 0.9])
        return float(e[rank >= hi].mean()), float(e[rank <= lo].mean())

    top, bottom = deciles(s)
    top_h, bottom_h = deciles(h)
    top_r, bottom_r = deciles(s / np.maximum(np.abs(h), 0.5))
    pick = np.random.default_rng(0).choice(s.size, min(s.size, 200_000), replace=False)
    figures: dict[str, Any] = {
        "tiles": len(entries),
        "pixels": int(s.size),
        "checkpoints": len(args.checkpoint),
        "tta": args.tta,
        "agl_spread_mean_m": float(s.mean()),
        "abs_err_mean_m": float(e.mean()),
        "abs_err_top_spread_decile_m": top,
        "abs_err_bottom_spread_decile_m": bottom,
        "top_over_bottom_ratio": top / bottom if bottom > 0 else None,
        "top_over_bottom_ratio_ranked_by_pred_agl": top_h / bottom_h if bottom_h > 0 else None,
        "top_over_bottom_ratio_ranked_by_spread_over_agl": (
            top_r / bottom_r if bottom_r > 0 else None
        ),
        "spearman_spread_vs_abs_err": float(spearmanr(s[pick], e[pick]).statistic),
        "spearman_pred_agl_vs_abs_err": float(spearmanr(h[pick], e[pick]).statistic),
        "spearman_angle_spread_vs_angle_err": float(spearmanr(tile_spread, tile_err).statistic),
        "angle_spread_deg_mean": float(np.mean(tile_spread)),
        "angle_err_deg_mean": float(np.mean(tile_err)),
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
