"""One seeded source of randomness for initialisation, dropout and shuffling.

``nncore.manual_seed(s)`` resets it, so two runs with the same seed (and thread count) draw the
same weights, dropout masks and batch orders.
"""

from __future__ import annotations

import numpy as np

_generator: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed initialisation, dropout masks and data shuffling.

    Args:
        seed: any non-negative integer.
    """
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))


def default_generator() -> np.random.Generator:
    """The generator that initialisation and factory functions draw from."""
    return _generator


def next_seed() -> int:
    """A fresh 63-bit seed drawn from the default generator (for native counter-based RNGs)."""
    return int(_generator.integers(0, 2**63 - 1))
