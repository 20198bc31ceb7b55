"""The HTML building blocks: escaping, the score table, no external resources."""

from __future__ import annotations

import base64
import re

from geopose.viz.html import Section, fmt, img_tag, render_page, score_table

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_fmt():
    assert fmt(0.123456) == "0.1235"
    assert fmt(2.0, 1) == "2.0"
    assert fmt(None) == "n/a"
    assert fmt(float("nan")) == "n/a"
    assert fmt(True) == "n/a"


def test_img_tag_embeds_the_png_and_escapes_alt():
    tag = img_tag(PNG_1PX, 'a "quoted" <alt>', "cap & more")
    src = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
    assert src is not None
    assert base64.b64decode(src.group(1)) == PNG_1PX
    assert 'alt="a &quot;quoted&quot; &lt;alt&gt;"' in tag
    assert "cap &amp; more" in tag


def test_score_table_rows_and_failed_city():
    scores = {
        "score": 0.5,
        "agl_r2": 0.4,
        "vflow_r2": 0.6,
        "cities": {
            "JAX": {
                "agl_r2": 0.8,
                "vflow_r2": 0.9,
                "score": 0.85,
                "images": 3,
                "angle_error_deg": 1.234,
                "scale_error": 0.01,
                "agl_rmse": None,
            },
            "ARG": {
                "agl_r2": 0.0,
                "vflow_r2": 0.0,
                "score": 0.0,
                "images": 1,
                "failed": ["x missing"],
            },
        },
    }
    table = score_table(scores)
    rows = re.findall(r"<tr.*?</tr>", table)
    assert len(rows) == 4  # header, ARG, JAX, final
    assert "ARG (failed)" in rows[1]
    assert 'class="bad"' in rows[1]
    assert "<td>0.8500</td>" in rows[2]
    assert "<td>1.23</td>" in rows[2]
    assert "n/a" in rows[2]
    assert "final" in rows[3]
    assert "<td>0.5000</td>" in rows[3]


def test_page_has_sections_and_no_external_resources():
    page = render_page("t <1>", "sub", [Section("Scores", ["<p>x</p>"]), Section("B")])
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>t &lt;1&gt;</title>" in page
    assert page.count("<section>") == 2
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "http" not in page
