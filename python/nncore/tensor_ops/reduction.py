"""Reductions and scans (``nncore.sum``, ``std``, ``norm``, ``max``, ``cumsum``...) with
PyTorch's ``dim``/``keepdim`` arguments, result dtypes (integer sums are int64; ``mean`` of an
integer tensor raises) and named-tuple results (``max(x, dim)`` gives ``(values, indices)``).
"""

from __future__ import annotations

import builtins
import warnings
from collections import namedtuple
from typing import Any

import numpy as np

from nncore.ops import _promote, basic
from nncore.ops import reduction as red
from nncore.tensor import Tensor, _wrap_dim
from nncore.tensor_ops.pointwise import no_out

__all__ = [
    "all", "amax", "amin", "aminmax", "any", "argmax", "argmin", "count_nonzero", "cumprod",
    "cumsum", "logsumexp", "max", "mean", "median", "min", "mode", "nanmean", "nansum", "prod",
    "std", "std_mean", "sum", "var", "var_mean",
]
METHODS = tuple(n for n in __all__ if n not in ("std_mean", "var_mean"))

# NOTE: one named tuple per op, as torch.return_types (``values, indices = x.max(1)`` and
# ``x.max(1).values`` both work).
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])
ModeResult = namedtuple("mode", ["values", "indices"])
AminmaxResult = namedtuple("aminmax", ["min", "max"])


def dims(op: str, dim: Any, ndim: int) -> tuple[int, ...] | None:
    """``dim`` (None, an int, or a tuple/list of ints) as sorted non-negative axes, or None
    for every axis (also for an empty tuple, and for a 0-d tensor, which dims 0 and -1 name).

    Raises:
        IndexError: a dim out of range. RuntimeError: a dim given twice.
    """
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        if not dim:
            return None
        axes = [_wrap_dim(op, d, ndim) for d in dim]
        for i, d in enumerate(axes):
            if d in axes[:i]:
                raise RuntimeError(f"{op}: dim {d} appears multiple times in the list of dims")
    else:
        axes = [_wrap_dim(op, dim, ndim)]
    return None if ndim == 0 else tuple(sorted(axes))


def _input(op: str, input: Any, dtype: Any) -> Tensor:
    t = _promote.tensor(op, input)
    return t if dtype is None else t.to(dtype)


def _integers_to_int64(t: Tensor) -> Tensor:
    if t._array.dtype.kind in "iub" and t._array.dtype != np.int64:
        return Tensor._wrap(t._array.astype(np.int64))
    return t


def _floating_only(op: str, t: Tensor, msg: str) -> None:
    if t._array.dtype.kind not in "fc":
        raise RuntimeError(f"{op}(): {msg} Got: {t.dtype}")


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001
        dtype: Any = None, out: Any = None) -> Tensor:
    """Sum over ``dim`` (every dim when None); bool and integer inputs give int64.

    Args:
        dim: an int or a tuple of ints; None reduces everything.
        keepdim: keep reduced dims with size 1.
        dtype: cast the input to this dtype first.
    """
    no_out("sum", out)
    t = _integers_to_int64(_input("sum", input, dtype))
    return basic.SumFn.apply(t, axis=dims("sum", dim, t.ndim), keepdim=keepdim)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
         out: Any = None) -> Tensor:
    """Mean over ``dim``.

    Raises:
        RuntimeError: for integer and bool inputs without a floating ``dtype``, as PyTorch.
    """
    no_out("mean", out)
    t = _input("mean", input, dtype)
    _floating_only("mean", t, "could not infer output dtype. Input dtype must be either a "
                   "floating point or complex dtype.")
    return basic.MeanFn.apply(t, axis=dims("mean", dim, t.ndim), keepdim=keepdim)


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
           out: Any = None) -> Tensor:
    """``sum`` treating nan as zero."""
    no_out("nansum", out)
    t = _integers_to_int64(_input("nansum", input, dtype))
    axis = dims("nansum", dim, t.ndim)
    if t._array.dtype.kind not in "fc":
        return basic.SumFn.apply(t, axis=axis, keepdim=keepdim)
    return red.NanSumFn.apply(t, axis=axis, keepdim=keepdim)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
            out: Any = None) -> Tensor:
    """``mean`` of the elements that are not nan (nan where all are)."""
    no_out("nanmean", out)
    t = _input("nanmean", input, dtype)
    _floating_only("nanmean", t, "expected input to have floating point or complex dtype.")
    return red.NanMeanFn.apply(t, axis=dims("nanmean", dim, t.ndim), keepdim=keepdim)


