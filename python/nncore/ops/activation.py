"""The activation family: elementwise nonlinearities, softmax/log-softmax and dropout, all native.

sigmoid, tanh, softmax and log_softmax save their output for backward (the derivative is a
function of it); relu, leaky_relu and gelu save their input; dropout saves nothing but its seed,
from which the native backward regenerates the mask.
"""

from __future__ import annotations

import math

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
