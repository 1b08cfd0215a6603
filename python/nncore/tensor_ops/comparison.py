"""Comparisons and logic (``nncore.eq``, ``isclose``, ``logical_and``, ``maximum``...):
bool results without gradient, except ``maximum``/``minimum``."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.ops import _promote
from nncore.ops import pointwise as pw
from nncore.tensor import Tensor
from nncore.tensor_ops.pointwise import no_out

__all__ = [
    "allclose", "eq", "equal", "ge", "greater", "greater_equal", "gt", "isclose", "isfinite",
    "isinf", "isnan", "isneginf", "isposinf", "isreal", "le", "less", "less_equal",
    "logical_and", "logical_not", "logical_or", "logical_xor", "lt", "maximum", "minimum", "ne",
    "not_equal",
]
METHODS = tuple(__all__)


def _value(x: Any) -> Any:
    return x._array if isinstance(x, Tensor) else x


def _compare(op: str, ufunc: Any, input: Any, other: Any, out: Any) -> Tensor:
    no_out(op, out)
    _promote.tensor(op, input)
    return Tensor._wrap(np.asarray(ufunc(input._array, _value(other))))


def eq(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """input == other, elementwise (bool)."""
    return _compare("eq", np.equal, input, other, out)


def ne(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """input != other, elementwise (bool)."""
    return _compare("ne", np.not_equal, input, other, out)


def lt(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """input < other, elementwise (bool)."""
    return _compare("lt", np.less, input, other, out)


def le(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """input <= other, elementwise (bool)."""
    return _compare("le", np.less_equal, input, other, out)


def gt(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """input > other, elementwise (bool)."""
    return _compare("gt", np.greater, input, other, out)


def ge(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """input >= other, elementwise (bool)."""
    return _compare("ge", np.greater_equal, input, other, out)


not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and values (dtypes may differ)."""
    a = _promote.tensor("equal", input)._array
    b = _promote.tensor("equal", other, "other")._array
    return a.shape == b.shape and bool(np.array_equal(a, b))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other|, elementwise (bool).

    Raises:
        RuntimeError: for tensors of different dtypes, as PyTorch.
    """
    a = _promote.tensor("isclose", input)
    b = _promote.tensor("isclose", other, "other")
    if a._array.dtype != b._array.dtype:
        raise RuntimeError(f"isclose: {a.dtype} did not match {b.dtype}")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, "
                           f"atol={atol}")
    return Tensor._wrap(np.isclose(a._array, b._array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether ``isclose`` holds everywhere."""
    return bool(np.all(isclose(input, other, rtol, atol, equal_nan)._array))


def _test(op: str, ufunc: Any, input: Tensor) -> Tensor:
    return Tensor._wrap(np.asarray(ufunc(_promote.tensor(op, input)._array)))


def isnan(input: Tensor) -> Tensor:
    """Where input is nan (bool)."""
    return _test("isnan", np.isnan, input)


def isinf(input: Tensor) -> Tensor:
    """Where input is +inf or -inf (bool)."""
    return _test("isinf", np.isinf, input)


def isposinf(input: Tensor, *, out: Any = None) -> Tensor:
    """Where input is +inf (bool)."""
    no_out("isposinf", out)
    return _test("isposinf", np.isposinf, input)


def isneginf(input: Tensor, *, out: Any = None) -> Tensor:
    """Where input is -inf (bool)."""
    no_out("isneginf", out)
    return _test("isneginf", np.isneginf, input)


def isfinite(input: Tensor) -> Tensor:
    """Where input is neither inf nor nan (bool)."""
    return _test("isfinite", np.isfinite, input)


def isreal(input: Tensor) -> Tensor:
    """Where input has no imaginary part (bool)."""
    return _test("isreal", np.isreal, input)


def logical_and(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """Nonzero-ness of input AND of other (bool)."""
    return _compare("logical_and", np.logical_and, input, other, out)


def logical_or(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """Nonzero-ness of input OR of other (bool)."""
    return _compare("logical_or", np.logical_or, input, other, out)


def logical_xor(input: Tensor, other: Any, *, out: Any = None) -> Tensor:
    """Nonzero-ness of input XOR of other (bool)."""
    return _compare("logical_xor", np.logical_xor, input, other, out)


def logical_not(input: Tensor, *, out: Any = None) -> Tensor:
    """Where input is zero (bool)."""
    no_out("logical_not", out)
    return _test("logical_not", np.logical_not, input)


def maximum(input: Tensor, other: Tensor, *, out: Any = None) -> Tensor:
    """Elementwise maximum of two tensors (nan wins); ties split the gradient."""
    no_out("maximum", out)
    a, b = _promote.operands(_promote.tensor("maximum", input),
                             _promote.tensor("maximum", other, "other"), "maximum")
    return pw.MaximumFn.apply(a, b, minimum=False)


def minimum(input: Tensor, other: Tensor, *, out: Any = None) -> Tensor:
    """Elementwise minimum of two tensors (nan wins); ties split the gradient."""
    no_out("minimum", out)
    a, b = _promote.operands(_promote.tensor("minimum", input),
                             _promote.tensor("minimum", other, "other"), "minimum")
    return pw.MaximumFn.apply(a, b, minimum=True)
