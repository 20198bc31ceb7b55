"""Predict one large GeoTIFF (default 10 000 × 10 000 px) window by window; time and peak RSS.

Builds the input once (a synthetic city tile repeated with flips, written block by
block as a tiled, deflate-compressed, georeferenced GeoTIFF), then runs
:func:`geopose.inference.raster.predict_raster` — the code of ``geopose predict --image``
— with a randomly initialised model and prints JSON: seconds, windows/s, peak resident
memory (MiB, from ``getrusage``) and the output file size. Neither the input nor the
output raster is ever held in memory whole.

    PYTHONPATH=src python benchmarks/predict_large_raster.py --size 10000 --window 1024
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

import geopose  # noqa: F401  (torchvision guard before timm)
from geopose.data.synth import generate_sample
from geopose.inference.load_model import load_model
from geopose.inference.predictor import Predictor
from geopose.inference.raster import predict_raster
from geopose.inference.tta import TTAModel
from geopose.models import create_model
from geopose.runtime import peak_rss_mib


def write_big_raster(path: Path, size: int, block: int = 1024) -> None:
    """A ``size``² RGB GeoTIFF made of flipped copies of one synthetic ``block``² tile."""
    tile = generate_sample("JAX", 0, size=block)["image"].transpose(2, 0, 1)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256,
        "BIGTIFF": "IF_SAFER", "crs": "EPSG:32617",
        "transform": rasterio.transform.from_origin(430000.0, 3350000.0, 0.3, 0.3),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        for i, top in enumerate(range(0, size, block)):
            for j, left in enumerate(range(0, size, block)):
                part = tile[:, :: (-1) ** i, :: (-1) ** j]
                h, w = min(block, size - top), min(block, size - left)
                ds.write(np.ascontiguousarray(part[:, :h, :w]), window=Window(left, top, w, h))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="raster side in pixels")
    parser.add_argument("--window", type=int, default=1024, help="window side in pixels")
    parser.add_argument("--overlap", type=int, default=128, help="window overlap in pixels")
    parser.add_argument("--preset", default="tiny", help="random-weight model preset")
    parser.add_argument("--checkpoint", help="use this checkpoint instead of --preset")
    parser.add_argument("--tta", default="none")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--workdir", type=Path, help="folder for the input and output rasters")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="geopose-big-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"big_{args.size}.tif"
    if not src.exists():
        start = time.perf_counter()
        write_big_raster(src, args.size)
        print(f"wrote {src} in {time.perf_counter() - start:.1f} s")
    rss_before = peak_rss_mib()
    torch.manual_seed(0)
    net = load_model(args.checkpoint) if args.checkpoint else create_model(args.preset).eval()
    model = TTAModel(net, args.tta)
    predictor = Predictor(model, precision=args.precision, batch_size=args.batch_size,
                          window=args.window, overlap=args.overlap)  # fmt: skip
    summary = predict_raster([], src, 0.3, work / "out", predictor=predictor, progress=True)
    peak = peak_rss_mib()
    result = {
        "size": args.size, "window": args.window, "overlap": args.overlap,
        "model": args.checkpoint or args.preset, "tta": args.tta, "precision": args.precision,
        "threads": torch.get_num_threads(), "windows": len(summary.result.windows),
        "seconds": round(summary.seconds, 1),
        "windows_per_s": round(len(summary.result.windows) / summary.seconds, 3),
        "peak_rss_mib": round(peak, 1), "rss_before_predict_mib": round(rss_before, 1),
        "input_mib": round(src.stat().st_size / 2**20, 1),
        "output_mib": round(summary.agl.stat().st_size / 2**20, 1),
        "scale_px_per_m": summary.result.scale, "angle_rad": summary.result.angle,
    }  # fmt: skip
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
