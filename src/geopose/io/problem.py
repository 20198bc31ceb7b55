"""A problem found in a data file: the file's path and what is wrong with it.

``geopose check`` collects these instead of stopping at the first one; strict readers
(:func:`geopose.io.catalog.open_layout`) turn the first serious one into a
:class:`geopose.errors.DataError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from geopose.errors import DataError

#: What kind of problem it is. ``index``: a CSV or its rows are unusable; ``missing``: a
#: listed file does not exist; ``unexpected``: a file that no index lists; ``content``: a
#: file exists but its contents are wrong (corrupt, wrong size, NaN scale, ...).
ProblemKind = Literal["index", "missing", "unexpected", "content"]


@dataclass(frozen=True, order=True)
class Problem:
    """One problem: ``path`` names the file, ``message`` says what is wrong in one line."""

    path: str
    message: str
    kind: ProblemKind = "content"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_error(self) -> DataError:
        """The same problem as an exception, for strict readers."""
        return DataError(self.path, self.message)

    @classmethod
    def from_error(cls, err: DataError, kind: ProblemKind = "content") -> Problem:
        """Turn a :class:`DataError` raised by a reader into a collected problem."""
        return cls(err.path, err.problem, kind)
