"""``nncore.cuda``: PyTorch's CUDA namespace on a CPU-only library. ``is_available()`` is False;
seeding and cache calls are accepted and do nothing (as PyTorch's are without a GPU); anything
that needs a device raises the clear device error."""

from __future__ import annotations

from typing import Any

from nncore import devices

__all__ = [
    "current_device", "device_count", "empty_cache", "get_device_name", "is_available",
    "is_bf16_supported", "manual_seed", "manual_seed_all", "max_memory_allocated",
    "memory_allocated", "reset_peak_memory_stats", "seed", "seed_all", "set_device",
    "synchronize",
]


def is_available() -> bool:
    """False: nncore computes on the CPU only."""
    return False


def device_count() -> int:
    return 0


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def is_initialized() -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Accepted and ignored: there is no CUDA generator (PyTorch does the same without a GPU)."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as ``manual_seed``."""


def seed() -> None:
    """Accepted and ignored, as ``manual_seed``."""


def seed_all() -> None:
    """Accepted and ignored, as ``manual_seed``."""


def empty_cache() -> None:
    """Nothing to free: no CUDA memory is ever allocated."""


def memory_allocated(device: Any = None) -> int:
    return 0


def max_memory_allocated(device: Any = None) -> int:
    return 0


def reset_peak_memory_stats(device: Any = None) -> None:
    return None


def _no_device(op: str) -> Any:
    devices.check("cuda", op)


def synchronize(device: Any = None) -> None:
    _no_device("cuda.synchronize")


def current_device() -> int:
    return _no_device("cuda.current_device")


def set_device(device: Any) -> None:
    _no_device("cuda.set_device")


def get_device_name(device: Any = None) -> str:
    return _no_device("cuda.get_device_name")


def __getattr__(name: str) -> Any:
    if name == "amp":
        from nncore.amp import cuda_amp

        return cuda_amp
    raise AttributeError(f"module 'nncore.cuda' has no attribute {name!r}: nncore runs on the "
                         f"CPU only, so CUDA features (streams, events, graphs...) are not "
                         f"available")
