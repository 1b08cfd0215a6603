"""The cache of large buffers behind nncore's native outputs.

Every native kernel returns new NumPy arrays. Training allocates the same shapes on every step,
and fresh multi-megabyte allocations cost page faults (10-25% of a small CNN's step), so arrays
of 64 KiB and more take their memory from a cache that numpy's deallocation returns it to. The
cache holds at most ``limit`` bytes of free buffers (512 MiB by default, or the environment
variable ``NNCORE_POOL_MB``); arrays in use are never counted against it.
"""

from __future__ import annotations

from nncore import _C

__all__ = ["empty_cache", "memory_stats", "set_cache_limit"]


def memory_stats() -> dict[str, int]:
    """The cache's state: ``cached_bytes`` and ``cached_buffers`` (free, ready for reuse),
    ``limit_bytes``, and the allocation ``hits`` and ``misses`` since the process started."""
    return dict(_C.pool_stats())


def empty_cache() -> None:
    """Frees every cached buffer back to the system (arrays in use keep theirs)."""
    _C.pool_clear()


def set_cache_limit(nbytes: int) -> None:
    """Caps the bytes of free buffers the cache keeps; 0 turns caching off.

    Raises:
        ValueError: ``nbytes`` is negative or not an integer.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"set_cache_limit: nbytes must be a non-negative integer, got {nbytes!r}")
    _C.pool_set_limit(nbytes)
