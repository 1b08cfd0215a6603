"""The activation family: elementwise nonlinearities, softmax/log-softmax and dropout.

relu, leaky_relu, gelu, softplus, sigmoid, tanh, softmax, log_softmax and dropout are native:
sigmoid, tanh, softmax and log_softmax save their output for backward (the derivative is a
function of it); relu, leaky_relu, gelu and softplus save their input; dropout saves nothing
but its seed, from which the native backward regenerates the mask. The rarer activations (silu,
elu, mish, hardswish, ...) are NumPy Functions over a shared pattern (design.md: cheap
elementwise ops stay in NumPy).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from nncore import _C
from nncore.autograd import Function
from nncore.ops._arrays import contiguous


class ReluFn(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        x = contiguous(x)
        self.save_for_backward(x)
        return _C.relu_forward(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return _C.relu_backward(contiguous(grad, x.dtype), x)


class LeakyReluFn(Function):
    def forward(self, x: np.ndarray, *, negative_slope: float) -> np.ndarray:
        x = contiguous(x)
        self.save_for_backward(x)
        self.negative_slope = negative_slope
        return _C.leaky_relu_forward(x, negative_slope)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return _C.leaky_relu_backward(contiguous(grad, x.dtype), x, self.negative_slope)


class SigmoidFn(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        y = _C.sigmoid_forward(contiguous(x))
        self.save_for_backward(y)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (y,) = self.saved_tensors
        return _C.sigmoid_backward(contiguous(grad, y.dtype), y)


class TanhFn(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        y = _C.tanh_forward(contiguous(x))
        self.save_for_backward(y)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (y,) = self.saved_tensors
        return _C.tanh_backward(contiguous(grad, y.dtype), y)


class GeluFn(Function):
    def forward(self, x: np.ndarray, *, approximate: str) -> np.ndarray:
        x = contiguous(x)
        self.save_for_backward(x)
        self.approximate = approximate
        return _C.gelu_forward(x, approximate)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return _C.gelu_backward(contiguous(grad, x.dtype), x, self.approximate)


class SoftplusFn(Function):
    def forward(self, x: np.ndarray, *, beta: float, threshold: float) -> np.ndarray:
        x = contiguous(x)
        self.save_for_backward(x)
        self.beta, self.threshold = beta, threshold
        return _C.softplus_forward(x, beta, threshold)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return _C.softplus_backward(contiguous(grad, x.dtype), x, self.beta, self.threshold)


class _RowwiseFn(Function):
    """Runs a [rows, cols] kernel pair (``_forward``/``_backward``, set by subclasses) over axis
    ``dim``, moved to the end when it is not last."""

    def forward(self, x: np.ndarray, *, dim: int) -> np.ndarray:
        # ``dim`` is non-negative here (functional.py normalises it); a 0-d input is one row.
        self.moved = moved = x.ndim > 1 and dim != x.ndim - 1
        self.dim = dim
        if moved:
            x = np.moveaxis(x, dim, -1)
        self.shape = shape = x.shape
        cols = shape[-1] if shape else 1
        y2 = self._forward(contiguous(x).reshape(math.prod(shape[:-1]), cols))
        self.save_for_backward(y2)
        y = y2.reshape(shape)
        return np.moveaxis(y, -1, dim) if moved else y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (y2,) = self.saved_tensors
        if self.moved:
            grad = np.moveaxis(grad, self.dim, -1)
        dx = self._backward(contiguous(grad, y2.dtype).reshape(y2.shape), y2).reshape(self.shape)
        return np.moveaxis(dx, -1, self.dim) if self.moved else dx


class SoftmaxFn(_RowwiseFn):
    _forward = staticmethod(_C.softmax_forward)
    _backward = staticmethod(_C.softmax_backward)


class LogSoftmaxFn(_RowwiseFn):
    _forward = staticmethod(_C.log_softmax_forward)
    _backward = staticmethod(_C.log_softmax_backward)


class DropoutFn(Function):
    """Zeroes elements with probability p and scales the rest by 1/(1-p); the mask is a pure
    function of (seed, element index), so backward regenerates it instead of storing it."""

    def forward(self, x: np.ndarray, *, p: float, seed: int) -> np.ndarray:
        self.p, self.seed, self.dtype = p, seed, x.dtype
        return _C.dropout_forward(contiguous(x), p, seed)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _C.dropout_backward(contiguous(grad, self.dtype), self.p, self.seed)


class Dropout2dFn(Function):
    """Zeroes whole channels: one keep/drop draw per (sample, channel) from the native dropout
    mask (seeded), broadcast over the spatial axes. ``channel_axes`` leading axes index the
    channels (2 for batched input, 1 for unbatched (C, H, W))."""

    def forward(self, x: np.ndarray, *, p: float, seed: int, channel_axes: int) -> np.ndarray:
        lead = x.shape[:channel_axes]
        mask = _C.dropout_forward(np.ones(lead, dtype=x.dtype), p, seed)
        self.mask = mask.reshape(lead + (1,) * (x.ndim - channel_axes))
        return x * self.mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.mask


# ---- NumPy elementwise activations ------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp of -|x| only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class _PointwiseFn(Function):
    """``y = f(x, **kw)`` elementwise; backward multiplies by ``df(x, **kw)``. Subclasses define
    the two static methods. Only x is saved (never the output), so the in-place forms
    (``elu_``...) can take the output's place in the graph."""

    f: Callable[..., np.ndarray]
    df: Callable[..., np.ndarray]

    def forward(self, x: np.ndarray, **kw: Any) -> np.ndarray:
        self.kw = kw
        self.save_for_backward(x)
        return np.asarray(self.f(x, **kw)).astype(x.dtype, copy=False)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (x,) = self.saved_tensors
        return (grad * self.df(x, **self.kw)).astype(x.dtype, copy=False)


