"""``*_VFLOW.json``: the image-level labels, scale in px/cm on disk, px/m in memory."""

from __future__ import annotations

import json
import math
from pathlib import Path

from geopose.conventions import scale_from_file, scale_to_file, wrap_angle
from geopose.errors import DataError
from geopose.io.atomic import atomic_write_text


def read_vflow(path: str | Path, *, check: bool = True) -> tuple[float, float]:
    """Read ``(scale px/m, angle rad)`` from a VFLOW JSON file.

    With ``check`` (default) a scale that is not a finite number ≥ 0 or an angle that
    is not finite raises :class:`DataError` naming the file; ``check=False`` returns the
    values as stored (NaN included), as the official scorer reads them.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(p, "file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(p, f"cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise DataError(p, f"not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise DataError(p, "expected a JSON object with keys 'scale' and 'angle'")
    missing = [k for k in ("scale", "angle") if k not in data]
    if missing:
        raise DataError(p, f"missing key(s) {', '.join(missing)}")
    try:
        scale_cm, angle = float(data["scale"]), float(data["angle"])
    except (TypeError, ValueError):
        raise DataError(p, "'scale' and 'angle' must be numbers") from None
    if check:
        if not math.isfinite(scale_cm):
            raise DataError(p, f"scale is not finite ({scale_cm})")
        if scale_cm < 0:
            raise DataError(p, f"scale is negative ({scale_cm} px/cm)")
        if not math.isfinite(angle):
            raise DataError(p, f"angle is not finite ({angle})")
    return scale_from_file(scale_cm), angle


def write_vflow(path: str | Path, scale: float, angle: float) -> None:
    """Write ``scale`` (px/m) and ``angle`` (rad) in the competition format, atomically.

    On disk the scale is in pixels per cm and the angle is wrapped into [0, 2π).
    """
    if not (math.isfinite(scale) and math.isfinite(angle)):
        raise ValueError(f"{path}: refusing to write non-finite scale={scale} angle={angle}")
    payload = {"scale": scale_to_file(scale), "angle": float(wrap_angle(angle))}
    atomic_write_text(path, json.dumps(payload, indent=None) + "\n")
