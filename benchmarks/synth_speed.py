"""Time the synthetic generator on one core: rendering a tile with labels, and encoding it.

Prints JSON: per city the seconds to generate one ``--size`` tile (scene, rasterisation,
ray tracing, shading; labels included) and, measured separately, to write its files
(lossless JPEG 2000 RGB, deflate GeoTIFF AGL, VFLOW JSON). Run single-threaded:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/synth_speed.py --size 2048
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from geopose.data.synth import generate_sample
from geopose.data.synth.presets import load_presets
from geopose.io.raster import write_agl, write_rgb
from geopose.io.vflow import write_vflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="tile side in pixels")
    parser.add_argument("--cities", default="ARG,ATL,JAX,OMA")
    parser.add_argument("--repeats", type=int, default=2, help="tiles per city (best is kept)")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core: OpenCV would otherwise use its own thread pool
    presets = load_presets()
    report: dict[str, object] = {
        "size_px": args.size, "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]
    }  # fmt: skip
    cities: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for city in args.cities.split(","):
            render, encode = [], []
            for rep in range(args.repeats):
                t0 = time.perf_counter()
                s = generate_sample(city, 100 + rep, args.size, district_seed=rep,
                                    district_extent=args.size * presets[city].gsd[1] * 1.5,
                                    presets=presets)  # fmt: skip
                t1 = time.perf_counter()
                root = Path(tmp)
                write_rgb(root / f"{city}_RGB.j2k", s["image"])
                write_agl(root / f"{city}_AGL.tif", s["agl"])
                write_vflow(root / f"{city}_VFLOW.json", s["scale"], s["angle"])
                t2 = time.perf_counter()
                render.append(t1 - t0)
                encode.append(t2 - t1)
            cities[city] = {
                "render_s": round(min(render), 3),
                "render_first_s": round(render[0], 3),  # includes building the district
                "encode_s": round(min(encode), 3),
                "mean_agl_m": round(float(np.nanmean(s["agl"])), 2),
            }
    report["cities"] = cities
    report["render_s_max"] = max(c["render_s"] for c in cities.values())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
