"""Elementwise ops of several inputs beyond ``ops.basic`` (pow, remainder, lerp, addcmul,
clamp with tensor bounds...) and the Functions of in-place writes: NumPy forward and backward,
PyTorch's derivatives. One-input math is in ``ops.unary``.

Inputs arrive already promoted to one dtype (``ops._promote``). Forwards that may leave their
domain (log of 0, 0/0...) run under ``np.errstate(all="ignore")``: PyTorch returns inf/nan
silently, and a NumPy RuntimeWarning per op would only be noise.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from nncore.autograd import Function, unbroadcast

_quiet = functools.partial(np.errstate, all="ignore")


def _same(x: Any, like: np.ndarray) -> np.ndarray:
    """``x`` (a NumPy result, maybe a scalar from 0-d math) as an array of ``like``'s dtype."""
    return np.asarray(x, dtype=like.dtype)


# ---- binary arithmetic ------------------------------------------------------------------------


class AddScaledFn(Function):
    """a + alpha * b (``add``/``sub`` with ``alpha=``)."""

    def forward(self, a: np.ndarray, b: np.ndarray, *, alpha: Any) -> np.ndarray:
        self.shapes, self.alpha = (a.shape, b.shape), alpha
        return a + alpha * b

    def backward(self, grad: np.ndarray) -> tuple:
        sa, sb = self.shapes
        db = unbroadcast(grad * self.alpha, sb) if self.needs_input_grad[1] else None
        return unbroadcast(grad, sa), db


