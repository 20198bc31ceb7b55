"""Turning matplotlib figures into embeddable PNG bytes."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

#: Resolution of the embedded PNGs (dots per inch of the figure size).
REPORT_DPI = 80


def new_figure(width_in: float, height_in: float) -> Figure:
    """A fresh figure of ``width_in`` × ``height_in`` inches with a tight layout."""
    return Figure(figsize=(width_in, height_in), dpi=REPORT_DPI, layout="constrained")


def figure_png(fig: Figure) -> bytes:
    """Render ``fig`` with Agg to PNG bytes (at :data:`REPORT_DPI`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=REPORT_DPI, facecolor="white")
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` URI of PNG bytes, for a self-contained ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
