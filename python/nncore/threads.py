"""The thread count of nncore's native kernels: one setting for the whole process.

Kernels run on a small pool of nncore's own threads (not OpenMP), so this setting never changes
PyTorch's or any other library's thread count, and kernels called from any Python thread obey
it. The default is the number of CPUs the process may use: its affinity mask, capped by a cgroup
(v1 or v2) CPU quota, so a container limited to one CPU runs one thread.
"""

from __future__ import annotations

import os

from nncore import _C

# The most threads set_num_threads accepts (the native pool's limit).
MAX_THREADS = 256


def set_num_threads(n: int) -> None:
    """Set the number of threads every native kernel may use, for the whole process.

    Args:
        n: 1 to ``MAX_THREADS`` (256).

    Raises:
        TypeError: ``n`` is not an int.
        RuntimeError: ``n`` < 1 (PyTorch's error for it).
        ValueError: ``n`` > 256.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads(): argument 'int' must be int, not {type(n).__name__}")
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n}")
    if n > MAX_THREADS:
        raise ValueError(f"set_num_threads: at most {MAX_THREADS} threads, got {n}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Returns:
    The number of threads native kernels may use (process-wide).
    """
    return _C.get_num_threads()


def default_num_threads() -> int:
    """Returns:
    The CPUs this process may use: its affinity mask capped by its cgroup CPU quota.
    """
    return _C.default_num_threads()


def _from_environment() -> None:
    """Apply NNCORE_NUM_THREADS, else OMP_NUM_THREADS (as PyTorch reads it), when set."""
    for name in ("NNCORE_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0].strip()
        if not value:
            continue
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{name}={os.environ[name]!r}: expected a number of threads") from None
        set_num_threads(n)
        return
