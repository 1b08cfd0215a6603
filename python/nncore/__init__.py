"""nncore: a neural-network library for the CPU.

C++17/Eigen/OpenMP kernels under a PyTorch-like Python API: Tensor with autograd, ``nn``,
``optim``, ``data``, ``metrics``.
"""

from __future__ import annotations

import os
import sys

# NOTE: NumPy's OpenBLAS threads keep spinning after a call and steal the second core from the
# next OpenMP kernel (design.md: up to 9.6x slower); nncore does no BLAS work through NumPy, so
# one BLAS thread costs nothing. Only possible before NumPy loads.
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from nncore import _C  # noqa: E402
from nncore.autograd import enable_grad, is_grad_enabled, no_grad  # noqa: E402
from nncore.random import manual_seed  # noqa: E402
from nncore.tensor import (  # noqa: E402
    Tensor,
    arange,
    cat,
    full,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)

__version__ = _C.build_info()["version"]


def set_num_threads(n: int) -> None:
    """Threads used by every native kernel (OpenMP loops and Eigen's GEMM)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Threads used by native kernels."""
    return _C.get_num_threads()


if os.environ.get("NNCORE_NUM_THREADS"):
    set_num_threads(int(os.environ["NNCORE_NUM_THREADS"]))

from nncore import data, functional, memory, metrics, nn, onnx, optim, profiler  # noqa: E402
from nncore.data import datasets  # noqa: E402
from nncore.serialization import load, save  # noqa: E402

__all__ = [
    "Tensor", "arange", "cat", "data", "datasets", "enable_grad", "full", "functional",
    "get_num_threads", "is_grad_enabled", "load", "manual_seed", "memory", "metrics", "nn",
    "no_grad", "onnx", "ones", "ones_like", "optim", "profiler", "rand", "randint", "randn",
    "save", "set_num_threads", "stack", "tensor", "where", "zeros", "zeros_like",
]

if os.environ.get("NNCORE_PROFILE", "0") not in ("", "0"):
    profiler._profile_script()  # profile the whole script, print the table at exit
