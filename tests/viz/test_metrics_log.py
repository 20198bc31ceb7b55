"""Reading metrics.jsonl."""

from __future__ import annotations

import json

import pytest

from geopose.errors import DataError
from geopose.viz.metrics_log import read_metrics_log


def test_reads_records_skips_blank_lines(tmp_path):
    p = tmp_path / "metrics.jsonl"
    recs = [{"epoch": 0, "step": 5, "val": None}, {"epoch": 1, "step": 10, "val": {"score": 0.5}}]
    p.write_text(json.dumps(recs[0]) + "\n\n" + json.dumps(recs[1]) + "\n")
    log = read_metrics_log(p)
    assert log.records == recs
    assert log.validations == [recs[1]]
    assert log.notes == []


def test_truncated_last_line_is_left_out_with_a_note(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text(json.dumps({"step": 1}) + "\n" + '{"step": 2, "lo')
    log = read_metrics_log(p)
    assert log.records == [{"step": 1}]
    assert "line 2" in log.notes[0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"step": 1\n{"step": 2}\n', "line 1: not valid JSON"),
        ('[1, 2]\n{"step": 2}\n', "line 1: expected a JSON object"),
        ('{"epoch": 1}\n', "line 1: missing integer 'step'"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, text, problem):
    p = tmp_path / "metrics.jsonl"
    p.write_text(text)
    with pytest.raises(DataError, match=problem) as info:
        read_metrics_log(p)
    assert info.value.path == str(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_metrics_log(tmp_path / "nope.jsonl")
