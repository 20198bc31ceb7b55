"""Comparisons of AGL maps that went through a centimetre file.

A prediction is reproducible to float noise, not to the bit: batch composition, window
blending and thread count change the last bits of a float32 result, and a value near a
half centimetre then rounds either way when written. So a written AGL file equals a
float prediction to within half a centimetre (plus float noise), and two written files
of the same prediction by different paths to within one centimetre — never closer.
"""

from __future__ import annotations

import numpy as np

CM = 0.01  # metres: the AGL file's quantum
FLOAT_NOISE = 1e-4  # metres: far above float32 noise on heights of a few hundred metres


def assert_file_matches_prediction(written: np.ndarray, predicted: np.ndarray) -> None:
    """``written`` (read back from a cm file, m, NaN = no data) equals the float
    ``predicted`` map (m) to its rounding: the same no-data pixels, and every other pixel
    within half a centimetre plus float noise."""
    np.testing.assert_array_equal(np.isnan(written), np.isnan(predicted))
    np.testing.assert_allclose(written, predicted, rtol=0, atol=CM / 2 + FLOAT_NOISE)


def assert_files_match(a: np.ndarray, b: np.ndarray) -> None:
    """Two cm files (m, NaN = no data) written from the same prediction by two paths:
    the same no-data pixels, each value within one centimetre (each side rounded its own
    float noise), and the rounding flips only at a few pixels."""
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=0, atol=CM + FLOAT_NOISE)
    finite = np.isfinite(a)
    flipped = np.count_nonzero(np.abs(a[finite] - b[finite]) > FLOAT_NOISE)
    assert flipped <= max(1, finite.sum() // 100), f"{flipped} pixels differ by a centimetre"
