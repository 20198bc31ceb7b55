"""Score a submission folder against the truth with the official metric, per city.

    python examples/score_submission.py PRED_DIR TRUTH_DIR

PRED_DIR holds {id}_AGL.tif + {id}_VFLOW.json (what ``geopose predict`` and
``PoseResult.save`` write); TRUTH_DIR the true files of the same names (a layout's
``test_truth/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import geopose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pred", type=Path, help="folder of the predictions")
    parser.add_argument("truth", type=Path, help="folder of the true files")
    args = parser.parse_args(argv)

    result = geopose.score(args.pred, args.truth)
    print(f"{'city':<6}{'AGL R²':>9}{'VFLOW R²':>10}{'score':>8}{'angle err °':>13}")
    for city, r in result.cities.items():
        print(
            f"{city:<6}{r.agl_r2:>9.3f}{r.vflow_r2:>10.3f}{r.score:>8.3f}{r.angle_error_deg:>13.1f}"
        )
    print(f"final score {result.score:.4f} over {len(result.cities)} cities")
    for problem in result.failed:
        print(f"scored 0: {problem}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
