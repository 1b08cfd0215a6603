"""The conv family: conv2d and conv_transpose2d (the 1-d forms as H = 1) and max/avg/adaptive
pooling (dropout2d is the activation family's, with dropout).

Padding arrives here already resolved to a (top/left, bottom/right extra) form: the native
kernel pads symmetrically, and 'same' with an even kernel adds one more row/column at the end
(as PyTorch), done here with np.pad.
"""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function
from nncore.ops._arrays import contiguous

Pair = tuple[int, int]




class Conv2dFn(Function):
    """y = conv2d(x, weight) + bias in NCHW; bias optional (a third input).

    ``extra`` pads x by that many more rows/columns at the bottom/right ('same' with an even
    dilated kernel).
    """

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: Pair, padding: Pair, dilation: Pair, groups: int,
                extra: Pair = (0, 0)) -> np.ndarray:
        self.in_hw = x.shape[2:]
        if extra != (0, 0):
            x = np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
        x, weight = contiguous(x), contiguous(weight)
        self.save_for_backward(x, weight)
        self.args = (stride, padding, dilation, groups)
        return _C.conv2d_forward(x, weight, bias, stride, padding, dilation, groups)

    def backward(self, grad: np.ndarray) -> tuple:
        x, weight = self.saved_tensors
        need = self.needs_input_grad
        dx, dw, db = _C.conv2d_backward(contiguous(grad), x, weight, *self.args, need[0], need[1],
                                        len(need) > 2 and need[2])
        if dx is not None and dx.shape[2:] != self.in_hw:
            dx = np.ascontiguousarray(dx[:, :, :self.in_hw[0], :self.in_hw[1]])
        return dx, dw, db


class Conv1dFn(Conv2dFn):
    """conv1d over (N, C, L) as conv2d over (N, C, 1, L)."""

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: int, padding: int, dilation: int, groups: int, extra: int = 0
                ) -> np.ndarray:
        self.wshape = weight.shape
        y = super().forward(x[:, :, None, :], weight[:, :, None, :], bias, stride=(1, stride),
                            padding=(0, padding), dilation=(1, dilation), groups=groups,
                            extra=(0, extra))
        return y.reshape(y.shape[0], y.shape[1], y.shape[3])

    def backward(self, grad: np.ndarray) -> tuple:
        dx, dw, db = super().backward(grad[:, :, None, :])
        if dx is not None:
            dx = dx.reshape(dx.shape[0], dx.shape[1], dx.shape[3])
        if dw is not None:
            dw = dw.reshape(self.wshape)
        return dx, dw, db


