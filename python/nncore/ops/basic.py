"""Cheap elementwise, shape and reduction ops: NumPy forward and backward, no native kernel."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from nncore.autograd import Function, unbroadcast

# ---- elementwise arithmetic (NumPy broadcasting) ---------------------------------------------


class AddFn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, grad: np.ndarray) -> tuple:
        sa, sb = self.shapes
        return unbroadcast(grad, sa), unbroadcast(grad, sb)


class SubFn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, grad: np.ndarray) -> tuple:
        sa, sb = self.shapes
        db = unbroadcast(-grad, sb) if self.needs_input_grad[1] else None
        return unbroadcast(grad, sa), db


class MulFn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        da = unbroadcast(grad * b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(grad * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class DivFn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        da = unbroadcast(grad / b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(-grad * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return da, db


class PowFn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = np.power(a, b)
        self.save_for_backward(a, b, y)
        return y

    def backward(self, grad: np.ndarray) -> tuple:
        a, b, y = self.saved_tensors
        da = db = None
        if self.needs_input_grad[0]:
            da = unbroadcast(grad * b * np.power(a, b - 1), a.shape)
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            db = unbroadcast(grad * y * log_a, b.shape)
        return da, db


class NegFn(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return -grad


class ExpFn(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        y = np.exp(a)
        self.save_for_backward(y)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.saved_tensors[0]


class LogFn(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save_for_backward(a)
        # NOTE: as PyTorch, log(0) is -inf and log(x < 0) nan without a warning (a causal
        # attention mask is often built as log(tril(ones))).
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad / self.saved_tensors[0]


class SqrtFn(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        y = np.sqrt(a)
        self.save_for_backward(y)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad / (2 * self.saved_tensors[0])


class AbsFn(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save_for_backward(a)
        return np.abs(a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * np.sign(self.saved_tensors[0])


class ClampFn(Function):
    def forward(self, a: np.ndarray, *, min: float | None, max: float | None) -> np.ndarray:
        self.save_for_backward(a)
        self.bounds = min, max
        return np.clip(a, min, max)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (a,) = self.saved_tensors
        lo, hi = self.bounds
        keep = np.ones(a.shape, dtype=bool)
        if lo is not None:
            keep &= a >= lo
        if hi is not None:
            keep &= a <= hi
        return grad * keep


class WhereFn(Function):
    def forward(self, a: np.ndarray, b: np.ndarray, *, condition: np.ndarray) -> np.ndarray:
        self.condition = condition
        self.shapes = a.shape, b.shape
        return np.where(condition, a, b)

    def backward(self, grad: np.ndarray) -> tuple:
        zero = np.zeros((), dtype=grad.dtype)
        sa, sb = self.shapes
        return (
            unbroadcast(np.where(self.condition, grad, zero), sa),
            unbroadcast(np.where(self.condition, zero, grad), sb),
        )


# ---- reductions --------------------------------------------------------------------------


def _expand_reduced(grad: np.ndarray, shape: tuple, axis: Any, keepdim: bool) -> np.ndarray:
    if axis is not None and not keepdim:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape)


class SumFn(Function):
    def forward(self, a: np.ndarray, *, axis: Any = None, keepdim: bool = False) -> np.ndarray:
        self.args = a.shape, axis, keepdim
        return np.asarray(a.sum(axis=axis, keepdims=keepdim))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        shape, axis, keepdim = self.args
        return _expand_reduced(grad, shape, axis, keepdim)


class MeanFn(Function):
    def forward(self, a: np.ndarray, *, axis: Any = None, keepdim: bool = False) -> np.ndarray:
        self.args = a.shape, axis, keepdim
        y = np.asarray(a.mean(axis=axis, keepdims=keepdim))
        self.count = a.size // max(y.size, 1) if a.size else 0
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        shape, axis, keepdim = self.args
        return _expand_reduced(grad / max(self.count, 1), shape, axis, keepdim)


class AmaxFn(Function):
    """max/min over axes; ties share the gradient equally (PyTorch's amax/amin)."""

    def forward(
        self, a: np.ndarray, *, axis: Any = None, keepdim: bool = False, minimum: bool = False
    ) -> np.ndarray:
        y = (np.min if minimum else np.max)(a, axis=axis, keepdims=True)
        self.save_for_backward(a == y)
        self.args = a.shape, axis, keepdim
        return np.asarray(y if keepdim else np.squeeze(y, axis=axis))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (hit,) = self.saved_tensors
        shape, axis, keepdim = self.args
        g = _expand_reduced(grad, shape, axis, keepdim)
        # NOTE: the tie count is an integer array; divide in the gradient's dtype, or a float32
        # gradient comes back float64 and the next native backward refuses it.
        return g * hit / hit.sum(axis=axis, keepdims=True).astype(g.dtype)


class TakeAlongFn(Function):
    """Values at given indices along one axis (max/min with a dim: gradient to that index)."""

    def forward(
        self, a: np.ndarray, *, indices: np.ndarray, axis: int, keepdim: bool
    ) -> np.ndarray:
        idx = np.expand_dims(indices, axis)
        self.args = a.shape, idx, axis, keepdim
        y = np.take_along_axis(a, idx, axis=axis)
        return y if keepdim else np.squeeze(y, axis=axis)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        shape, idx, axis, keepdim = self.args
        g = np.zeros(shape, dtype=grad.dtype)
        np.put_along_axis(g, idx, grad if keepdim else np.expand_dims(grad, axis), axis=axis)
        return g


# ---- shape ops -------------------------------------------------------------------------------


class ReshapeFn(Function):
    def forward(self, a: np.ndarray, *, shape: tuple) -> np.ndarray:
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self.in_shape)