class PowFn(Function):
    """a ** b over tensors; a zero exponent has a zero gradient even at a = 0 (PyTorch)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with _quiet():
            y = np.power(a, b)
        self.save_for_backward(a, b, y)
        return y

    def backward(self, grad: np.ndarray) -> tuple:
        a, b, y = self.saved_tensors
        da = db = None
        with _quiet():
            if self.needs_input_grad[0]:
                d = np.where(b == 0, 0, b * np.power(a, b - 1))
                da = unbroadcast(grad * d, a.shape)
            if self.needs_input_grad[1]:
                # NOTE: PyTorch's convention: d(a**b)/db is 0 where a == 0 and b >= 0.
                d = np.where((a == 0) & (b >= 0), 0, y * np.log(np.where(a == 0, 1, a)))
                db = unbroadcast(grad * d, b.shape)
        return da, db


class PowScalarFn(Function):
    """a ** exponent with a Python number for the exponent."""

    def forward(self, a: np.ndarray, *, exponent: Any) -> np.ndarray:
        self.save_for_backward(a)
        self.exponent = exponent
        # NOTE: small integer powers by multiplication, as PyTorch's pow does for 2 and 3 (and
        # several times faster than np.power on small arrays).
        with _quiet():
            if exponent == 2:
                return a * a
            if exponent == 3 and a.dtype.kind in "fc":
                return a * a * a
            return _same(np.power(a, exponent), a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (a,) = self.saved_tensors
        e = self.exponent
        if e == 0:
            return np.zeros_like(grad)
        with _quiet():
            return grad * (e * (a if e == 2 else np.power(a, e - 1)))


class RemainderFn(Function):
    """a - b * floor(a / b), the sign of b (Python's %)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save_for_backward(a, b)
        with _quiet():
            return _same(np.mod(a, b), a)

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        db = None
        if self.needs_input_grad[1]:
            with _quiet():
                db = unbroadcast(-grad * np.floor_divide(a, b), b.shape)
        return unbroadcast(grad, a.shape), db


class FmodFn(Function):
    """a - b * trunc(a / b), the sign of a (C's fmod)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save_for_backward(a, b)
        with _quiet():
            return _same(np.fmod(a, b), a)

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        db = None
        if self.needs_input_grad[1]:
            with _quiet():
                db = unbroadcast(-grad * np.trunc(a / b), b.shape)
        return unbroadcast(grad, a.shape), db


class FloorDivideFn(Function):
    """floor(a / b); PyTorch defines no derivative and raises in backward."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with _quiet():
            return _same(np.floor_divide(a, b), a)

    def backward(self, grad: np.ndarray) -> tuple:
        raise RuntimeError("derivative for aten::floor_divide is not implemented")


class DivRoundFn(Function):
    """a / b rounded ('trunc' or 'floor'): a step function, so zero gradients."""

    def forward(self, a: np.ndarray, b: np.ndarray, *, mode: str) -> np.ndarray:
        self.shapes = a.shape, b.shape
        with _quiet():
            if a.dtype.kind in "iu":
                q = np.floor_divide(a, b)
                if mode == "trunc":
                    # NOTE: floor and trunc differ where the exact quotient is negative and
                    # inexact; integer arithmetic keeps large int64 values exact.
                    q = q + ((q < 0) & (q * b != a))
                return _same(q, a)
            q = np.true_divide(a, b)
            return _same(np.trunc(q) if mode == "trunc" else np.floor(q), a)

    def backward(self, grad: np.ndarray) -> tuple:
        sa, sb = self.shapes
        return np.zeros(sa, grad.dtype), np.zeros(sb, grad.dtype)


class Atan2Fn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save_for_backward(a, b)
        return _same(np.arctan2(a, b), a)

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        with _quiet():
            scale = grad / (a * a + b * b)
        da = unbroadcast(scale * b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(-scale * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class MaximumFn(Function):
    """Elementwise max (or min); a tie sends half the gradient to each side (PyTorch)."""

    def forward(self, a: np.ndarray, b: np.ndarray, *, minimum: bool) -> np.ndarray:
        self.save_for_backward(a, b)
        self.minimum = minimum
        return (np.minimum if minimum else np.maximum)(a, b)

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        wins = (a < b) if self.minimum else (a > b)
        share = np.where(wins, 1.0, np.where(a == b, 0.5, 0.0)).astype(grad.dtype)
        da = unbroadcast(grad * share, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(grad * (1 - share), b.shape) if self.needs_input_grad[1] else None
        return da, db


class LerpFn(Function):
    """a + w * (b - a)."""

    def forward(self, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
        self.save_for_backward(a, b, w)
        return a + w * (b - a)

    def backward(self, grad: np.ndarray) -> tuple:
        a, b, w = self.saved_tensors
        need = self.needs_input_grad
        da = unbroadcast(grad * (1 - w), a.shape) if need[0] else None
        db = unbroadcast(grad * w, b.shape) if need[1] else None
        dw = unbroadcast(grad * (b - a), w.shape) if need[2] else None
        return da, db, dw


class AddcmulFn(Function):
    """a + value * t1 * t2."""

    def forward(self, a: np.ndarray, t1: np.ndarray, t2: np.ndarray, *, value: Any
                ) -> np.ndarray:
        self.save_for_backward(t1, t2)
        self.a_shape, self.value = a.shape, value
        return a + value * (t1 * t2)

    def backward(self, grad: np.ndarray) -> tuple:
        t1, t2 = self.saved_tensors
        need, v = self.needs_input_grad, self.value
        d1 = unbroadcast(grad * v * t2, t1.shape) if need[1] else None
        d2 = unbroadcast(grad * v * t1, t2.shape) if need[2] else None
        return unbroadcast(grad, self.a_shape), d1, d2


class AddcdivFn(Function):
    """a + value * t1 / t2."""

    def forward(self, a: np.ndarray, t1: np.ndarray, t2: np.ndarray, *, value: Any
                ) -> np.ndarray:
        self.save_for_backward(t1, t2)
        self.a_shape, self.value = a.shape, value
        with _quiet():
            return a + value * (t1 / t2)

    def backward(self, grad: np.ndarray) -> tuple:
        t1, t2 = self.saved_tensors
        need, v = self.needs_input_grad, self.value
        with _quiet():
            d1 = unbroadcast(grad * v / t2, t1.shape) if need[1] else None
            d2 = unbroadcast(-grad * v * t1 / (t2 * t2), t2.shape) if need[2] else None
        return unbroadcast(grad, self.a_shape), d1, d2


class ClampTensorFn(Function):
    """min(max(a, lo), hi) with tensor bounds (either may be absent). The input gets the
    gradient where lo <= a <= hi; lo where a < lo < hi; hi where a > hi or hi < lo (PyTorch)."""

    def forward(self, a: np.ndarray, *bounds: np.ndarray, has_lo: bool, has_hi: bool
                ) -> np.ndarray:
        lo = bounds[0] if has_lo else None
        hi = bounds[-1] if has_hi else None
        self.save_for_backward(a, lo, hi)
        y = a if lo is None else np.maximum(a, lo)
        return y if hi is None else np.minimum(y, hi)

    def backward(self, grad: np.ndarray) -> tuple:
        a, lo, hi = self.saved_tensors
        zero = np.zeros((), grad.dtype)
        keep = np.ones(a.shape, bool)
        out = []
        if lo is not None:
            keep = keep & (a >= lo)
        if hi is not None:
            keep = keep & (a <= hi)
        out.append(np.where(keep, grad, zero) if self.needs_input_grad[0] else None)
        if lo is not None:
            hit = (a < lo) if hi is None else (a < lo) & (lo < hi)
            out.append(unbroadcast(np.where(hit, grad, zero), lo.shape)
                       if self.needs_input_grad[1] else None)
        if hi is not None:
            hit = (a > hi) if lo is None else (a > hi) | (hi < lo)
            out.append(unbroadcast(np.where(hit, grad, zero), hi.shape)
                       if self.needs_input_grad[-1] else None)
        return tuple(out)


# ---- writes (in-place ops on the autograd path) ------------------------------------------------


class CopyFn(Function):
    """``dst.copy_(src)`` out of place: src cast to dst's dtype and broadcast to its shape, in
    new memory. dst's old value gets a zero gradient; src gets the gradient summed back."""

    def forward(self, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
        self.src_shape, self.src_dtype = src.shape, src.dtype
        out = np.empty(dst.shape, dst.dtype)
        np.copyto(out, src, casting="unsafe")
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        dd = np.zeros_like(grad) if self.needs_input_grad[0] else None
        ds = None
        if self.needs_input_grad[1]:
            ds = unbroadcast(grad, self.src_shape).astype(self.src_dtype, copy=False)
        return dd, ds


class ReplaceFn(Function):
    """``dst`` replaced by a constant (``zero_``, ``fill_``, random fills): zero gradient to
    dst's old value, as PyTorch's FillBackward."""

    def forward(self, dst: np.ndarray, *, value: np.ndarray) -> np.ndarray:
        return value

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.zeros_like(grad)
