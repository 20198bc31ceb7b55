"""The self-contained HTML page of the report: inline CSS, images as data URIs.

No external resource (script, style sheet, font or image) is referenced, so the file
can be mailed or archived as is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geopose.viz.figure import png_data_uri

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f4f5f7; color: #1d2330; }
header { background: #1d3557; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; opacity: 0.85; font-size: 13px; }
main { padding: 8px 32px 32px 32px; max-width: 1400px; }
section { background: #fff; border-radius: 8px; padding: 12px 20px; margin: 16px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,0.08); }
h2 { font-size: 17px; margin: 6px 0 10px 0; color: #1d3557; }
figure { display: inline-block; margin: 8px 12px 8px 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #e1e4e8; }
figcaption { font-size: 12px; color: #555; margin-top: 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 5px 12px; text-align: right; border-bottom: 1px solid #e1e4e8; }
th:first-child, td:first-child { text-align: left; }
th { background: #eef1f5; }
tr.final td { font-weight: 600; border-top: 2px solid #1d3557; }
td.bad { color: #b00020; }
.big { font-size: 28px; font-weight: 700; color: #1d3557; }
.note { font-size: 12px; color: #666; }
pre { background: #f6f8fa; padding: 10px; font-size: 12px; overflow-x: auto; }
"""


@dataclass
class Section:
    """One titled section of the page; ``body`` holds ready HTML fragments."""

    title: str
    body: list[str] = field(default_factory=list)


def esc(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=True)


def img_tag(png: bytes, alt: str, caption: str | None = None) -> str:
    """A ``<figure>`` with the PNG embedded as a data URI, its alt text and a caption."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_data_uri(png)}" alt="{esc(alt)}">{cap}</figure>'


def paragraph(text: str, css_class: str | None = None) -> str:
    """An escaped ``<p>``, optionally with a CSS class."""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<p{cls}>{esc(text)}</p>"


def fmt(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals; ``n/a`` for None or non-finite values."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "n/a"


#: Columns of the score table: (key in a city dict, header, decimals).
SCORE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("agl_r2", "AGL R²", 4),
    ("vflow_r2", "VFLOW R²", 4),
    ("score", "score", 4),
    ("angle_error_deg", "angle error (°)", 2),
    ("scale_error", "scale error (px/m)", 4),
    ("agl_rmse", "AGL RMSE (m)", 3),
    ("epe", "end-point error (px)", 3),
)


def score_table(scores: Mapping[str, Any]) -> str:
    """Per-city table of a metric ``as_dict()`` result plus the final-score row."""
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in SCORE_COLUMNS)
    rows = [f"<tr><th>city</th><th>images</th>{head}</tr>"]
    cities = scores.get("cities") or {}
    for name, city in sorted(cities.items()):
        cells = "".join(f"<td>{fmt(city.get(k), d)}</td>" for k, _, d in SCORE_COLUMNS)
        failed = " (failed)" if city.get("failed") else ""
        cls = ' class="bad"' if failed else ""
        images = esc(city.get("images", ""))
        rows.append(f"<tr><td{cls}>{esc(name)}{failed}</td><td>{images}</td>{cells}</tr>")
    final = "".join(
        f"<td>{fmt(scores.get(k), d) if k in ('agl_r2', 'vflow_r2', 'score') else ''}</td>"
        for k, _, d in SCORE_COLUMNS
    )
    rows.append(f'<tr class="final"><td>final (mean of cities)</td><td></td>{final}</tr>')
    return "<table>" + "".join(rows) + "</table>"


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>",
    ]
    for sec in sections:
        parts.append(f"<section><h2>{esc(sec.title)}</h2>{''.join(sec.body)}</section>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