def prod(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
         out: Any = None) -> Tensor:
    """Product over ``dim`` (an int, or every element); integer inputs give int64. The
    gradient is exact where the slice holds zeros."""
    no_out("prod", out)
    t = _integers_to_int64(_input("prod", input, dtype))
    return red.ProdFn.apply(t, axis=dims("prod", dim, t.ndim), keepdim=keepdim)


def _correction(op: str, dim: Any, unbiased: Any, correction: Any) -> tuple[Any, float]:
    if isinstance(dim, bool):  # std(input, unbiased): PyTorch's older overload
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError(f"{op}: cannot specify both unbiased and correction")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, float(correction)


def _var(op: str, input: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any,
         sqrt: bool) -> Tensor:
    dim, corr = _correction(op, dim, unbiased, correction)
    t = _promote.tensor(op, input)
    if t._array.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: std and var only support floating point and complex dtypes")
    axis = dims(op, dim, t.ndim)
    if red._count(t.shape, axis) - corr <= 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less "
                      f"than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=3)
    return red.VarFn.apply(t, axis=axis, correction=corr, keepdim=keepdim, sqrt=sqrt)


def std(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None, out: Any = None) -> Tensor:
    """Standard deviation over ``dim``: sqrt(sum((x - mean)^2) / (N - correction)).

    Args:
        dim: an int, a tuple of ints, or None for every element.
        unbiased: PyTorch's older spelling: True is correction=1, False correction=0.
        keepdim: keep reduced dims with size 1.
        correction: subtracted from N (1 by default, Bessel's correction).
    Raises:
        RuntimeError: for integer inputs.
    """
    no_out("std", out)
    return _var("std", input, dim, unbiased, keepdim, correction, sqrt=True)


def var(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None, out: Any = None) -> Tensor:
    """Variance over ``dim``: sum((x - mean)^2) / (N - correction) (see ``std``)."""
    no_out("var", out)
    return _var("var", input, dim, unbiased, keepdim, correction, sqrt=False)


def std_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None, out: Any = None) -> tuple[Tensor, Tensor]:
    """(``std``, ``mean``) over the same dims."""
    no_out("std_mean", out)
    dim2 = None if isinstance(dim, bool) else dim
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim2, keepdim))


def var_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None, out: Any = None) -> tuple[Tensor, Tensor]:
    """(``var``, ``mean``) over the same dims."""
    no_out("var_mean", out)
    dim2 = None if isinstance(dim, bool) else dim
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim2, keepdim))




def logsumexp(input: Tensor, dim: Any, keepdim: bool = False, *, out: Any = None) -> Tensor:
    """log(sum(exp(input))) over ``dim``, computed stably (shifted by the maximum)."""
    no_out("logsumexp", out)
    if dim is None:
        raise TypeError("logsumexp(): argument 'dim' (position 2) must be tuple of ints, not "
                        "NoneType")
    t = _promote.float_input("logsumexp", input)
    return red.LogSumExpFn.apply(t, axis=dims("logsumexp", dim, t.ndim), keepdim=keepdim)


def _logical_reduce(op: str, f: Any, input: Tensor, dim: Any, keepdim: bool) -> Tensor:
    t = _promote.tensor(op, input)
    if isinstance(dim, (tuple, list)) and not dim:
        r = t._array.astype(bool)  # PyTorch reduces over no dim at all here
    else:
        r = np.asarray(f(t._array, axis=dims(op, dim, t.ndim), keepdims=keepdim))
    # NOTE: PyTorch keeps uint8 for uint8 inputs (its pre-bool convention).
    return Tensor._wrap(r.astype(np.uint8) if t._array.dtype == np.uint8 else r)


def any(input: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001
        out: Any = None) -> Tensor:
    """Whether any element (along ``dim``) is nonzero (bool)."""
    no_out("any", out)
    return _logical_reduce("any", np.any, input, dim, keepdim)


