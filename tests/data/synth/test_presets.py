"""City presets: the shipped ones match the published ranges; user YAML is validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from geopose.data.synth.presets import load_presets
from geopose.errors import DataError

# Published ranges of the 2021 Overhead Geopose Challenge's data (mean AGL: the 1st
# place's reference means), written out independently of the YAML.
GSD = {"ARG": (0.31, 0.41), "ATL": (0.47, 0.59), "JAX": (0.31, 0.39), "OMA": (0.31, 0.36)}
MEAN_AGL = {"ARG": 3.86, "ATL": 8.44, "JAX": 4.43, "OMA": 2.27}
MAX_AGL = {"ARG": 100.0, "ATL": 200.0, "JAX": 200.0, "OMA": 200.0}


def test_shipped_presets_match_the_published_ranges() -> None:
    presets = load_presets()
    assert set(presets) >= set(GSD)
    for city, p in ((c, presets[c]) for c in GSD):
        assert p.gsd == pytest.approx(GSD[city])
        assert p.max_agl == MAX_AGL[city]
        assert p.mean_agl == pytest.approx(MEAN_AGL[city], abs=0.01)
        assert p.elevation[0] >= 54
        assert p.elevation[1] <= 86
        assert 2 <= len(p.passes) <= 6  # a few satellite passes, not a uniform spread
        assert all(54 <= elev <= 86 for _, elev, _ in p.passes)


def test_user_preset_extends_a_base_city(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("XYZ:\n  base: OMA\n  gsd: [0.5, 0.6]\n  description: test town\n")
    presets = load_presets([path])
    assert presets["XYZ"].gsd == (0.5, 0.6)
    assert presets["XYZ"].passes == presets["OMA"].passes
    assert presets["XYZ"].name == "XYZ"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("XYZ:\n  base: OMA\n  colour: 3\n", "unknown key"),
        ("XYZ:\n  base: OMA\n  gsd: [0.6, 0.5]\n", "low 0.6 > high 0.5"),
        ("XYZ:\n  base: NOPE\n", "unknown base"),
        ("XYZ:\n  base: OMA\n  gsd: fine\n", "gsd must be [low, high]"),
        ("- a list\n", "mapping"),
        ("X_Y:\n  base: OMA\n", "without '_'"),
    ],
)
def test_bad_user_presets_name_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=r"bad\.yaml") as err:
        load_presets([path])
    assert problem in str(err.value)


def test_missing_preset_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_presets([tmp_path / "absent.yaml"])
