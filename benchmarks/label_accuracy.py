"""`geopose label` and `geopose buildings` against the synthetic renderer's own truth.

Writes a synthetic dataset with ``--export-truth`` (georeferenced tiles, each tile's
orthographic nDSM, view and building footprints), then per tile:

- labels it from the exported nDSM and the view angles, from the nDSM warped to
  EPSG:4326 at 0.4× the GSD and to EPSG:3857 at 1.5× the GSD, and through an affine RPC
  model of the view: AGL R² against the renderer's AGL over pixels both call valid,
  angle error (degrees), relative scale error;
- runs the building statistics on the true AGL: per footprint lying wholly in the
  tile, |median height − median of the true orthographic heights| (m); with
  ``--checkpoint`` also on the AGL a model predicts (the error reported, not bounded).

Prints JSON (worst and mean figures per case).

    PYTHONPATH=src python benchmarks/label_accuracy.py --tiles 4 --size 256
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.features import rasterize
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_geom

from geopose.buildings import building_heights, ground_agl
from geopose.conventions import angle_difference
from geopose.data.synth.dataset import write_dataset
from geopose.io import read_agl, read_vflow
from geopose.io.footprints import read_footprints
from geopose.io.layout import agl_name, rgb_name, vflow_name
from geopose.label.grid import GroundGrid
from geopose.label.tile import label_image
from geopose.label.view import affine_rpc


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    both = np.isfinite(pred) & np.isfinite(true)
    t, p = true[both].astype(np.float64), pred[both].astype(np.float64)
    return 1.0 - float(((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum())


def warp(src: Path, dst: Path, crs: str, res: float) -> None:
    with rasterio.open(src) as ds:
        transform, w, h = calculate_default_transform(
            ds.crs, crs, ds.width, ds.height, *ds.bounds, resolution=res
        )
        out = np.full((h, w), np.nan, np.float32)
        reproject(rasterio.band(ds, 1), out, dst_transform=transform, dst_crs=crs,
                  dst_nodata=np.nan, resampling=Resampling.nearest)  # fmt: skip
    with rasterio.open(dst, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs=crs, transform=transform, nodata=np.nan) as ds:  # fmt: skip
        ds.write(out[None])


def with_rpc(src: Path, dst: Path, el: float, az: float) -> None:
    grid = GroundGrid.of_raster(src)
    with rasterio.open(src) as ds:
        data, profile = ds.read(), ds.profile
    profile.update(driver="GTiff")
    with rasterio.open(dst, "w", rpcs=affine_rpc(grid, el, az), **profile) as ds:
        ds.write(data)


def true_medians(ndsm: Path, image: Path, footprints: list[Any], fp_crs: Any) -> list[float]:
    """Median true orthographic height per footprint lying wholly in the image (else NaN)."""
    with rasterio.open(ndsm) as nd, rasterio.open(image) as img:
        heights, nd_t, crs = nd.read(1), nd.transform, nd.crs
        img_t, shape = img.transform, (img.height, img.width)
    out = []
    for fp in footprints:
        geom = transform_geom(fp_crs, crs, fp.geometry)
        m = rasterize([(geom, 1)], out_shape=heights.shape, transform=nd_t).astype(bool)
        inside = rasterize([(geom, 1)], out_shape=shape, transform=img_t).sum()
        whole = m.sum() >= 16 and inside == m.sum()
        out.append(float(np.median(heights[m])) if whole else float("nan"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiles", type=int, default=4, help="tiles per city (ATL, JAX, OMA, ARG)")
    p.add_argument("--size", type=int, default=256, help="tile side (px)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--checkpoint", type=Path, action="append", default=[],
                   help="model(s) whose predicted AGL the building statistics use too")  # fmt: skip
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    cities = ("ARG", "ATL", "JAX", "OMA")
    cases: dict[str, dict[str, list[float]]] = {}
    bld_true: list[float] = []
    bld_pred: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_dataset(root, cities, args.tiles, 0, args.size, seed=args.seed,
                      export_truth=True, progress=False)  # fmt: skip
        predictor = None
        if args.checkpoint:
            from geopose.inference.options import PredictOptions, make_predictor

            predictor = make_predictor(args.checkpoint, PredictOptions(device="cpu", tta="d4"))
        for city in cities:
            for i in range(args.tiles):
                iid = f"{city}_train{i:04d}"
                image = root / "train" / rgb_name(iid, ".tif")
                ndsm = root / "truth" / f"{iid}_NDSM.tif"
                view = json.loads((root / "truth" / f"{iid}_VIEW.json").read_text())
                true_agl = read_agl(root / "train" / agl_name(iid))
                scale, angle = read_vflow(root / "train" / vflow_name(iid))
                el, az = view["elevation_deg"], view["azimuth_deg"]
                ll, merc, rpc = (Path(tmp) / f"{iid}_{k}.tif" for k in ("ll", "3857", "rpc"))
                m_lon = 111_320 * math.cos(math.radians(29.8))
                warp(ndsm, ll, "EPSG:4326", view["gsd"] * 0.4 / m_lon)
                warp(ndsm, merc, "EPSG:3857", view["gsd"] * 1.5)
                with_rpc(image, rpc, el, az)
                runs = {
                    "ndsm_flags": label_image(image, ndsm=ndsm, elevation=el, azimuth=az),
                    "ndsm_epsg4326_0.4gsd": label_image(image, ndsm=ll, elevation=el, azimuth=az),
                    "ndsm_epsg3857_1.5gsd": label_image(image, ndsm=merc, elevation=el, azimuth=az),
                    "rpc_view": label_image(rpc, ndsm=ndsm, view="rpc"),
                }
                for name, lab in runs.items():
                    c = cases.setdefault(name, {"r2": [], "angle_err_deg": [], "scale_rel_err": []})
                    c["r2"].append(r2(lab.agl, true_agl))
                    c["angle_err_deg"].append(
                        math.degrees(float(angle_difference(lab.view.angle, angle)))
                    )
                    c["scale_rel_err"].append(abs(lab.view.scale / scale - 1))
                fps, fp_crs = read_footprints(root / "truth" / f"{iid}_BUILDINGS.geojson")
                truth = true_medians(ndsm, image, fps, fp_crs)
                grid = GroundGrid.of_raster(image)
                got = building_heights(ground_agl(true_agl, scale, angle), grid.transform,
                                       grid.crs, fps, fp_crs)  # fmt: skip
                for t, g in zip(truth, got, strict=True):
                    if math.isfinite(t) and g["height_median_m"] is not None:
                        bld_true.append(abs(float(g["height_median_m"]) - t))
                if predictor is not None:
                    with rasterio.open(image) as ds:
                        rgb = ds.read().transpose(1, 2, 0)
                    res = predictor.predict_tiles(rgb[None], [view["gsd"]])[0]
                    got = building_heights(ground_agl(res.agl, res.scale, res.angle),
                                           grid.transform, grid.crs, fps, fp_crs)  # fmt: skip
                    for t, g in zip(truth, got, strict=True):
                        if math.isfinite(t) and g["height_median_m"] is not None:
                            bld_pred.append(float(g["height_median_m"]) - t)
    figures: dict[str, Any] = {"tiles": args.tiles * len(cities), "size_px": args.size}
    for name, c in cases.items():
        figures[name] = {
            "r2_min": min(c["r2"]), "r2_mean": float(np.mean(c["r2"])),
            "angle_err_deg_max": max(c["angle_err_deg"]),
            "scale_rel_err_max": max(c["scale_rel_err"]),
        }  # fmt: skip
    figures["buildings_true_agl"] = {
        "buildings": len(bld_true),
        "abs_err_m_max": max(bld_true) if bld_true else None,
        "abs_err_m_mean": float(np.mean(bld_true)) if bld_true else None,
    }
    if bld_pred:
        e = np.asarray(bld_pred)
        figures["buildings_predicted_agl"] = {
            "buildings": int(e.size), "mae_m": float(np.abs(e).mean()),
            "bias_m": float(e.mean()), "median_abs_err_m": float(np.median(np.abs(e))),
        }  # fmt: skip
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
