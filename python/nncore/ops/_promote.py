"""Operands of elementwise ops brought to one dtype by PyTorch's promotion rules
(``dtypes.result_numpy``), before a Function sees their arrays.

Casts of tensors that require grad go through ``CastFn``, so the gradient comes back in the
input's dtype. The common cases (two tensors of one dtype, a float tensor with a Python number)
take a few attribute reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import autograd, dtypes
from nncore.ops.basic import CastFn

_NUMBER = (bool, int, float, complex, np.generic)


def cast(t: Any, d: np.dtype) -> Any:
    """Tensor ``t`` in dtype ``d`` (itself when it already is)."""
    arr = t._array
    if arr.dtype == d:
        return t
    if t.requires_grad and autograd._grad_enabled:
        return CastFn.apply(t, dtype=d)
    return autograd._make_tensor(arr.astype(d), None)


def constant(x: Any, d: np.dtype) -> Any:
    """A Python number or array-like as a constant tensor of dtype ``d``."""
    try:
        arr = np.asarray(x, dtype=d)
    except OverflowError:
        # NOTE: PyTorch wraps an out-of-range integer into a small dtype (uint8 + 300 adds 44).
        arr = np.asarray(x).astype(d)
    return autograd._make_tensor(arr, None)


def tensor(op: str, x: Any, name: str = "input") -> Any:
    """``x`` itself when it is a Tensor, else a TypeError naming the op and argument."""
    if isinstance(x, autograd._Tensor):
        return x
    raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def result(op: str, *operands: Any) -> np.dtype:
    try:
        return dtypes.result_numpy(*operands)
    except TypeError:
        bad = next(x for x in operands if not isinstance(x, (autograd._Tensor, np.ndarray,
                                                              *_NUMBER)))
        raise TypeError(f"{op}(): expected Tensors or numbers, got {type(bad).__name__}") from None


def operands(a: Any, b: Any, op: str = "op") -> tuple[Any, Any]:
    """``a`` and ``b`` as Tensors of their promoted dtype (at least one is a Tensor)."""
    tensor_t = autograd._Tensor
    if isinstance(a, tensor_t):
        ad = a._array.dtype
        if isinstance(b, tensor_t):
            if ad == b._array.dtype:
                return a, b
        elif isinstance(b, (int, float)) and ad.kind in "fc" and not isinstance(b, bool):
            # NOTE: the hot cases (x * 0.5, 1 - x): the number takes the tensor's dtype.
            return a, constant(b, ad)
    elif (isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, tensor_t)
          and b._array.dtype.kind in "fc"):
        return constant(a, b._array.dtype), b
    d = result(op, a, b)
    return _as(a, d), _as(b, d)


def _as(x: Any, d: np.dtype) -> Any:
    if isinstance(x, autograd._Tensor):
        return cast(x, d)
    return constant(x, d)


def all_as(op: str, *xs: Any) -> tuple[Any, ...]:
    """Every operand as a Tensor of their common promoted dtype."""
    d = result(op, *xs)
    return tuple(_as(x, d) for x in xs)


def floating(d: np.dtype) -> np.dtype:
    """``d`` when it is floating or complex, else the default float dtype (what PyTorch's
    float-valued ops return for integer and bool inputs)."""
    return d if d.kind in "fc" else dtypes.default_numpy()


def float_input(op: str, x: Any) -> Any:
    """Tensor ``x`` for an op with floating results: integer and bool tensors become the
    default float dtype."""
    try:
        arr = x._array
    except AttributeError:
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not "
                        f"{type(x).__name__}") from None
    if arr.dtype.kind in "fc":
        return x
    return autograd._make_tensor(arr.astype(dtypes.default_numpy()), None)
