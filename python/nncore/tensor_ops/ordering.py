"""Ordering (``nncore.sort``, ``argsort``, ``topk``, ``kthvalue``, ``msort``).

One total order everywhere: NaN ranks above every number (PyTorch's order), and equal values
keep their index order, so ``sort`` is always stable (a valid result of PyTorch's unstable sort
too) and ``topk`` (native, ``ops.sort``) returns tied values lowest index first, the order
PyTorch's stable sort gives; PyTorch's own topk leaves the order of ties unspecified.
``max``/``min`` with a dim live in ``reduction``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from nncore import autograd
from nncore.ops import basic
from nncore.ops import indexing as index_ops
from nncore.ops import sort as sort_ops
from nncore.tensor import Tensor, _wrap_dim

__all__ = ["argsort", "kthvalue", "msort", "sort", "topk"]
METHODS = ("argsort", "kthvalue", "msort", "sort", "topk")

# NOTE: the type names PyTorch's torch.return_types use, so reprs and field access read alike.
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def _order(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable argsort along axis; NaN last ascending, first descending (PyTorch's order)."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    # NOTE: a stable ascending sort of the reversed array, read backwards: values descend,
    # ties keep their index order and NaNs (last ascending) come first.
    rev = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return a.shape[axis] - 1 - np.flip(rev, axis)


def _take(input: Tensor, idx: np.ndarray, axis: int) -> Tensor:
    """input's values at idx along axis (a permutation or selection without repeats)."""
    a = input._array
    if autograd._grad_enabled and input.requires_grad:
        lin = index_ops.linear_index(a.shape, idx, axis)
        return index_ops.GatherFn.apply(input, lin=lin, unique=True)
    return Tensor._wrap(np.take_along_axis(a, idx, axis=axis))


def _vector(input: Tensor) -> Tensor:
    return input.reshape(1) if input.ndim == 0 else input


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False
         ) -> SortResult:
    """The values along ``dim`` in order, and their original indices.

    Args:
        input: the tensor to sort.
        dim: the dimension to sort along.
        descending: largest first.
        stable: accepted for PyTorch's signature; the sort is always stable.
    Returns:
        (values, indices): values differentiable, indices int64.
    """
    d = _wrap_dim("sort", dim, input.ndim)
    x = _vector(input)
    idx = _order(x._array, d, descending)
    values = _take(x, idx, d)
    if input.ndim == 0:
        return SortResult(values.reshape(()), Tensor._wrap(idx.reshape(())))
    return SortResult(values, Tensor._wrap(idx))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False
            ) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (stable: ties keep their order)."""
    d = _wrap_dim("argsort", dim, input.ndim)
    idx = _order(_vector(input)._array, d, descending)
    return Tensor._wrap(idx.reshape(()) if input.ndim == 0 else idx)


def msort(input: Tensor) -> Tensor:
    """``sort(input, dim=0).values``."""
    return sort(input, 0).values


def _topk_arrays(a: np.ndarray, k: int, axis: int, largest: bool) -> tuple:
    """(values, indices) of the k best along axis, for any dtype (no graph)."""
    last = a.ndim - 1
    if a.dtype in _NATIVE:
        moved = a if axis == last else np.moveaxis(a, axis, -1)
        v, i = sort_ops.topk_rows(moved, k, largest)
        if axis != last:
            v, i = np.moveaxis(v, -1, axis), np.moveaxis(i, -1, axis)
        return v, i
    idx = np.take(_order(a, axis, largest), np.arange(k), axis=axis)
    return np.take_along_axis(a, idx, axis=axis), idx


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True  # noqa: A002
         ) -> TopkResult:
    """The ``k`` largest (``largest=False``: smallest) values along ``dim`` and their indices,
    best first. Native for float32/float64 (partial selection, not a full sort).

    Args:
        input: the tensor to select from.
        k: how many values, 0 <= k <= size of ``dim``.
        dim: the dimension to select along.
        largest: the largest values (else the smallest).
        sorted: accepted for PyTorch's signature; the result is always in order.
    Returns:
        (values, indices): values differentiable, indices int64; ties lowest index first.
    """
    d = _wrap_dim("topk", dim, input.ndim)
    a = input._array
    if a.dtype == np.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    k = int(k)
    n = a.shape[d] if a.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k out of range (k = {k}, dimension {d} has "
                           f"size {n})")
    x = _vector(input)
    if a.dtype in _NATIVE and autograd._grad_enabled and input.requires_grad:
        values = sort_ops.TopkFn.apply(x, k=k, axis=d, largest=bool(largest))
        idx = values._ctx.indices
    elif a.dtype in _NATIVE or not (autograd._grad_enabled and input.requires_grad):
        v, idx = _topk_arrays(x._array, k, d, bool(largest))
        values = Tensor._wrap(v)
    else:  # float16 and friends: NumPy's order, values gathered with a gradient
        idx = _topk_arrays(x._array, k, d, bool(largest))[1]
        values = _take(x, idx, d)
    if input.ndim == 0:
        return TopkResult(values.reshape(()), Tensor._wrap(idx.reshape(())))
    return TopkResult(values, Tensor._wrap(idx))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The ``k``-th smallest value (1-based) along ``dim`` and its index (among equal values,
    the k-th in index order; NaN ranks above every number)."""
    d = _wrap_dim("kthvalue", dim, input.ndim)
    x = _vector(input)
    n = x.shape[d]
    k = int(k)
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    idx = np.take(_topk_arrays(x._array, k, d, largest=False)[1], k - 1, axis=d)
    values = basic.TakeAlongFn.apply(x, indices=idx, axis=d, keepdim=keepdim)
    if keepdim:
        idx = np.expand_dims(idx, d)
    if input.ndim == 0:
        return KthvalueResult(values.reshape(()), Tensor._wrap(np.asarray(idx).reshape(())))
    return KthvalueResult(values, Tensor._wrap(np.asarray(idx, dtype=np.int64)))
