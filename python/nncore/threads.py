"""The thread count of nncore's native kernels (OpenMP loops and Eigen's GEMM)."""

from __future__ import annotations

import os

from nncore import _C


def set_num_threads(n: int) -> None:
    """Threads used by every native kernel (OpenMP loops and Eigen's GEMM)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Threads used by native kernels."""
    return _C.get_num_threads()


def _from_environment() -> None:
    if os.environ.get("NNCORE_NUM_THREADS"):
        set_num_threads(int(os.environ["NNCORE_NUM_THREADS"]))