def all(input: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001
        out: Any = None) -> Tensor:
    """Whether every element (along ``dim``) is nonzero (bool)."""
    no_out("all", out)
    return _logical_reduce("all", np.all, input, dim, keepdim)


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """The number of nonzero elements (along ``dim``), int64."""
    t = _promote.tensor("count_nonzero", input)
    axis = dims("count_nonzero", dim, t.ndim)
    return Tensor._wrap(np.asarray(np.count_nonzero(t._array, axis=axis), dtype=np.int64))


def _scan_input(op: str, input: Tensor, dim: Any, dtype: Any) -> tuple[Tensor, int]:
    if dim is None:
        raise TypeError(f"{op}() missing required argument 'dim'")
    t = _integers_to_int64(_input(op, input, dtype))
    if t.ndim == 0:
        _wrap_dim(op, dim, 0)
        t = t.reshape(1)
    return t, _wrap_dim(op, dim, t.ndim)


def cumsum(input: Tensor, dim: int, *, dtype: Any = None, out: Any = None) -> Tensor:
    """Running sums along ``dim``; integer inputs give int64."""
    no_out("cumsum", out)
    t, axis = _scan_input("cumsum", input, dim, dtype)
    y = red.CumsumFn.apply(t, axis=axis)
    return y.reshape(()) if input.ndim == 0 else y


def cumprod(input: Tensor, dim: int, *, dtype: Any = None, out: Any = None) -> Tensor:
    """Running products along ``dim``; integer inputs give int64 (exact gradient with zeros)."""
    no_out("cumprod", out)
    t, axis = _scan_input("cumprod", input, dim, dtype)
    y = red.CumprodFn.apply(t, axis=axis)
    return y.reshape(()) if input.ndim == 0 else y


def _pick(t: Tensor, idx: np.ndarray, axis: int, keepdim: bool, kind: Any) -> Any:
    values = basic.TakeAlongFn.apply(t, indices=idx, axis=axis, keepdim=keepdim)
    if keepdim:
        idx = np.expand_dims(idx, axis)
    return kind(values, Tensor._wrap(np.asarray(idx, dtype=np.int64)))


def _single_dim(op: str, t: Tensor, dim: Any) -> tuple[Tensor, int]:
    axis = _wrap_dim(op, dim, t.ndim)
    if t.ndim == 0:
        return t.reshape(1), 0
    if t.shape[axis] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {axis} to have non-zero size.")
    return t, axis


def _extreme(op: str, t: Tensor, dim: Any, keepdim: bool, minimum: bool) -> Any:
    t = _promote.tensor(op, t)
    if isinstance(dim, Tensor):  # max(a, b): the elementwise maximum
        from nncore.tensor_ops.comparison import maximum
        from nncore.tensor_ops.comparison import minimum as minimum_

        return (minimum_ if minimum else maximum)(t, dim)
    if dim is None:
        if t._array.size == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for "
                               f"input.numel() == 0. Specify the reduction dim with the 'dim' "
                               f"argument.")
        return basic.AmaxFn.apply(t, axis=None, keepdim=False, minimum=minimum)
    src, axis = _single_dim(op, t, dim)
    idx = (np.argmin if minimum else np.argmax)(src._array, axis=axis)
    out = _pick(src, idx, axis, keepdim, MinResult if minimum else MaxResult)
    if t.ndim == 0:
        return type(out)(out.values.reshape(()), Tensor._wrap(np.asarray(0, np.int64)))
    return out


def max(input: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001
        out: Any = None) -> Any:
    """The largest element; with an int ``dim``, a ``(values, indices)`` named tuple (the
    first index of the maximum, whose element alone gets the gradient); with a tensor,
    the elementwise ``maximum``. nan propagates."""
    no_out("max", out)
    return _extreme("max", input, dim, keepdim, minimum=False)


def min(input: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001
        out: Any = None) -> Any:
    """The smallest element (see ``max``)."""
    no_out("min", out)
    return _extreme("min", input, dim, keepdim, minimum=True)


def _amax(op: str, input: Tensor, dim: Any, keepdim: bool, minimum: bool) -> Tensor:
    t = _promote.tensor(op, input)
    axis = dims(op, dim, t.ndim)
    if t._array.size == 0 and (axis is None or builtins.any(t.shape[i] == 0 for i in axis)):
        raise IndexError(f"{op}(): Expected reduction dim to have non-zero size.")
    return basic.AmaxFn.apply(t, axis=axis, keepdim=keepdim, minimum=minimum)


