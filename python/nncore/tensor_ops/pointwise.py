"""Elementwise arithmetic (``nncore.add``, ``div``, ``pow``, ``clamp``, ``lerp``, rounding...)
with PyTorch's signatures and type promotion (``dtypes.result_type``). Transcendental
functions are in ``transcendental.py``, comparisons in ``comparison.py``.

``out=`` is accepted for signature compatibility and raises NotImplementedError when given.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from nncore import autograd, dtypes
from nncore.ops import _promote, basic
from nncore.ops import pointwise as pw
from nncore.ops import unary as un
from nncore.tensor import Tensor

_quiet = functools.partial(np.errstate, all="ignore")

__all__ = [
    "abs", "absolute", "add", "addcdiv", "addcmul", "ceil", "clamp", "clamp_max", "clamp_min",
    "clip", "div", "divide", "fix", "float_power", "floor", "floor_divide", "fmod", "frac", "lerp",
    "mul", "multiply", "neg", "negative", "pow", "reciprocal", "remainder", "round", "rsqrt",
    "sgn", "sign", "square", "sqrt", "sub", "subtract", "true_divide", "trunc",
]
METHODS = tuple(__all__)


def no_out(op: str, out: Any) -> None:
    """PyTorch's ``out=``: not supported (nncore never writes results into given tensors)."""
    if out is not None:
        raise NotImplementedError(f"{op}(out=...): writing into an out tensor is not supported "
                                  f"by nncore; use the returned tensor (or out.copy_(result))")


def _check_alpha(op: str, d: np.dtype, alpha: Any) -> None:
    if d.kind in "iub" and isinstance(alpha, float):
        raise RuntimeError(f"{op}: For integral input tensors, argument alpha must not be a "
                           f"floating point number.")


def add(input: Any, other: Any, *, alpha: Any = 1, out: Any = None) -> Tensor:
    """input + alpha * other, broadcasting, with PyTorch's type promotion.

    Args:
        input, other: Tensors or numbers (at least one a Tensor).
        alpha: multiplier of ``other``.
    Returns:
        A tensor of the promoted dtype and broadcast shape.
    """
    no_out("add", out)
    a, b = _promote.operands(input, other, "add")
    if alpha == 1:
        return basic.AddFn.apply(a, b)
    _check_alpha("add", a._array.dtype, alpha)
    return pw.AddScaledFn.apply(a, b, alpha=alpha)


def sub(input: Any, other: Any, *, alpha: Any = 1, out: Any = None) -> Tensor:
    """input - alpha * other (see ``add``); bool tensors raise, as in PyTorch."""
    no_out("sub", out)
    a, b = _promote.operands(input, other, "sub")
    if _has_bool(input, other):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    if alpha == 1:
        return basic.SubFn.apply(a, b)
    _check_alpha("sub", a._array.dtype, alpha)
    return pw.AddScaledFn.apply(a, b, alpha=-alpha)


subtract = sub


def mul(input: Any, other: Any, *, out: Any = None) -> Tensor:
    """input * other, broadcasting, with PyTorch's type promotion."""
    no_out("mul", out)
    return basic.MulFn.apply(*_promote.operands(input, other, "mul"))


multiply = mul


def _has_bool(*xs: Any) -> bool:
    return any(isinstance(x, (bool, np.bool_)) or (isinstance(x, Tensor)
                                                   and x._array.dtype.kind == "b") for x in xs)


def _no_bool(op: str, kernel: str, a: Tensor) -> None:
    if a._array.dtype.kind == "b":
        raise NotImplementedError(f"{op}: \"{kernel}\" not implemented for 'Bool'")


def _int_zero_divisor(op: str, b: Tensor) -> None:
    if b._array.dtype.kind in "iub" and not np.all(b._array):
        raise RuntimeError(f"{op}: ZeroDivisionError (integer division by zero)")


