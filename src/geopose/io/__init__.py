"""Reading and writing geopose data: rasters, VFLOW JSON, the competition layout, submissions."""

from geopose.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from geopose.io.catalog import open_layout, scan_layout
from geopose.io.layout import Entry, Layout
from geopose.io.problem import Problem
from geopose.io.raster import (
    GeoInfo,
    RasterInfo,
    raster_info,
    read_agl,
    read_geo,
    read_rgb,
    write_agl,
    write_rgb,
)
from geopose.io.sample import load_sample
from geopose.io.submission import (
    Prediction,
    iter_submission,
    pack_submission,
    read_prediction,
    read_submission,
    write_prediction,
)
from geopose.io.vflow import read_vflow, write_vflow

__all__ = [
    "Entry",
    "GeoInfo",
    "Layout",
    "Prediction",
    "Problem",
    "RasterInfo",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "iter_submission",
    "load_sample",
    "open_layout",
    "pack_submission",
    "raster_info",
    "read_agl",
    "read_geo",
    "read_prediction",
    "read_rgb",
    "read_submission",
    "read_vflow",
    "scan_layout",
    "write_agl",
    "write_prediction",
    "write_rgb",
    "write_vflow",
]