def amax(input: Tensor, dim: Any = (), keepdim: bool = False, *, out: Any = None) -> Tensor:
    """Largest values over ``dim`` (every dim when empty); ties share the gradient."""
    no_out("amax", out)
    return _amax("amax", input, dim, keepdim, minimum=False)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False, *, out: Any = None) -> Tensor:
    """Smallest values over ``dim`` (every dim when empty); ties share the gradient."""
    no_out("amin", out)
    return _amax("amin", input, dim, keepdim, minimum=True)


def aminmax(input: Tensor, *, dim: Any = None, keepdim: bool = False, out: Any = None) -> Any:
    """``(min, max)`` named tuple over ``dim`` (an int, or every element)."""
    no_out("aminmax", out)
    return AminmaxResult(_amax("aminmax", input, dim, keepdim, True),
                         _amax("aminmax", input, dim, keepdim, False))


def _arg(op: str, f: Any, input: Tensor, dim: Any, keepdim: bool) -> Tensor:
    t = _promote.tensor(op, input)
    a = t._array
    if a.dtype.kind == "b":
        raise RuntimeError(f"{op}(): does not support bool input")
    if dim is None:
        r = f(a.reshape(-1))
        return Tensor._wrap(np.full((1,) * a.ndim if keepdim else (), r, np.int64))
    axis = _wrap_dim(op, dim, a.ndim)
    if a.ndim == 0:
        return Tensor._wrap(np.zeros((), np.int64))
    return Tensor._wrap(np.asarray(f(a, axis=axis, keepdims=keepdim), dtype=np.int64))


def argmax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) largest element, of the flattened tensor when ``dim`` is None."""
    return _arg("argmax", np.argmax, input, dim, keepdim)


def argmin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) smallest element, of the flattened tensor when ``dim`` is None."""
    return _arg("argmin", np.argmin, input, dim, keepdim)


def median(input: Tensor, dim: Any = None, keepdim: bool = False, *, out: Any = None) -> Any:
    """The lower median (of an even count, the smaller middle value); with ``dim``, a
    ``(values, indices)`` named tuple. nan when the slice holds a nan. The gradient goes to
    the chosen element."""
    no_out("median", out)
    t = _promote.tensor("median", input)
    if t._array.dtype.kind == "b":
        raise NotImplementedError("median: \"median_cpu\" not implemented for 'Bool'")
    if dim is None:
        if t._array.size == 0:
            return Tensor._wrap(np.asarray(np.nan, t._array.dtype))
        return median(t.reshape(-1), 0).values
    src, axis = _single_dim("median", t, dim)
    a = src._array
    order = np.argsort(a, axis=axis, kind="stable")
    k = (a.shape[axis] - 1) // 2
    idx = np.take(order, k, axis=axis)
    if a.dtype.kind in "fc":
        nan = np.isnan(a)
        idx = np.where(np.any(nan, axis=axis), np.argmax(nan, axis=axis), idx)
    res = _pick(src, idx, axis, keepdim, MedianResult)
    if t.ndim == 0:
        return MedianResult(res.values.reshape(()), Tensor._wrap(np.asarray(0, np.int64)))
    return res


def mode(input: Tensor, dim: int = -1, keepdim: bool = False, *, out: Any = None) -> Any:
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest among equally
    frequent ones) and the last index where it occurs."""
    no_out("mode", out)
    t = _promote.tensor("mode", input)
    src, axis = _single_dim("mode", t, dim)
    a = np.moveaxis(src._array, axis, -1)
    n = a.shape[-1]
    order = np.argsort(a, axis=-1, kind="stable")
    s = np.take_along_axis(a, order, axis=-1)
    start = np.ones(s.shape, bool)
    start[..., 1:] = s[..., 1:] != s[..., :-1]
    pos = np.arange(n)
    run = pos - np.maximum.accumulate(np.where(start, pos, 0), axis=-1) + 1
    best = np.argmax(run == run.max(axis=-1, keepdims=True), axis=-1)
    idx = np.take_along_axis(order, best[..., None], axis=-1)[..., 0]
    res = _pick(src, idx, axis, keepdim, ModeResult)
    if t.ndim == 0:
        return ModeResult(res.values.reshape(()), Tensor._wrap(np.asarray(0, np.int64)))
    return res