def div(input: Any, other: Any, *, rounding_mode: str | None = None, out: Any = None) -> Tensor:
    """input / other. ``rounding_mode=None`` is true division (integers give the default float
    dtype); ``'trunc'`` rounds toward zero, ``'floor'`` down, keeping integer dtypes.

    Raises:
        RuntimeError: integer division by zero with a rounding mode.
    """
    no_out("div", out)
    a, b = _promote.operands(input, other, "div")
    if rounding_mode is None:
        d = a._array.dtype
        if d.kind not in "fc":
            f = _promote.floating(d)
            a, b = _promote.cast(a, f), _promote.cast(b, f)
        with _quiet():  # x / 0 is inf or nan without a warning, as in PyTorch
            return basic.DivFn.apply(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                         f"found '{rounding_mode}'")
    _no_bool("div", f"div_{rounding_mode}_cpu", a)
    _int_zero_divisor("div", b)
    return pw.DivRoundFn.apply(a, b, mode=rounding_mode)


divide = div


def true_divide(dividend: Any, divisor: Any, *, out: Any = None) -> Tensor:
    """``div`` without rounding."""
    return div(dividend, divisor, out=out)


def floor_divide(input: Any, other: Any, *, out: Any = None) -> Tensor:
    """floor(input / other) (PyTorch's ``//``); not differentiable."""
    no_out("floor_divide", out)
    a, b = _promote.operands(input, other, "floor_divide")
    _no_bool("floor_divide", "div_floor_cpu", a)
    _int_zero_divisor("floor_divide", b)
    return pw.FloorDivideFn.apply(a, b)


def remainder(input: Any, other: Any, *, out: Any = None) -> Tensor:
    """input - other * floor(input / other): the sign of the divisor (Python's ``%``)."""
    no_out("remainder", out)
    a, b = _promote.operands(input, other, "remainder")
    _no_bool("remainder", "remainder_cpu", a)
    _int_zero_divisor("remainder", b)
    return pw.RemainderFn.apply(a, b)


def fmod(input: Any, other: Any, *, out: Any = None) -> Tensor:
    """input - other * trunc(input / other): the sign of the dividend (C's fmod)."""
    no_out("fmod", out)
    a, b = _promote.operands(input, other, "fmod")
    _no_bool("fmod", "fmod_cpu", a)
    _int_zero_divisor("fmod", b)
    return pw.FmodFn.apply(a, b)


