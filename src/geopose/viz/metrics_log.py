"""Reading a run's ``metrics.jsonl`` (one JSON object per epoch/validation).

Each record has ``epoch``, ``step`` (optimizer steps), ``lr``, ``loss`` ({term: mean
over the epoch, plus ``total``}), ``val`` (the metric's ``as_dict()`` or null) and
throughput figures. A training run stopped mid-write may leave a truncated last line;
it is left out with a note instead of failing the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geopose.errors import DataError


@dataclass
class MetricsLog:
    """The parsed records (in file order) and notes about lines left out."""

    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def validations(self) -> list[dict[str, Any]]:
        """The records that carry a validation result (``val`` is a dict)."""
        return [r for r in self.records if isinstance(r.get("val"), dict)]


def read_metrics_log(path: str | Path) -> MetricsLog:
    """Parse ``metrics.jsonl``; :class:`DataError` names the file and line of a bad record.

    Blank lines are skipped; an unparsable *last* line (a run killed mid-write) is left
    out with a note. Every record must be a JSON object with an integer ``step``.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(p, "file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(p, f"cannot read: {err}") from None
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    log = MetricsLog()
    for k, (lineno, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if k == len(numbered) - 1:
                log.notes.append(f"{p}: line {lineno} is truncated or not JSON; left out")
                break
            raise DataError(p, f"line {lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise DataError(p, f"line {lineno}: expected a JSON object")
        if not isinstance(record.get("step"), int):
            raise DataError(p, f"line {lineno}: missing integer 'step'")
        log.records.append(record)
    return log
