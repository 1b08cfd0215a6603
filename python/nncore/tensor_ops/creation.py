"""Tensor creation: ``tensor``, ``from_numpy``, ``zeros``, ``eye``, ``linspace``... and the
``new_*`` methods, with PyTorch's signatures. Random factories are in ``sampling.py``.

Every factory takes ``dtype=`` (the default dtype for floats), ``device=`` (the CPU only) and
``requires_grad=``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import devices as _device
from nncore import dtypes
from nncore.tensor import Tensor, _checked_shape, as_array

__all__ = [
    "arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
    "linspace", "logspace", "ones", "ones_like", "tensor", "zeros", "zeros_like", "clone",
    "detach",
]
METHODS = ("new_empty", "new_full", "new_ones", "new_tensor", "new_zeros")


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
    try:
        arr = np.full(_size("full", (size,)), fill_value, _dtype(dtype))
    except OverflowError:
        # NOTE: NumPy's OverflowError for an int outside the dtype; PyTorch's RuntimeError.
        raise RuntimeError(f"full: value {fill_value!r} cannot be converted to type "
                           f"{np.dtype(_dtype(dtype))} without overflow") from None
    return _finish(arr, requires_grad, device, "full")


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
    span = (vals[1] - vals[0]) / vals[2]
    # NOTE: a non-finite bound or a count past any array is PyTorch's "invalid size" error,
    # not an OverflowError from int() or np.arange.
    if not np.isfinite(span) or span > 2**48 or max(abs(v) for v in vals) >= 2**63:
        raise RuntimeError(f"arange: invalid size, possible overflow? (start={vals[0]!r}, "
                           f"end={vals[1]!r}, step={vals[2]!r})")
    n = int(np.ceil(span))
    arr = (vals[0] + np.arange(max(n, 0), dtype=np.float64 if d.kind == "f" else np.int64)
           * vals[2]).astype(d)
    return _finish(arr, requires_grad, device, "arange")


def _number(op: str, name: str, x: Any) -> Any:
    if isinstance(x, Tensor):
        if x._array.size != 1:
            raise RuntimeError(f"{op}: {name} must be a number or a 1-element tensor, got shape "
                               f"{tuple(x._array.shape)}")
        return x._array.item()
    return x


def eye(n: int, m: int | None = None, *, out: Any = None, dtype: Any = None, layout: Any = None,
        device: Any = None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An n x m matrix (n x n when m is None) with ones on the diagonal."""
    n = int(n)
    m = n if m is None else int(m)
    if n < 0 or m < 0:
        raise RuntimeError(f"eye: n and m must be non-negative, got n={n}, m={m}")
    return _finish(np.eye(n, m, dtype=_dtype(dtype)), requires_grad, device, "eye")


def _linspace(op: str, start: Any, end: Any, steps: Any) -> np.ndarray:
    start, end = _number(op, "start", start), _number(op, "end", end)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'steps' must be int, not {type(steps).__name__}")
    steps = int(steps)
    if steps < 0:
        raise RuntimeError(f"{op}: number of steps must be non-negative")
    if steps == 1:
        return np.array([start], dtype=np.float64)
    i = np.arange(steps, dtype=np.float64)
    step = (end - start) / max(steps - 1, 1)
    # NOTE: PyTorch's formula: the first half counts up from start, the second down from end,
    # so both ends are exact.
    return np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))


def linspace(start: Any, end: Any, steps: int, *, out: Any = None, dtype: Any = None,
             layout: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (the default float
    dtype; an integer ``dtype`` truncates)."""
    arr = _linspace("linspace", start, end, steps)
    return _finish(arr.astype(_dtype(dtype)), requires_grad, device, "linspace")


def logspace(start: Any, end: Any, steps: int, base: float = 10.0, *, out: Any = None,
             dtype: Any = None, layout: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    arr = np.power(float(base), _linspace("logspace", start, end, steps))
    return _finish(arr.astype(_dtype(dtype)), requires_grad, device, "logspace")


# ---- Tensor.new_* : factories taking this tensor's dtype ----------------------------------


def _new(self: Tensor, op: str, size: tuple, fill: Any, dtype: Any, device: Any,
         requires_grad: bool) -> Tensor:
    d = self._array.dtype if dtype is None else dtypes.to_numpy(dtype)
    return _finish(np.full(_size(op, size), fill, d), requires_grad, device, op)


def new_zeros(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, layout: Any = None, pin_memory: bool = False
              ) -> Tensor:
    """Zeros of the given size in this tensor's dtype (unless ``dtype`` is given)."""
    return _new(self, "new_zeros", size, 0, dtype, device, requires_grad)


def new_ones(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False, layout: Any = None, pin_memory: bool = False
             ) -> Tensor:
    """Ones of the given size in this tensor's dtype (unless ``dtype`` is given)."""
    return _new(self, "new_ones", size, 1, dtype, device, requires_grad)


def new_empty(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, layout: Any = None, pin_memory: bool = False
              ) -> Tensor:
    """A tensor of the given size in this tensor's dtype (zero-filled, see ``empty``)."""
    return _new(self, "new_empty", size, 0, dtype, device, requires_grad)


def new_full(self: Tensor, size: Any, fill_value: Any, *, dtype: Any = None,
             device: Any = None, requires_grad: bool = False, layout: Any = None,
             pin_memory: bool = False) -> Tensor:
    """``fill_value`` everywhere, in this tensor's dtype (unless ``dtype`` is given)."""
    return _new(self, "new_full", (size,), _number("new_full", "fill_value", fill_value), dtype,
                device, requires_grad)


def new_tensor(self: Tensor, data: Any, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False, layout: Any = None, pin_memory: bool = False
               ) -> Tensor:
    """A copy of ``data`` in this tensor's dtype (unless ``dtype`` is given)."""
    d = self._array.dtype if dtype is None else dtype
    return tensor(data, dtype=d, device=device, requires_grad=requires_grad)


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """``torch.clone``: a copy of ``input`` that gradients flow back through."""
    return input.clone(memory_format=memory_format)


def detach(input: Tensor) -> Tensor:
    """``torch.detach``: ``input`` outside autograd, sharing its memory."""
    return input.detach()
