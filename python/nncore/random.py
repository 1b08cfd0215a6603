"""One seeded source of randomness for initialisation, dropout and shuffling.

``nncore.manual_seed(s)`` resets it, so two runs with the same seed (and thread count) draw the
same weights, dropout masks and batch orders.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

# NOTE: an unseeded process still draws a recorded 63-bit seed, so ``initial_seed()`` can always
# be written into a run record and the run repeated.
_seed: int = int(np.random.SeedSequence().generate_state(2, np.uint64)[0] >> np.uint64(1))
_generator: np.random.Generator = np.random.default_rng(_seed)


def manual_seed(seed: int) -> None:
    """Seed initialisation, dropout masks and data shuffling.

    Args:
        seed: any non-negative integer.
    """
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative integer, got {seed!r}")
    global _seed
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)


def initial_seed() -> int:
    """The seed of the default generator: the last ``manual_seed`` value, or the seed drawn
    from OS entropy at import when ``manual_seed`` was never called."""
    return _seed


def get_rng_state() -> dict[str, Any]:
    """A copy of the default generator's state (JSON-serialisable: ints and strings).

    Returns:
        ``{"seed": initial_seed(), "bit_generator": <NumPy bit-generator state dict>}``.
    """
    return {"seed": _seed, "bit_generator": copy.deepcopy(_generator.bit_generator.state)}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the default generator from ``get_rng_state()``: later draws (initialisation,
    dropout seeds, loader seeds) continue exactly where the saved run left off.

    Raises:
        ValueError: when ``state`` is not a state of the same bit generator.
    """
    global _seed
    if not isinstance(state, dict) or "bit_generator" not in state or "seed" not in state:
        raise ValueError(f"set_rng_state: expected a dict from get_rng_state(), got {state!r:.80}")
    inner = state["bit_generator"]
    own = _generator.bit_generator
    if not isinstance(inner, dict) or inner.get("bit_generator") != type(own).__name__:
        name = inner.get("bit_generator") if isinstance(inner, dict) else type(inner).__name__
        raise ValueError(f"set_rng_state: state of bit generator {name!r}, expected "
                         f"{type(own).__name__!r}")
    # NOTE: in place, so code that holds default_generator() follows the restored state.
    own.state = copy.deepcopy(inner)
    _seed = int(state["seed"])


def default_generator() -> np.random.Generator:
    """The generator that initialisation and factory functions draw from."""
    return _generator


def next_seed() -> int:
    """A fresh 63-bit seed drawn from the default generator (for native counter-based RNGs)."""
    return int(_generator.integers(0, 2**63 - 1))
