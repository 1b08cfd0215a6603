"""NumPy Functions of the vision ops: per-axis gathers (non-constant padding and nearest/linear
interpolation), constant padding, and im2col/col2im (unfold/fold).

A per-axis gather maps output position j of an axis to input positions idx_k[j] with weights
w_k[j] (one tap for padding and nearest, two for linear); its backward sums each output's
gradient into its sources with ``np.add.reduceat`` over sorted indices: no scatter loops, and a
fixed order (same bits every run).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from nncore.autograd import Function

Tap = tuple[np.ndarray, Optional[np.ndarray]]


def _along(a: np.ndarray, axis: int) -> tuple[int, ...]:
    """Shape that broadcasts a 1-d array of weights along ``axis`` of ``a``."""
    shape = [1] * a.ndim
    shape[axis] = -1
    return tuple(shape)


def scatter_sum(values: np.ndarray, idx: np.ndarray, n: int, axis: int) -> np.ndarray:
    """out with ``n`` positions along ``axis``: out[i] = sum of values[j] over j with idx[j] = i."""
    if np.any(idx[1:] < idx[:-1]):
        order = np.argsort(idx, kind="stable")
        idx, values = idx[order], np.take(values, order, axis=axis)
    shape = list(values.shape)
    shape[axis] = n
    out = np.zeros(shape, dtype=values.dtype)
    if idx.size == 0:
        return out
    uniq, starts = np.unique(idx, return_index=True)
    where = [slice(None)] * values.ndim
    where[axis] = uniq
    out[tuple(where)] = np.add.reduceat(values, starts, axis=axis)
    return out


class GatherAxesFn(Function):
    """y = x gathered along each planned axis in turn: y[.., j, ..] = sum_k w_k[j] x[.., idx_k[j],
    ..]. ``plan`` is a tuple of (axis, input size, taps), taps a tuple of (idx, weights or
    None); weights already have the input's dtype."""

    def forward(self, x: np.ndarray, *, plan: tuple) -> np.ndarray:
        self.plan = plan
        y = x
        for axis, _, taps in plan:
            out = None
            for idx, w in taps:
                part = np.take(y, idx, axis=axis)
                if w is not None:
                    part *= w.reshape(_along(part, axis))
                out = part if out is None else out + part
            y = out
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        g = grad
        for axis, n, taps in reversed(self.plan):
            total = None
            for idx, w in taps:
                part = g * w.reshape(_along(g, axis)) if w is not None else g
                part = scatter_sum(part, idx, n, axis)
                total = part if total is None else total + part
            g = total
        return g


class ConstantPadFn(Function):
    """Constant padding with per-dimension (before, after) counts over the trailing dims, any of
    them negative (a crop), as PyTorch's constant mode."""

    def forward(self, x: np.ndarray, *, pads: tuple[tuple[int, int], ...], value: float
                ) -> np.ndarray:
        lead = x.ndim - len(pads)
        out_shape = x.shape[:lead] + tuple(n + a + b for n, (a, b) in zip(x.shape[lead:], pads))
        src = [slice(None)] * lead + [slice(max(-a, 0), n - max(-b, 0))
                                      for n, (a, b) in zip(x.shape[lead:], pads)]
        dst = [slice(None)] * lead + [slice(max(a, 0), o - max(b, 0))
                                      for o, (a, b) in zip(out_shape[lead:], pads)]
        self.src, self.dst, self.shape = tuple(src), tuple(dst), x.shape
        y = np.full(out_shape, value, dtype=x.dtype)
        y[self.dst] = x[self.src]
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        dx = np.zeros(self.shape, dtype=grad.dtype)
        dx[self.src] = grad[self.dst]
        return dx


def _im2col(x: np.ndarray, k: tuple, d: tuple, p: tuple, s: tuple, out: tuple) -> np.ndarray:
    """(N, C, H, W) -> (N, C * kh * kw, oh * ow), PyTorch's unfold layout."""
    n, c = x.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = np.empty((n, c, k[0], k[1], out[0], out[1]), dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            h0, w0 = i * d[0], j * d[1]
            cols[:, :, i, j] = xp[:, :, h0:h0 + s[0] * (out[0] - 1) + 1:s[0],
                                  w0:w0 + s[1] * (out[1] - 1) + 1:s[1]]
    return cols.reshape(n, c * k[0] * k[1], out[0] * out[1])


def _col2im(cols: np.ndarray, hw: tuple, k: tuple, d: tuple, p: tuple, s: tuple,
            out: tuple) -> np.ndarray:
    """The adjoint of _im2col: (N, C * kh * kw, L) summed back into (N, C, H, W)."""
    n = cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    blocks = cols.reshape(n, c, k[0], k[1], out[0], out[1])
    xp = np.zeros((n, c, hw[0] + 2 * p[0], hw[1] + 2 * p[1]), dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            h0, w0 = i * d[0], j * d[1]
            xp[:, :, h0:h0 + s[0] * (out[0] - 1) + 1:s[0],
               w0:w0 + s[1] * (out[1] - 1) + 1:s[1]] += blocks[:, :, i, j]
    return xp[:, :, p[0]:p[0] + hw[0], p[1]:p[1] + hw[1]].copy()


class UnfoldFn(Function):
    """Sliding blocks of (N, C, H, W) as columns (im2col); backward is col2im."""

    def forward(self, x: np.ndarray, *, kernel: tuple, dilation: tuple, padding: tuple,
                stride: tuple, blocks: tuple) -> np.ndarray:
        self.args = (kernel, dilation, padding, stride, blocks)
        self.hw = x.shape[2:]
        return _im2col(x, *self.args)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _col2im(grad, self.hw, *self.args)


class FoldFn(Function):
    """Columns (N, C * kh * kw, L) summed into (N, C, H, W) (col2im); backward is im2col."""

    def forward(self, cols: np.ndarray, *, output_size: tuple, kernel: tuple, dilation: tuple,
                padding: tuple, stride: tuple, blocks: tuple) -> np.ndarray:
        self.args = (kernel, dilation, padding, stride, blocks)
        return _col2im(cols, output_size, *self.args)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _im2col(grad, *self.args)
