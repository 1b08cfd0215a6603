"""``nncore.accelerator``: PyTorch's device-agnostic accelerator API; the CPU is not an
accelerator, so none is ever available (scripts then pick ``device("cpu")``)."""

from __future__ import annotations

from typing import Any

__all__ = ["current_accelerator", "device_count", "is_available"]


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False) -> Any:
    """None: no accelerator (PyTorch returns None when it has none)."""
    return None


def device_count() -> int:
    return 0