class ConvTranspose2dFn(Function):
    """y = conv_transpose2d(x, weight) + bias in NCHW, weight (C_in, C_out / groups, kH, kW).

    A transposed convolution is conv2d's input gradient, so it runs on the conv kernels: the
    forward is ``conv2d_backward``'s dx (x as conv2d's dy), the input gradient is
    ``conv2d_forward`` of the output gradient and the weight gradient ``conv2d_backward``'s dw
    with the roles of input and output swapped. ``out_hw`` is the output size (output_padding
    included); when conv2d over that size has more output rows/columns than x (output_padding
    >= stride, allowed below the dilation) x is zero-padded at the end to match.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: Pair, padding: Pair, dilation: Pair, groups: int, out_hw: Pair
                ) -> np.ndarray:
        n, _, h, w = x.shape
        cout = weight.shape[1] * groups
        conv_hw = tuple((o + 2 * p - d * (k - 1) - 1) // s + 1 for o, p, d, k, s in
                        zip(out_hw, padding, dilation, weight.shape[2:], stride))
        self.in_hw = (h, w)
        if conv_hw != (h, w):
            x = np.pad(x, ((0, 0), (0, 0), (0, conv_hw[0] - h), (0, conv_hw[1] - w)))
        x, weight = contiguous(x), contiguous(weight)
        self.save_for_backward(x, weight)
        self.args = (stride, padding, dilation, groups)
        # NOTE: conv2d_backward reads only the shape of its x argument when dw is not asked
        # for; np.empty of the output's shape costs no page faults.
        shape_only = np.empty((n, cout) + tuple(out_hw), dtype=x.dtype)
        y = _C.conv2d_backward(x, shape_only, weight, *self.args, True, False, False)[0]
        if bias is not None:
            y += bias.reshape(-1, 1, 1)
        return y

    def backward(self, grad: np.ndarray) -> tuple:
        x, weight = self.saved_tensors
        need = self.needs_input_grad
        grad = contiguous(grad)
        dx = dw = db = None
        if need[0]:
            dx = _C.conv2d_forward(grad, weight, None, *self.args)
            if dx.shape[2:] != self.in_hw:
                dx = np.ascontiguousarray(dx[:, :, :self.in_hw[0], :self.in_hw[1]])
        if need[1]:
            dw = _C.conv2d_backward(x, grad, weight, *self.args, False, True, False)[1]
        if len(need) > 2 and need[2]:
            db = grad.sum(axis=(0, 2, 3))
        return dx, dw, db


class ConvTranspose1dFn(ConvTranspose2dFn):
    """conv_transpose1d over (N, C, L) as conv_transpose2d over (N, C, 1, L)."""

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: int, padding: int, dilation: int, groups: int, out_len: int
                ) -> np.ndarray:
        self.wshape = weight.shape
        y = super().forward(x[:, :, None, :], weight[:, :, None, :], bias, stride=(1, stride),
                            padding=(0, padding), dilation=(1, dilation), groups=groups,
                            out_hw=(1, out_len))
        return y.reshape(y.shape[0], y.shape[1], y.shape[3])

    def backward(self, grad: np.ndarray) -> tuple:
        dx, dw, db = super().backward(grad[:, :, None, :])
        if dx is not None:
            dx = dx.reshape(dx.shape[0], dx.shape[1], dx.shape[3])
        if dw is not None:
            dw = dw.reshape(self.wshape)
        return dx, dw, db


class MaxPool2dFn(Function):
    """Window maxima; the argmax positions are kept for the backward pass: int64 flat positions
    (appended to ``indices_out`` when given, for ``return_indices``), or for a 2x2 stride-2 pool
    over even planes without it, a uint8 tap per window (an eighth of the memory)."""

    def forward(self, x: np.ndarray, *, kernel_size: Pair, stride: Pair, padding: Pair,
                dilation: Pair, ceil_mode: bool, indices_out: list | None = None) -> np.ndarray:
        y, idx = _C.max_pool2d_forward(contiguous(x), kernel_size, stride, padding, dilation,
                                       ceil_mode, indices_out is not None)
        self.idx, self.hw = idx, x.shape[2:]
        self.args = (kernel_size, stride, padding, dilation, ceil_mode)
        if indices_out is not None:
            indices_out.append(idx)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _C.max_pool2d_backward(contiguous(grad), self.idx, self.hw, *self.args)


class AvgPool2dFn(Function):
    """Window means with PyTorch's divisor rules (count_include_pad, divisor_override)."""

    def forward(self, x: np.ndarray, *, kernel_size: Pair, stride: Pair, padding: Pair,
                ceil_mode: bool, count_include_pad: bool, divisor_override: int) -> np.ndarray:
        self.hw = x.shape[2:]
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return _C.avg_pool2d_forward(contiguous(x), *self.args)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _C.avg_pool2d_backward(contiguous(grad), self.hw, *self.args)


class AdaptiveAvgPool2dFn(Function):
    """Means over PyTorch's adaptive windows [floor(i*H/oh), ceil((i+1)*H/oh))."""

    def forward(self, x: np.ndarray, *, output_size: Pair) -> np.ndarray:
        self.hw = x.shape[2:]
        return _C.adaptive_avg_pool2d_forward(contiguous(x), output_size)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _C.adaptive_avg_pool2d_backward(contiguous(grad), self.hw)


def adaptive_bounds(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows over n positions: [floor(i n / out), ceil((i + 1) n / out))."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


class AdaptiveMaxPool2dFn(Function):
    """Maxima over PyTorch's adaptive windows (NumPy: one vectorised step per output position,
    over all planes); flat h*w argmax positions kept for backward and ``indices_out``."""

    def forward(self, x: np.ndarray, *, output_size: Pair, indices_out: list | None = None
                ) -> np.ndarray:
        n, c, h, w = x.shape
        oh, ow = output_size
        planes = x.reshape(n * c, h, w)
        y = np.empty((n * c, oh, ow), dtype=x.dtype)
        idx = np.empty((n * c, oh, ow), dtype=np.int64)
        for i, (h0, h1) in enumerate(adaptive_bounds(h, oh)):
            for j, (w0, w1) in enumerate(adaptive_bounds(w, ow)):
                win = planes[:, h0:h1, w0:w1].reshape(n * c, -1)
                # NOTE: argmax returns the first NaN when there is one, so NaN propagates as in
                # PyTorch's max pooling.
                a = win.argmax(axis=1)
                y[:, i, j] = win[np.arange(n * c), a]
                idx[:, i, j] = (h0 + a // (w1 - w0)) * w + w0 + a % (w1 - w0)
        self.idx, self.shape = idx, x.shape
        if indices_out is not None:
            indices_out.append(idx.reshape(n, c, oh, ow))
        return y.reshape(n, c, oh, ow)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        n, c, h, w = self.shape
        flat = self.idx.reshape(n * c, -1) + (np.arange(n * c) * (h * w))[:, None]
        # NOTE: bincount sums windows that share an argmax (overlapping windows) in a fixed
        # order; it accumulates in float64, then the result takes the gradient's dtype.
        dx = np.bincount(flat.reshape(-1), weights=grad.reshape(-1), minlength=n * c * h * w)
        return dx.astype(grad.dtype, copy=False).reshape(self.shape)
