"""Reductions and scans beyond ``ops.basic`` (sum, mean, amax): NumPy forward and backward with
PyTorch's derivatives. ``axis`` is None (every axis) or a tuple of non-negative axes; the
caller has checked it (``tensor_ops.reduction``)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from nncore.autograd import Function
from nncore.ops.basic import _expand_reduced

_quiet = functools.partial(np.errstate, all="ignore")


def _count(shape: tuple, axis: Any) -> int:
    n = 1
    for i in range(len(shape)) if axis is None else axis:
        n *= shape[i]
    return n


def _others_product(a: np.ndarray, axis: Any) -> np.ndarray:
    """For each element, the product of the other elements of its reduced slice, exact when
    the slice holds zeros (prefix times suffix products, no division)."""
    axes = tuple(range(a.ndim)) if axis is None else axis
    rest = tuple(i for i in range(a.ndim) if i not in axes)
    moved = np.transpose(a, rest + axes)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), a.dtype)
    prefix = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
    suffix = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
    out = (prefix * suffix).reshape(moved.shape)
    return np.transpose(out, np.argsort(rest + axes))


class ProdFn(Function):
    def forward(self, a: np.ndarray, *, axis: Any, keepdim: bool) -> np.ndarray:
        y = np.prod(a, axis=axis, keepdims=True)
        self.save_for_backward(a, y)
        self.args = axis, keepdim
        return y if keepdim else np.asarray(np.squeeze(y, axis=axis))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, y = self.saved_tensors
        axis, keepdim = self.args
        g = _expand_reduced(grad, a.shape, axis, keepdim)
        if np.all(a != 0):
            return g * (y / a)
        return g * _others_product(a, axis)


class VarFn(Function):
    """Variance (or its square root) with ``correction`` (1: Bessel's, unbiased)."""

    def forward(self, a: np.ndarray, *, axis: Any, correction: float, keepdim: bool,
                sqrt: bool) -> np.ndarray:
        d = a - a.mean(axis=axis, keepdims=True)
        dof = _count(a.shape, axis) - correction
        with _quiet():
            y = np.asarray(np.sum(d * d, axis=axis, keepdims=keepdim) / dof, dtype=a.dtype)
            if sqrt:
                y = np.sqrt(y)
        self.save_for_backward(d, y)
        self.args = a.shape, axis, keepdim, dof, sqrt
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        d, y = self.saved_tensors
        shape, axis, keepdim, dof, sqrt = self.args
        with _quiet():
            g = grad / (dof * y) if sqrt else grad * (2 / dof)
        return _expand_reduced(np.asarray(g, grad.dtype), shape, axis, keepdim) * d


class NormFn(Function):
    """Vector p-norm (sum |a|^p)^(1/p) over ``axis``; p may be inf, -inf or 0."""

    def forward(self, a: np.ndarray, *, p: float, axis: Any, keepdim: bool) -> np.ndarray:
        m = np.abs(a)
        with _quiet():
            if p == 2:
                y = np.sqrt(np.sum(m * m, axis=axis, keepdims=True))
            elif p == 1:
                y = np.sum(m, axis=axis, keepdims=True)
            elif p == np.inf:
                y = np.max(m, axis=axis, keepdims=True)
            elif p == -np.inf:
                y = np.min(m, axis=axis, keepdims=True)
            elif p == 0:
                y = np.sum(m != 0, axis=axis, keepdims=True).astype(a.dtype)
            else:
                y = np.power(np.sum(np.power(m, p), axis=axis, keepdims=True), 1.0 / p)
        y = np.asarray(y, a.dtype)
        self.save_for_backward(a, y)
        self.args = p, axis, keepdim
        return y if keepdim else np.asarray(np.squeeze(y, axis=axis))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, y = self.saved_tensors
        p, axis, keepdim = self.args
        g = _expand_reduced(grad, a.shape, axis, keepdim)
        if axis is not None and not keepdim:
            g = g.reshape(a.shape)
        with _quiet():
            if p == 0:
                return np.zeros_like(a)
            if p == 1:
                return g * np.sign(a)
            if p in (np.inf, -np.inf):
                hit = np.abs(a) == y
                return g * np.sign(a) * hit / np.sum(hit, axis=axis, keepdims=True)
            if p == 2:
                d = a / y
            else:
                d = np.sign(a) * np.power(np.abs(a), p - 1) / np.power(y, p - 1)
        # NOTE: a zero norm has a zero subgradient (PyTorch), not the 0/0 above.
        return g * np.where(y == 0, 0, d).astype(a.dtype)


class LogSumExpFn(Function):
    def forward(self, a: np.ndarray, *, axis: Any, keepdim: bool) -> np.ndarray:
        m = np.max(a, axis=axis, keepdims=True) if a.size else np.zeros((), a.dtype)
        m = np.where(np.isfinite(m), m, 0).astype(a.dtype)
        with _quiet():
            y = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        self.save_for_backward(a, y)
        self.args = axis, keepdim
        return y if keepdim else np.asarray(np.squeeze(y, axis=axis))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, y = self.saved_tensors
        axis, keepdim = self.args
        with _quiet():
            return _expand_reduced(grad, a.shape, axis, keepdim) * np.exp(a - y)


class CumsumFn(Function):
    def forward(self, a: np.ndarray, *, axis: int) -> np.ndarray:
        self.axis = axis
        return np.cumsum(a, axis=axis)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        flip = np.flip(grad, self.axis)
        return np.flip(np.cumsum(flip, axis=self.axis), self.axis)


class CumprodFn(Function):
    def forward(self, a: np.ndarray, *, axis: int) -> np.ndarray:
        y = np.cumprod(a, axis=axis)
        self.save_for_backward(a, y)
        self.axis = axis
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, y = self.saved_tensors
        ax = self.axis
        if np.all(a != 0):
            gy = np.flip(np.cumsum(np.flip(grad * y, ax), axis=ax), ax)
            return gy / a
        # NOTE: exact with zeros: dx_i = prefix_{i-1} * S_i, S_i = g_i + x_{i+1} S_{i+1}
        # (PyTorch divides only when no zero is present, too).
        x = np.moveaxis(a, ax, 0)
        g = np.moveaxis(grad, ax, 0)
        s = np.empty_like(g)
        s[-1] = g[-1]
        for i in range(len(x) - 2, -1, -1):
            s[i] = g[i] + x[i + 1] * s[i + 1]
        prefix = np.ones_like(s)
        prefix[1:] = np.cumprod(x[:-1], axis=0)
        return np.moveaxis(prefix * s, 0, ax)


class NanSumFn(Function):
    def forward(self, a: np.ndarray, *, axis: Any, keepdim: bool) -> np.ndarray:
        self.save_for_backward(a)
        self.args = axis, keepdim
        return np.asarray(np.nansum(a, axis=axis, keepdims=keepdim), a.dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (a,) = self.saved_tensors
        axis, keepdim = self.args
        return _expand_reduced(grad, a.shape, axis, keepdim) * ~np.isnan(a)


class NanMeanFn(Function):
    def forward(self, a: np.ndarray, *, axis: Any, keepdim: bool) -> np.ndarray:
        keep = ~np.isnan(a)
        count = np.sum(keep, axis=axis, keepdims=True)
        self.save_for_backward(keep, count)
        self.args = axis, keepdim
        with _quiet():
            y = np.sum(np.where(keep, a, 0), axis=axis, keepdims=True) / count
        y = np.asarray(y, a.dtype)
        return y if keepdim else np.asarray(np.squeeze(y, axis=axis))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        keep, count = self.saved_tensors
        axis, keepdim = self.args
        g = _expand_reduced(grad, keep.shape, axis, keepdim)
        with _quiet():
            return (g * keep / count).astype(grad.dtype)
