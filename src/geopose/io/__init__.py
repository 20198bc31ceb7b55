"""Reading and writing geopose data: rasters, VFLOW JSON, the competition layout, submissions."""

from geopose.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from geopose.io.raster import (
    GeoInfo,
    read_agl,
    read_geo,
    read_rgb,
    write_agl,
    write_rgb,
)
from geopose.io.vflow import read_vflow, write_vflow

__all__ = [
    "GeoInfo",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_agl",
    "read_geo",
    "read_rgb",
    "read_vflow",
    "write_agl",
    "write_rgb",
    "write_vflow",
]
