"""Fine-tune a model on a folder in the competition layout, then predict with it.

    python examples/fine_tune.py DATA --weights MODEL.safetensors --out RUN [--steps 200]

Starts from MODEL (the whole network and its input convention), trains on DATA's
training split (one fold held out for validation) and writes RUN/ (config, metrics,
checkpoints). Without --weights a new model of the ``tiny`` preset is trained.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import geopose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="competition layout folder")
    parser.add_argument("--weights", type=Path, help="checkpoint to start from")
    parser.add_argument("--out", type=Path, required=True, help="run folder to create")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps")
    parser.add_argument("--crop", type=int, default=64, help="training crop side, px")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    args = parser.parse_args(argv)

    run = geopose.train(
        args.data,
        args.out,
        recipe="tiny",
        weights=args.weights,
        settings={
            "train.max_steps": args.steps,
            "train.crop_size": args.crop,
            "train.batch_size": 4,
            "data.folds": 4,
            "optim.lr": args.lr,
        },
    )
    print(f"{run.stopped} after {run.step} steps, validation score {run.score:.3f}")

    model = geopose.load_model(run.last_checkpoint)
    tile = geopose.read_tile(args.data, first_test_id(args.data), split="test")
    result = model.predict(tile["image"], gsd=tile["gsd"], tta="d4")
    print(f"{tile['id']}: {result}")
    return 0


def first_test_id(data: Path) -> str:
    """The first id of the layout's test index (``geopose_test.csv``)."""
    with (data / "geopose_test.csv").open(newline="") as f:
        return next(csv.DictReader(f))["id"]


if __name__ == "__main__":
    sys.exit(main())
