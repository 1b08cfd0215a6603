"""Reductions (``nncore.sum``, ``nncore.max``...) with PyTorch's dim/keepdim arguments."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from nncore.ops import basic
from nncore.tensor import Tensor

__all__ = ["amax", "amin", "argmax", "argmin", "max", "mean", "min", "sum"]
METHODS = ("amax", "amin", "argmax", "argmin", "max", "mean", "min", "sum")

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _axes(dim: Any) -> Any:
    if isinstance(dim, list):
        return tuple(dim)
    return dim


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None  # noqa: A001
        ) -> Tensor:
    t = input if dtype is None else input.type(dtype)
    return basic.SumFn.apply(t, axis=_axes(dim), keepdim=keepdim)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    t = input if dtype is None else input.type(dtype)
    return basic.MeanFn.apply(t, axis=_axes(dim), keepdim=keepdim)


def _extreme(t: Tensor, dim: Any, keepdim: bool, minimum: bool) -> Any:
    if dim is None or isinstance(dim, (tuple, list)):
        return basic.AmaxFn.apply(t, axis=_axes(dim), keepdim=keepdim, minimum=minimum)
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
        return basic.WhereFn.apply(t, dim, condition=(t._array <= dim._array) if minimum
                                   else (t._array >= dim._array))
    indices = (np.argmin if minimum else np.argmax)(t._array, axis=dim)
    values = basic.TakeAlongFn.apply(t, indices=indices, axis=dim, keepdim=keepdim)
    if keepdim:
        indices = np.expand_dims(indices, dim)
    return MaxResult(values, Tensor._wrap(np.asarray(indices, dtype=np.int64)))


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Largest value; with an int ``dim``, a (values, indices) pair as in PyTorch."""
    return _extreme(input, dim, keepdim, minimum=False)


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Smallest value; with an int ``dim``, a (values, indices) pair as in PyTorch."""
    return _extreme(input, dim, keepdim, minimum=True)


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return basic.AmaxFn.apply(input, axis=_axes(dim) if dim != () else None, keepdim=keepdim,
                              minimum=False)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return basic.AmaxFn.apply(input, axis=_axes(dim) if dim != () else None, keepdim=keepdim,
                              minimum=True)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    out = np.argmax(input._array, axis=dim, keepdims=keepdim)
    return Tensor._wrap(np.asarray(out, dtype=np.int64))


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    out = np.argmin(input._array, axis=dim, keepdims=keepdim)
    return Tensor._wrap(np.asarray(out, dtype=np.int64))