def _fn(name: str, f: Callable[..., np.ndarray], df: Callable[..., np.ndarray]) -> type:
    return type(name, (_PointwiseFn,), {"f": staticmethod(f), "df": staticmethod(df),
                                        "__doc__": f"NumPy {name[:-2].lower()} (forward and "
                                                   f"derivative)."})


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

ThresholdFn = _fn("ThresholdFn", lambda x, threshold, value: np.where(x <= threshold, value, x),
                  lambda x, threshold, value: x > threshold)
# NOTE: PyTorch's hardtanh (relu6 too) passes the gradient strictly inside (min_val, max_val).
HardtanhFn = _fn("HardtanhFn", lambda x, lo, hi: np.clip(x, lo, hi),
                 lambda x, lo, hi: (x > lo) & (x < hi))
EluFn = _fn("EluFn",
            lambda x, alpha, scale, input_scale: scale * np.where(
                x > 0, x, alpha * np.expm1(np.minimum(x, 0) * input_scale)),
            lambda x, alpha, scale, input_scale: scale * np.where(
                x > 0, 1, alpha * input_scale * np.exp(np.minimum(x, 0) * input_scale)))
SiluFn = _fn("SiluFn", lambda x: x * _sigmoid(x),
             lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))))
MishFn = _fn("MishFn", lambda x: x * np.tanh(_softplus(x)),
             lambda x: np.tanh(_softplus(x)) + x * _sigmoid(x) * (1 - np.tanh(_softplus(x))**2))
# NOTE: PyTorch's hardswish derivative is 0 at x <= -3 and 1 at x >= 3 (the kinks included).
HardswishFn = _fn("HardswishFn", lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.where(x <= -3, 0, np.where(x < 3, x / 3 + 0.5, 1)))
HardsigmoidFn = _fn("HardsigmoidFn", lambda x: np.clip(x + 3, 0, 6) / 6,
                    lambda x: ((x > -3) & (x < 3)) / 6)
SoftsignFn = _fn("SoftsignFn", lambda x: x / (1 + np.abs(x)),
                 lambda x: 1 / (1 + np.abs(x))**2)
LogSigmoidFn = _fn("LogSigmoidFn", lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
                   lambda x: _sigmoid(-x))
TanhshrinkFn = _fn("TanhshrinkFn", lambda x: x - np.tanh(x), lambda x: np.tanh(x)**2)
HardshrinkFn = _fn("HardshrinkFn", lambda x, lambd: np.where(np.abs(x) <= lambd, 0, x),
                   lambda x, lambd: np.abs(x) > lambd)
SoftshrinkFn = _fn("SoftshrinkFn",
                   lambda x, lambd: np.where(x > lambd, x - lambd,
                                             np.where(x < -lambd, x + lambd, 0)),
                   lambda x, lambd: np.abs(x) > lambd)


class RreluFn(Function):
    """Leaky ReLU with a given slope per element (randomised leaky ReLU in training)."""

    def forward(self, x: np.ndarray, *, slopes: np.ndarray) -> np.ndarray:
        self.scale = np.where(x <= 0, slopes, 1).astype(x.dtype)
        return x * self.scale

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.scale


class PreluFn(Function):
    """max(0, x) + w * min(0, x) with one learnable slope per channel (dim 1) or one in all."""

    def forward(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        self.wshape = w.shape
        wb = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if w.size > 1 else w.reshape(())
        self.save_for_backward(x, wb)
        return np.where(x > 0, x, wb * x)

    def backward(self, grad: np.ndarray) -> tuple:
        x, wb = self.saved_tensors
        dx = np.where(x > 0, grad, wb * grad) if self.needs_input_grad[0] else None
        dw = None
        if self.needs_input_grad[1]:
            g = np.where(x > 0, 0, x * grad)
            axes = tuple(i for i in range(x.ndim) if i != 1) if wb.ndim else None
            dw = g.sum(axis=axes).reshape(self.wshape).astype(x.dtype, copy=False)
        return dx, dw


class GluFn(Function):
    """a * sigmoid(b) of the two halves (a, b) of ``dim``."""

    def forward(self, x: np.ndarray, *, dim: int) -> np.ndarray:
        a, b = np.split(x, 2, axis=dim)
        s = _sigmoid(b).astype(x.dtype, copy=False)
        self.save_for_backward(a, s)
        self.dim = dim
        return a * s

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, s = self.saved_tensors
        return np.concatenate([grad * s, grad * a * s * (1 - s)], axis=self.dim)


class AlphaDropoutFn(Function):
    """SELU-preserving dropout: kept elements a * x + alpha' a p, dropped ones
    alpha' a (p - 1), with alpha' = SELU's -alpha * scale and a = ((alpha'^2 p + 1)(1 - p))^-1/2,
    so zero-mean unit-variance inputs keep their moments. ``channel_axes`` leading axes share
    one draw per (sample, channel) (feature alpha dropout) when given."""

    def forward(self, x: np.ndarray, *, p: float, seed: int, channel_axes: int | None
                ) -> np.ndarray:
        lead = x.shape if channel_axes is None else x.shape[:channel_axes]
        keep = _C.dropout_forward(np.ones(lead, dtype=x.dtype), p, seed) != 0
        keep = keep.reshape(lead + (1,) * (x.ndim - len(lead)))
        alpha = SELU_ALPHA * SELU_SCALE
        a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
        self.scale = (keep * a).astype(x.dtype)
        shift = ((keep - 1) * alpha * a + alpha * a * p).astype(x.dtype)
        return x * self.scale + shift

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.scale
