"""Tensor creation: ``tensor``, ``from_numpy``, ``zeros``, ``randn``... with PyTorch's signatures.

Every factory takes ``dtype=`` (the default dtype for floats), ``device=`` (the CPU only) and
``requires_grad=``; random ones draw from the generator ``nncore.manual_seed`` seeds, or from
``generator=``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import devices as _device
from nncore import dtypes
from nncore.tensor import Tensor, _checked_shape, as_array

__all__ = [
    "arange", "as_tensor", "empty", "empty_like", "from_numpy", "full", "full_like", "ones",
    "ones_like", "rand", "rand_like", "randint", "randn", "randn_like", "tensor", "zeros",
    "zeros_like",
]
METHODS = ()


def _finish(arr: np.ndarray, requires_grad: bool, device: Any, op: str) -> Tensor:
    _device.check(device, op)
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dtype(dtype: Any, default: Any = None) -> np.dtype:
    if dtype is None:
        return dtypes.default_numpy() if default is None else np.dtype(default)
    return dtypes.to_numpy(dtype)


def _size(op: str, size: Sequence[Any]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer, Tensor)):
            raise TypeError(f"{op}: size must be a tuple of ints, got {tuple(size)!r:.80}")
    return _checked_shape(op, size)


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    NumPy arrays keep their dtype; Python floats and lists of them take the default dtype
    (float32), Python ints int64, bools bool.
    """
    if isinstance(data, Tensor):
        data = data._array
    return _finish(np.array(as_array(data, dtype)), requires_grad, device, "tensor")


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with a NumPy array or a tensor when no conversion
    is needed."""
    if isinstance(data, Tensor) and (dtype is None or dtypes.to_numpy(dtype) == data._array.dtype):
        _device.check(device, "as_tensor")
        return data
    return _finish(as_array(data, dtype), False, device, "as_tensor")


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory (writes through either show in both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(ndarray).__name__})")
    dtypes.from_numpy(ndarray.dtype)
    return Tensor._wrap(ndarray)


def zeros(*size: Any, out: Any = None, dtype: Any = None, layout: Any = None, device: Any = None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    return _finish(np.zeros(_size("zeros", size), _dtype(dtype)), requires_grad, device, "zeros")


def ones(*size: Any, out: Any = None, dtype: Any = None, layout: Any = None, device: Any = None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    return _finish(np.ones(_size("ones", size), _dtype(dtype)), requires_grad, device, "ones")


def empty(*size: Any, out: Any = None, dtype: Any = None, layout: Any = None, device: Any = None,
          requires_grad: bool = False, pin_memory: bool = False, memory_format: Any = None
          ) -> Tensor:
    """A tensor of the given size. NOTE: zero-filled, so results never depend on stale memory."""
    return _finish(np.zeros(_size("empty", size), _dtype(dtype)), requires_grad, device, "empty")


def full(size: Sequence[int], fill_value: Any, *, out: Any = None, dtype: Any = None,
         layout: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; its dtype follows the value (bool, int64 or the
    default float) unless ``dtype`` is given."""
    if dtype is None:
        dtype = as_array(fill_value).dtype
    return _finish(np.full(_size("full", (size,)), fill_value, _dtype(dtype)), requires_grad,
                   device, "full")


def _like(op: str, t: Tensor, fill: Any, dtype: Any, device: Any, requires_grad: bool
          ) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
    d = t._array.dtype if dtype is None else dtypes.to_numpy(dtype)
    arr = fill(t._array.shape, d)
    return _finish(arr, requires_grad, device, op)


def zeros_like(input: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like("zeros_like", input, np.zeros, dtype, device, requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like("ones_like", input, np.ones, dtype, device, requires_grad)


def empty_like(input: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like("empty_like", input, np.zeros, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, layout: Any = None,
              device: Any = None, requires_grad: bool = False, memory_format: Any = None
              ) -> Tensor:
    return _like("full_like", input, lambda s, d: np.full(s, fill_value, d), dtype, device,
                 requires_grad)


def _generator(generator: Any) -> np.random.Generator:
    if generator is not None:
        return generator._numpy()
    from nncore.random import default_generator

    return default_generator()


def randn(*size: Any, generator: Any = None, out: Any = None, dtype: Any = None,
          layout: Any = None, device: Any = None, requires_grad: bool = False,
          pin_memory: bool = False) -> Tensor:
    """Standard normal samples."""
    d = _dtype(dtype)
    arr = _generator(generator).standard_normal(_size("randn", size)).astype(d)
    return _finish(arr, requires_grad, device, "randn")


def rand(*size: Any, generator: Any = None, out: Any = None, dtype: Any = None,
         layout: Any = None, device: Any = None, requires_grad: bool = False,
         pin_memory: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    d = _dtype(dtype)
    arr = _generator(generator).random(_size("rand", size)).astype(d)
    return _finish(arr, requires_grad, device, "rand")


def randn_like(input: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return randn(input._array.shape, dtype=input._array.dtype if dtype is None else dtype,
                 device=device, requires_grad=requires_grad)


def rand_like(input: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return rand(input._array.shape, dtype=input._array.dtype if dtype is None else dtype,
                device=device, requires_grad=requires_grad)


def randint(*args: Any, size: Any = None, generator: Any = None, out: Any = None,
            dtype: Any = None, layout: Any = None, device: Any = None,
            requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Integers uniform in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``
    (int64 unless ``dtype`` says otherwise)."""
    if size is None:
        if not args:
            raise TypeError("randint: missing the size argument")
        *bounds, size = args
    else:
        bounds = list(args)
    if len(bounds) == 1:
        low, high = 0, bounds[0]
    elif len(bounds) == 2:
        low, high = bounds
    else:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {args!r:.80}")
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"randint: random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    shape = _size("randint", (size,))
    arr = _generator(generator).integers(low, high, size=shape).astype(_dtype(dtype, np.int64))
    return _finish(arr, requires_grad, device, "randint")


def arange(start: Any, end: Any = None, step: Any = 1, *, out: Any = None, dtype: Any = None,
           layout: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``: int64 when all three are
    integers, else the default float dtype."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if vals[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals)
        dtype = np.int64 if is_int else dtypes.default_numpy()
    d = dtypes.to_numpy(dtype)
    n = int(np.ceil((vals[1] - vals[0]) / vals[2]))
    arr = (vals[0] + np.arange(max(n, 0), dtype=np.float64 if d.kind == "f" else np.int64)
           * vals[2]).astype(d)
    return _finish(arr, requires_grad, device, "arange")
