"""Process-wide switches of PyTorch's namespace: determinism, matmul precision, print options,
the default device, ``compile``. nncore is deterministic by construction (fixed reduction orders,
same bits at any thread count), so the determinism switches only record what was asked."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import devices

__all__ = [
    "are_deterministic_algorithms_enabled", "compile", "get_default_device",
    "get_deterministic_debug_mode", "get_float32_matmul_precision", "get_num_interop_threads",
    "is_deterministic_algorithms_warn_only_enabled", "set_default_device",
    "set_deterministic_debug_mode", "set_float32_matmul_precision", "set_num_interop_threads",
    "set_printoptions", "use_deterministic_algorithms",
]

_deterministic = {"mode": False, "warn_only": False}
_matmul_precision = "highest"
_interop_threads = 1


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded; every nncore kernel is already deterministic."""
    _deterministic.update(mode=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic["warn_only"]


def set_deterministic_debug_mode(debug_mode: Any) -> None:
    levels = {"default": 0, "warn": 1, "error": 2}
    level = levels.get(debug_mode, debug_mode)
    if level not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected one of 0, 1, 2 or 'default', "
                           f"'warn', 'error', got {debug_mode!r}")
    use_deterministic_algorithms(level > 0, warn_only=level == 1)


def get_deterministic_debug_mode() -> int:
    if not _deterministic["mode"]:
        return 0
    return 1 if _deterministic["warn_only"] else 2


def set_float32_matmul_precision(precision: str) -> None:
    """Recorded ("highest", "high" or "medium"); nncore's GEMMs are always full float32."""
    global _matmul_precision
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"set_float32_matmul_precision: invalid precision {precision!r}")
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision


def set_num_interop_threads(n: int) -> None:
    """Recorded; nncore has no inter-op thread pool (one op runs at a time)."""
    global _interop_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RuntimeError(f"set_num_interop_threads: expected a positive integer, got {n!r}")
    _interop_threads = n


def get_num_interop_threads() -> int:
    return _interop_threads


def set_default_device(device: Any) -> None:
    """Only the CPU (or None) is accepted."""
    devices.check(device, "set_default_device")


def get_default_device() -> devices.device:
    return devices.CPU


def set_printoptions(precision: int | None = None, threshold: int | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """How tensors print (NumPy's print options underneath)."""
    presets = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
               "full": (4, 2**63 - 1, 3, 80)}
    opts: dict[str, Any] = {}
    if profile is not None:
        p, t, e, w = presets[profile]
        opts.update(precision=p, threshold=t, edgeitems=e, linewidth=w)
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            opts[key] = value
    if sci_mode is not None:
        opts["suppress"] = not sci_mode
    np.set_printoptions(**opts)


def compile(model: Any = None, *, fullgraph: bool = False, dynamic: Any = None,  # noqa: A001
            backend: Any = "inductor", mode: Any = None, options: Any = None,
            disable: bool = False) -> Any:
    """``model`` unchanged: nncore runs eagerly and its kernels are already compiled, so
    ``torch.compile`` is an identity (as a decorator too)."""
    if model is None:
        return lambda fn: fn
    return model
