"""``nncore.cpu``: PyTorch's CPU device namespace."""

from __future__ import annotations

from nncore.amp import cpu_amp as amp

__all__ = ["amp", "current_device", "device_count", "is_available", "synchronize"]


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device: object = None) -> None:
    """Nothing to wait for: every nncore kernel has finished when its call returns."""

