"""The sort family: top-k selection on the native kernel (``_C.topk_forward/backward``)."""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function
from nncore.ops._arrays import contiguous


def topk_rows(x: np.ndarray, k: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of the k best along the last axis of a float32/float64 array."""
    n = x.shape[-1]
    lead = x.shape[:-1]
    v, i = _C.topk_forward(contiguous(x.reshape(-1, n)), k, largest)
    return v.reshape(lead + (k,)), i.reshape(lead + (k,))


class TopkFn(Function):
    """The k largest (smallest) values along ``axis``: the kernel's rows are that axis, moved
    last. The indices are kept on the node (``self.indices``) for the caller."""

    def forward(self, x: np.ndarray, *, k: int, axis: int, largest: bool) -> np.ndarray:
        last = x.ndim - 1
        moved = x if axis == last else np.moveaxis(x, axis, -1)
        v, i = topk_rows(moved, k, largest)
        self.rows_indices, self.axis, self.moved_shape = i, axis, moved.shape
        if axis != last:
            v, i = np.moveaxis(v, -1, axis), np.moveaxis(i, -1, axis)
        self.indices = i
        return v

    def backward(self, grad: np.ndarray) -> np.ndarray:
        last = grad.ndim - 1
        g = grad if self.axis == last else np.moveaxis(grad, self.axis, -1)
        idx = self.rows_indices
        n, k = self.moved_shape[-1], idx.shape[-1]
        dx = _C.topk_backward(contiguous(g.reshape(-1, k)), idx.reshape(-1, k), n)
        dx = dx.reshape(self.moved_shape)
        return dx if self.axis == last else np.moveaxis(dx, -1, self.axis)