def pow(input: Any, exponent: Any, *, out: Any = None) -> Tensor:  # noqa: A001
    """input ** exponent; either may be a number (not both).

    Raises:
        RuntimeError: an integer tensor to a negative integer power.
    """
    no_out("pow", out)
    if (isinstance(input, Tensor) and isinstance(exponent, (int, float))
            and not isinstance(exponent, bool)):
        d = input._array.dtype
        if d.kind in "fc" or (isinstance(exponent, int) and d.kind != "b"):
            if d.kind in "iu" and exponent < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            return pw.PowScalarFn.apply(input, exponent=exponent)
    a, b = _promote.operands(input, exponent, "pow")
    if a._array.dtype.kind == "b":
        if isinstance(exponent, Tensor):
            _no_bool("pow", "pow", a)
        return Tensor._wrap(np.power(a._array.astype(np.int8), int(exponent)).astype(bool))
    if a._array.dtype.kind in "iub" and np.any(b._array < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return pw.PowFn.apply(a, b)


def float_power(input: Any, exponent: Any, *, out: Any = None) -> Tensor:
    """input ** exponent computed in float64 (complex128 for complex operands)."""
    no_out("float_power", out)
    d = np.dtype(np.complex128 if _promote.result("float_power", input, exponent).kind == "c"
                 else np.float64)
    a = _promote.cast(input, d) if isinstance(input, Tensor) else _promote.constant(input, d)
    b = (_promote.cast(exponent, d) if isinstance(exponent, Tensor)
         else _promote.constant(exponent, d))
    return pw.PowFn.apply(a, b)


def neg(input: Tensor, *, out: Any = None) -> Tensor:
    """-input; bool tensors raise, as in PyTorch."""
    no_out("neg", out)
    if _promote.tensor("neg", input)._array.dtype.kind == "b":
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return basic.NegFn.apply(input)


negative = neg


def abs(input: Tensor, *, out: Any = None) -> Tensor:  # noqa: A001
    """|input|; the gradient at 0 is 0."""
    no_out("abs", out)
    if _promote.tensor("abs", input)._array.dtype.kind == "b":
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return basic.AbsFn.apply(input)


absolute = abs


def reciprocal(input: Tensor, *, out: Any = None) -> Tensor:
    """1 / input (integers give the default float dtype)."""
    no_out("reciprocal", out)
    return un.ReciprocalFn.apply(_promote.float_input("reciprocal", input))


def square(input: Tensor, *, out: Any = None) -> Tensor:
    """input * input (bool gives int64, as PyTorch's pow(input, 2))."""
    no_out("square", out)
    t = _promote.tensor("square", input)
    if t._array.dtype.kind == "b":
        t = _promote.cast(t, np.dtype(np.int64))
    return un.SquareFn.apply(t)


def sqrt(input: Tensor, *, out: Any = None) -> Tensor:
    """Square root (integers give the default float dtype; negatives give nan)."""
    no_out("sqrt", out)
    return un.SqrtFn.apply(_promote.float_input("sqrt", input))


def rsqrt(input: Tensor, *, out: Any = None) -> Tensor:
    """1 / sqrt(input)."""
    no_out("rsqrt", out)
    return un.RsqrtFn.apply(_promote.float_input("rsqrt", input))


def _step(op: str, input: Tensor, f: Any) -> Tensor:
    t = _promote.tensor(op, input)
    _no_bool(op, f"{op}_vml_cpu", t)
    if t._array.dtype.kind in "iu":
        return Tensor._wrap(t._array.copy())
    return un.StepFn.apply(t, f=f)


def sign(input: Tensor, *, out: Any = None) -> Tensor:
    """-1, 0 or 1 by the sign of each element (zero gradient)."""
    no_out("sign", out)
    t = _promote.tensor("sign", input)
    if t._array.dtype.kind in "iub":
        return Tensor._wrap(np.sign(t._array) if t._array.dtype.kind != "b" else t._array.copy())
    return un.StepFn.apply(t, f=np.sign)


sgn = sign


def floor(input: Tensor, *, out: Any = None) -> Tensor:
    """Largest integer <= each element, in the input's dtype (zero gradient)."""
    no_out("floor", out)
    return _step("floor", input, np.floor)


def ceil(input: Tensor, *, out: Any = None) -> Tensor:
    """Smallest integer >= each element, in the input's dtype (zero gradient)."""
    no_out("ceil", out)
    return _step("ceil", input, np.ceil)


def trunc(input: Tensor, *, out: Any = None) -> Tensor:
    """Each element rounded toward zero (zero gradient)."""
    no_out("trunc", out)
    return _step("trunc", input, np.trunc)


fix = trunc


def round(input: Tensor, *, decimals: int = 0, out: Any = None) -> Tensor:  # noqa: A001
    """Round half to even, to ``decimals`` decimal places (zero gradient)."""
    no_out("round", out)
    t = _promote.tensor("round", input)
    if decimals == 0:
        return _step("round", t, np.round)
    if t._array.dtype.kind in "iub":
        raise NotImplementedError(f"\"round_cpu\" not implemented for '{t.dtype}' with "
                                  f"decimals={decimals}")
    return un.StepFn.apply(t, f=lambda a: np.round(a, decimals))


def frac(input: Tensor, *, out: Any = None) -> Tensor:
    """input - trunc(input), the sign of the input."""
    no_out("frac", out)
    t = _promote.tensor("frac", input)
    if t._array.dtype.kind not in "fc":
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{t.dtype}'")
    return un.FracFn.apply(t)


def clamp(input: Tensor, min: Any = None, max: Any = None, *,  # noqa: A002
          out: Any = None) -> Tensor:
    """Each element limited to [min, max] (either bound optional; numbers or tensors that
    broadcast). Where min > max the result is max. The gradient passes where min <= x <= max.

    Raises:
        RuntimeError: when both bounds are None.
    """
    no_out("clamp", out)
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    t = _promote.tensor("clamp", input)
    bounds = [b for b in (min, max) if b is not None]
    if any(isinstance(b, Tensor) for b in bounds):
        xs = _promote.all_as("clamp", t, *bounds)
        return pw.ClampTensorFn.apply(*xs, has_lo=min is not None, has_hi=max is not None)
    d = _promote.result("clamp", t, *bounds)
    return basic.ClampFn.apply(_promote.cast(t, d), min=min, max=max)


clip = clamp


def clamp_min(input: Tensor, min: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """max(input, min)."""
    return clamp(input, min=min, out=out)


def clamp_max(input: Tensor, max: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """min(input, max)."""
    return clamp(input, max=max, out=out)


def lerp(input: Tensor, end: Tensor, weight: Any, *, out: Any = None) -> Tensor:
    """input + weight * (end - input); ``weight`` a number or a tensor.

    Raises:
        RuntimeError: ``end`` (or a tensor weight) of another dtype than ``input``.
    """
    no_out("lerp", out)
    t, e = _promote.tensor("lerp", input), _promote.tensor("lerp", end, "end")
    d = t._array.dtype
    if e._array.dtype != d:
        raise RuntimeError(f"lerp: expected dtype {t.dtype} for `end` but got dtype {e.dtype}")
    if d.kind not in "fc":
        raise NotImplementedError(f"\"lerp_kernel\" not implemented for '{t.dtype}'")
    if isinstance(weight, Tensor):
        if weight._array.dtype != d:
            raise RuntimeError(f"lerp: expected dtype {t.dtype} for `weight` but got dtype "
                               f"{weight.dtype}")
        w = weight
    else:
        w = _promote.constant(weight, d)
    return pw.LerpFn.apply(t, e, w)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1,
            out: Any = None) -> Tensor:
    """input + value * tensor1 * tensor2 (broadcasting, promoted)."""
    no_out("addcmul", out)
    a, t1, t2 = _promote.all_as("addcmul", input, tensor1, tensor2)
    return pw.AddcmulFn.apply(a, t1, t2, value=value)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1,
            out: Any = None) -> Tensor:
    """input + value * tensor1 / tensor2 (broadcasting, promoted).

    Raises:
        RuntimeError: for integer tensor1 and tensor2, as PyTorch.
    """
    no_out("addcdiv", out)
    if all(isinstance(x, Tensor) and x._array.dtype.kind in "iub" for x in (tensor1, tensor2)):
        raise RuntimeError("addcdiv: Integer division with addcdiv is no longer supported; use "
                           "(input + value * tensor1 / tensor2) or div(..., rounding_mode=).")
    a, t1, t2 = _promote.all_as("addcdiv", input, tensor1, tensor2)
    return pw.AddcdivFn.apply(a, t1, t2, value=value)


def binary_inplace(self: Tensor, op: str, ufunc: Any, other: Any, alpha: Any = 1,
                   floating: bool = False) -> bool:
    """``self op= other`` straight into self's memory when no gradient is involved (the
    optimizer's ``p.data.add_(g, alpha=-lr)``): no temporary tensor, no copy. Returns False
    when autograd must record the op (the caller then takes ``Tensor._inplace``)."""
    if autograd._grad_enabled and (self.requires_grad or (isinstance(other, Tensor)
                                                          and other.requires_grad)):
        return False
    arr = self._array
    d = arr.dtype
    if not (d.kind in "fc" and (isinstance(other, (int, float)) and not isinstance(other, bool)
                                or isinstance(other, Tensor) and other._array.dtype == d)):
        d = _promote.result(op, self, other)
    if floating:
        d = _promote.floating(d)
    if not np.can_cast(d, arr.dtype, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {dtypes.from_numpy(d)!r} can't be cast to the "
                           f"desired output type {self.dtype!r}")
    b = other._array if isinstance(other, Tensor) else other
    if alpha != 1:
        _check_alpha(op, arr.dtype, alpha)
        b = np.multiply(b, alpha, dtype=d)
    if not arr.flags.writeable:
        return False  # _inplace raises the expand-view error
    try:
        ufunc(arr, b, out=arr, dtype=d, casting="unsafe")
    except OverflowError:
        return False  # a Python int out of the dtype's range: _inplace wraps it as PyTorch
    except ValueError:
        raise RuntimeError(f"{op}: output with shape {list(arr.shape)} doesn't match the "
                           f"broadcast shape {broadcast_shape(arr.shape, np.shape(b))}"
                           ) from None
    self._bump()
    return True


def broadcast_shape(*shapes: tuple) -> Any:
    """The broadcast shape, or a note that the shapes do not broadcast (for error messages)."""
    try:
        return list(np.broadcast_shapes(*shapes))
    except ValueError:
        return f"(none: {' and '.join(str(list(s)) for s in shapes)} do not broadcast)"

