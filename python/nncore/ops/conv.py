"""The conv family: conv2d (conv1d as H = 1), max/avg/adaptive-avg pooling and dropout2d.

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
