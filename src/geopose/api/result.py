"""What :meth:`geopose.Model.predict` returns: one image's geocentric pose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import angle_to_direction, flow_field
from geopose.io.raster import GeoInfo, write_agl
from geopose.io.submission import write_prediction


@dataclass(frozen=True, eq=False)
class PoseResult:
    """One image's prediction, with the georeferencing of its input.

    Attributes:
        agl: H×W ``float32`` height above ground in metres, NaN = no data.
        angle: vertical-flow angle in radians, in [0, 2π) (0 points down the image,
            π/2 right).
        scale: vertical-flow scale in pixels per metre of height.
        gsd: ground sample distance the model was given, metres per pixel.
        name: file stem for :meth:`save` (the input file's image id or stem;
            ``"image"`` for an array).
        geo: CRS and transform of the input raster (``None`` for an array or a raster
            without georeferencing); written into every GeoTIFF.
        agreement: agreement in [0, 1] of the test-time-augmentation views' directions
            (1: all views point the same way).

    Example:
        >>> result = model.predict("scene.tif")  # doctest: +SKIP
        >>> float(np.nanmax(result.agl)), result.angle, result.scale  # doctest: +SKIP
        (23.5, 1.62, 0.41)
    """

    agl: NDArray[np.float32]
    angle: float
    scale: float
    gsd: float
    name: str = "image"
    geo: GeoInfo | None = None
    agreement: float = 1.0

    @property
    def direction(self) -> tuple[float, float]:
        """Unit direction ``(dx, dy)`` = (sin θ, cos θ) of the flow, in (column, row)
        pixels."""
        dx, dy = angle_to_direction(self.angle)
        return float(dx), float(dy)

    @property
    def magnitude(self) -> NDArray[np.float32]:
        """H×W length of the vertical flow in pixels (``agl · scale``; NaN = no data)."""
        return (self.agl * np.float32(self.scale)).astype(np.float32)

    @property
    def flow(self) -> NDArray[np.float32]:
        """H×W×2 vertical flow ``(dx, dy)`` in pixels: where each imaged point's ground
        footprint is, relative to it."""
        return flow_field(self.agl, self.scale, self.angle)

    def save(self, folder: str | Path, name: str | None = None) -> tuple[Path, Path]:
        """Write ``{name}_AGL.tif`` (uint16 cm, 65535 = no data, the input's CRS and
        transform) and ``{name}_VFLOW.json`` (scale px/cm, angle rad) into ``folder``:
        the competition's submission format, read by ``geopose evaluate`` and
        :func:`geopose.score`. Returns both paths.

        Example:
            >>> agl_path, vflow_path = result.save("predictions/")  # doctest: +SKIP
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        return write_prediction(
            out, name or self.name, self.agl, self.scale, self.angle, geo=self.geo
        )

    def to_geotiff(self, path: str | Path, *, unit: Literal["cm", "m"] = "cm") -> Path:
        """Write the AGL map as a GeoTIFF with the input's CRS and transform.

        ``unit="cm"``: uint16 centimetres, 65535 = no data (the competition format);
        ``unit="m"``: float32 metres, NaN = no data. Returns the path.

        Example:
            >>> result.to_geotiff("scene_AGL.tif")  # doctest: +SKIP
        """
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_agl(out, self.agl, geo=self.geo, unit=unit)
        return out

    def __repr__(self) -> str:
        h, w = self.agl.shape
        where = "georeferenced" if self.geo is not None and self.geo.is_georeferenced else "plain"
        return (
            f"PoseResult({self.name!r}, {h}×{w} px, angle={self.angle:.4f} rad, "
            f"scale={self.scale:.4f} px/m, gsd={self.gsd:.4g} m/px, {where})"
        )
