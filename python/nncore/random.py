"""Random number generators: PyTorch's ``Generator`` API over NumPy's PCG64.

``nncore.manual_seed(s)`` reseeds the default generator, which initialisation, dropout masks,
data shuffling and the random factories draw from, so two runs with the same seed (and thread
count) draw the same bits. ``generator=`` arguments take a ``nncore.Generator``: a stream
independent of the default one.

States: ``get_rng_state()`` is a uint8 tensor as in PyTorch (its contents are nncore's own: a
PCG64 state, not PyTorch's Mersenne Twister); ``get_rng_state_dict()`` is the same state as
JSON-serialisable ints, which ``nncore.train`` checkpoints store.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from nncore import devices

__all__ = ["Generator", "default_generator", "fork_rng", "get_rng_state", "initial_seed",
           "manual_seed", "seed", "set_rng_state"]

_MAGIC = b"nncPCG64"  # 8 bytes heading every state tensor, so a foreign state is refused
_STATE_BYTES = 8 + 8 + 16 + 16 + 4 + 4  # magic, seed, state, inc, has_uint32, uinteger


def _fresh_seed() -> int:
    # NOTE: an unseeded generator still has a recorded 63-bit seed, so ``initial_seed()`` can
    # always be written into a run record and the run repeated.
    return int(np.random.SeedSequence().generate_state(2, np.uint64)[0] >> np.uint64(1))


def _checked_seed(seed: Any) -> int:
    if not isinstance(seed, (int, float, str, np.number)):
        raise TypeError(f"manual_seed: expected an integer seed, got {type(seed).__name__}")
    try:
        s = int(seed)
    except ValueError:
        raise TypeError(f"manual_seed: expected an integer seed, got {seed!r:.40}") from None
    if not -(2**63) <= s < 2**64:
        raise ValueError(f"manual_seed: seed {s} is out of range: Overflow when unpacking long "
                         f"long (expected [-2**63, 2**64))")
    return s % 2**64  # negative seeds wrap, as PyTorch's


class Generator:
    """A random stream (``torch.Generator``): seeded with ``manual_seed``, its state read and
    restored with ``get_state``/``set_state``; pass it as ``generator=`` to random factories
    and in-place fills.

    Args:
        device: the CPU (the only device).
    """

    def __init__(self, device: Any = "cpu") -> None:
        devices.check(device, "Generator")
        self._seed = _fresh_seed()
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    @property
    def device(self) -> devices.device:
        return devices.CPU

    def manual_seed(self, seed: Any) -> Generator:
        """Reseed; returns this generator (``Generator().manual_seed(0)``)."""
        s = _checked_seed(seed)
        # NOTE: in place, so code holding this generator's NumPy stream follows the new seed.
        self._rng.bit_generator.state = np.random.PCG64(s).state
        self._seed = s
        return self

    def seed(self) -> int:
        """Reseed from OS entropy; returns the new seed."""
        s = _fresh_seed()
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> Any:
        """The generator's state as a uint8 tensor (for ``set_state``)."""
        from nncore.tensor import Tensor

        st = self._rng.bit_generator.state
        raw = (_MAGIC + self._seed.to_bytes(8, "little")
               + st["state"]["state"].to_bytes(16, "little")
               + st["state"]["inc"].to_bytes(16, "little")
               + int(st["has_uint32"]).to_bytes(4, "little")
               + int(st["uinteger"]).to_bytes(4, "little"))
        return Tensor._wrap(np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        """Restore a state from ``get_state()``; later draws repeat those made after it.

        Raises:
            TypeError: not a uint8 tensor. RuntimeError: not a state of this generator type.
        """
        arr = getattr(new_state, "_array", None)
        if arr is None or arr.dtype != np.uint8:
            raise TypeError("RNG state must be a torch.ByteTensor (a uint8 tensor from "
                            "get_rng_state())")
        raw = arr.tobytes()
        if len(raw) != _STATE_BYTES or raw[:8] != _MAGIC:
            raise RuntimeError(f"set_state: expected an nncore PCG64 state of {_STATE_BYTES} "
                               f"bytes (from get_rng_state()), got {len(raw)} bytes")

        def field(lo: int, hi: int) -> int:
            return int.from_bytes(raw[lo:hi], "little")

        self._rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": field(16, 32), "inc": field(32, 48)},
            "has_uint32": field(48, 52), "uinteger": field(52, 56)}
        self._seed = field(8, 16)
        return self

    def _numpy(self) -> np.random.Generator:
        return self._rng

    def __call__(self) -> np.random.Generator:
        """The NumPy stream (``nncore.random.default_generator()``, as nncore's own code and
        older callers use it)."""
        return self._rng

    def __repr__(self) -> str:
        return f"<nncore.Generator object (seed {self._seed})>"