class PermuteFn(Function):
    def forward(self, a: np.ndarray, *, axes: tuple) -> np.ndarray:
        self.axes = axes
        return a.transpose(axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        # NOTE: the inverse permutation in Python: np.argsort made an array per call (~5 us)
        return grad.transpose(sorted(range(len(self.axes)), key=self.axes.__getitem__))


class ExpandFn(Function):
    def forward(self, a: np.ndarray, *, shape: tuple) -> np.ndarray:
        self.in_shape = a.shape
        return np.broadcast_to(a, shape)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return unbroadcast(grad, self.in_shape)


class GetItemFn(Function):
    def forward(self, a: np.ndarray, *, index: Any) -> np.ndarray:
        self.args = a.shape, a.dtype, index
        out = a[index]
        if type(out) is not np.ndarray and _is_basic_index(index):
            # NOTE: integer indexing down to one element gives a NumPy scalar; a trailing
            # Ellipsis gives the 0-d view PyTorch returns (writes through it reach ``a``).
            out = a[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        shape, dtype, index = self.args
        g = np.zeros(shape, dtype=grad.dtype)
        if _is_basic_index(index):
            g[index] = grad
        else:
            # NOTE: add.at, because a fancy index may repeat an element and each use adds.
            np.add.at(g, index, grad)
        return g


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


class CatFn(Function):
    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        # NOTE: sizes kept as a tuple; the split points are summed in backward (np.cumsum of a
        # list costs more than the concatenation of small inputs).
        self.sizes = tuple([a.shape[axis] for a in arrays])
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad: np.ndarray) -> tuple:
        return tuple(np.split(grad, list(itertools.accumulate(self.sizes[:-1])), axis=self.axis))


class StackFn(Function):
    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, grad: np.ndarray) -> tuple:
        return tuple(np.moveaxis(grad, self.axis, 0))


# ---- copies, casts and writes ------------------------------------------------------------


class CastFn(Function):
    """a in another dtype; the gradient comes back in a's dtype."""

    def forward(self, a: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.astype(self.in_dtype) if self.in_dtype.kind in "fc" else None


class ContiguousFn(Function):
    """a in C order (a copy when it is a strided view)."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class CloneFn(Function):
    """A copy of a with its own memory."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.copy()

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class SetItemFn(Function):
    """a with ``a[index] = b`` applied, out of place (``Tensor.__setitem__`` under autograd):
    the gradient reaches a everywhere but at index, and b through index."""

    def forward(self, a: np.ndarray, b: np.ndarray, *, index: Any) -> np.ndarray:
        self.index, self.b_shape = index, b.shape
        out = a.copy()
        out[index] = b
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        da = db = None
        if self.needs_input_grad[0]:
            da = grad.copy()
            da[self.index] = 0
        if self.needs_input_grad[1]:
            db = unbroadcast(np.asarray(grad[self.index]), self.b_shape)
        return da, db
