"""Explicit random generators for random transforms (no global random state)."""

from __future__ import annotations

import numpy as np

#: What a random transform accepts as its source of randomness.
RngLike = np.random.Generator | int | None


def as_generator(rng: RngLike) -> np.random.Generator:
    """Return ``rng`` itself if it is a Generator, else a new Generator seeded with it.

    ``None`` draws fresh entropy from the operating system (not reproducible); pass an
    int or a Generator for reproducible draws.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None and not isinstance(rng, (int, np.integer)):
        raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng)}")
    return np.random.default_rng(rng)