default_generator = Generator()


def numpy_generator(generator: Any) -> np.random.Generator:
    """The NumPy stream of ``generator`` (the default generator when None).

    Raises:
        TypeError: for anything but a ``nncore.Generator``.
    """
    if generator is None:
        return default_generator._rng
    if isinstance(generator, Generator):
        return generator._rng
    raise TypeError(f"generator must be a nncore.Generator, got {type(generator).__name__}")


def manual_seed(seed: Any) -> Generator:
    """Seed the default generator (initialisation, dropout masks, shuffling, random factories).

    Args:
        seed: an integer in [-2**63, 2**64); negative seeds wrap modulo 2**64, as PyTorch's.
    Returns:
        The default generator.
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from OS entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The default generator's seed: the last ``manual_seed`` value, or the seed drawn from OS
    entropy at import."""
    return default_generator.initial_seed()


def get_rng_state() -> Any:
    """The default generator's state as a uint8 tensor (``torch.get_rng_state``)."""
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the default generator from ``get_rng_state()`` (or ``get_rng_state_dict()``)."""
    if isinstance(new_state, dict):
        set_rng_state_dict(new_state)
    else:
        default_generator.set_state(new_state)


def get_rng_state_dict() -> dict[str, Any]:
    """The default generator's state, JSON-serialisable (ints and strings).

    Returns:
        ``{"seed": initial_seed(), "bit_generator": <NumPy bit-generator state dict>}``.
    """
    return {"seed": default_generator._seed,
            "bit_generator": copy.deepcopy(default_generator._rng.bit_generator.state)}


def set_rng_state_dict(state: dict[str, Any]) -> None:
    """Restore the default generator from ``get_rng_state_dict()``: later draws
    (initialisation, dropout seeds, loader seeds) continue where the saved run left off.

    Raises:
        ValueError: when ``state`` is not a state of the same bit generator.
    """
    if not isinstance(state, dict) or "bit_generator" not in state or "seed" not in state:
        raise ValueError(f"set_rng_state: expected a dict from get_rng_state_dict(), got "
                         f"{state!r:.80}")
    inner = state["bit_generator"]
    own = default_generator._rng.bit_generator
    if not isinstance(inner, dict) or inner.get("bit_generator") != type(own).__name__:
        name = inner.get("bit_generator") if isinstance(inner, dict) else type(inner).__name__
        raise ValueError(f"set_rng_state: state of bit generator {name!r}, expected "
                         f"{type(own).__name__!r}")
    own.state = copy.deepcopy(inner)
    default_generator._seed = int(state["seed"])


@contextlib.contextmanager
def fork_rng(devices: Any = None, enabled: bool = True, _caller: str = "fork_rng",
             _devices_kw: str = "devices", device_type: Any = None) -> Iterator[None]:
    """Context manager: draws inside it leave the default generator's state as it was before.

    Args:
        enabled: False makes it a no-op.
    """
    if not enabled:
        yield
        return
    saved = get_rng_state_dict()
    try:
        yield
    finally:
        set_rng_state_dict(saved)


def next_seed() -> int:
    """A fresh 63-bit seed drawn from the default generator (for native counter-based RNGs)."""
    return int(default_generator._rng.integers(0, 2**63 - 1))
