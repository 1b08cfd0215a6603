"""The norm family: normalisation over the batch (batch_norm), the features (layer_norm), channel
groups (group_norm, instance norm as one group per channel) and channel windows (local response
norm)."""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function

# ==== batch_norm ===============================================================================


class BatchNormFn(Function):
    """Batch normalisation over x (N, C, *) per channel; weight and bias optional inputs (say
    which with ``has_weight``/``has_bias``). In training, running_mean/running_var (arrays or
    None) are updated in place with ``momentum`` (the factor of the new statistic)."""

    def forward(self, x: np.ndarray, *params: np.ndarray, has_weight: bool, has_bias: bool,
                running_mean: np.ndarray | None, running_var: np.ndarray | None,
                training: bool, momentum: float, eps: float) -> np.ndarray:
        weight = params[0] if has_weight else None
        bias = params[-1] if has_bias else None
        shape = x.shape
        x3 = np.ascontiguousarray(x.reshape(shape[0], shape[1], -1))
        y, mean, invstd = _C.batch_norm_forward(x3, weight, bias, running_mean, running_var,
                                                training, momentum, eps)
        self.save_for_backward(x3, weight, mean, invstd)
        self.shape, self.training, self.has = shape, training, (has_weight, has_bias)
        return y.reshape(shape)

    def backward(self, grad: np.ndarray) -> tuple:
        x3, weight, mean, invstd = self.saved_tensors
        need = self.needs_input_grad
        has_weight, has_bias = self.has
        need_dw = has_weight and need[1]
        need_db = has_bias and need[-1]
        dy = np.ascontiguousarray(grad.reshape(x3.shape))
        dx, dw, db = _C.batch_norm_backward(dy, x3, weight, mean, invstd, self.training, need[0],
                                            need_dw, need_db)
        out = [None if dx is None else dx.reshape(self.shape)]
        if has_weight:
            out.append(dw)
        if has_bias:
            out.append(db)
        return tuple(out)


# ==== end batch_norm ===========================================================================


# ==== layer_norm ==================================================================================


class LayerNormFn(Function):
    """Normalises over the trailing ``size`` elements, then weight and bias (each optional, given
    as further inputs after x as ``has_weight``/``has_bias`` say); saves mean and rstd."""

    def forward(self, x: np.ndarray, *params: np.ndarray, size: int, has_weight: bool,
                has_bias: bool, eps: float) -> np.ndarray:
        w = params[0].reshape(size) if has_weight else None
        b = params[-1].reshape(size) if has_bias else None
        x2 = x.reshape(-1, size)
        if not x2.flags.c_contiguous:
            x2 = np.ascontiguousarray(x2)
        y, mean, rstd = _C.layer_norm_forward(x2, w, b, eps)
        self.save_for_backward(x2, w, mean, rstd)
        self.shape = x.shape, (params[0].shape if params else None)
        self.flags = has_weight, has_bias
        return y.reshape(x.shape)

    def backward(self, grad: np.ndarray) -> tuple:
        x2, w, mean, rstd = self.saved_tensors
        has_weight, has_bias = self.flags
        needs = self.needs_input_grad
        dy = grad.reshape(x2.shape)
        if not dy.flags.c_contiguous:
            dy = np.ascontiguousarray(dy)
        dx, dw, db = _C.layer_norm_backward(
            dy, x2, w, mean, rstd, needs[0], has_weight and needs[1], has_bias and needs[-1])
        x_shape, p_shape = self.shape
        out = [None if dx is None else dx.reshape(x_shape)]
        if has_weight:
            out.append(None if dw is None else dw.reshape(p_shape))
        if has_bias:
            out.append(None if db is None else db.reshape(p_shape))
        return tuple(out)


class AddLayerNormFn(LayerNormFn):
    """LayerNormFn of x + residual (same shapes), one native call each way; saves the sum, and
    the gradient of the sum goes to both inputs."""

    def forward(self, x: np.ndarray, r: np.ndarray, *params: np.ndarray, size: int,
                has_weight: bool, has_bias: bool, eps: float) -> np.ndarray:
        w = params[0].reshape(size) if has_weight else None
        b = params[-1].reshape(size) if has_bias else None
        x2 = np.ascontiguousarray(x.reshape(-1, size))
        r2 = np.ascontiguousarray(r.reshape(-1, size))
        y, total, mean, rstd = _C.add_layer_norm_forward(x2, r2, w, b, eps)
        self.save_for_backward(total, w, mean, rstd)
        self.shape = x.shape, (params[0].shape if params else None)
        self.flags = has_weight, has_bias
        return y.reshape(x.shape)

    def backward(self, grad: np.ndarray) -> tuple:
        total, w, mean, rstd = self.saved_tensors
        has_weight, has_bias = self.flags
        needs = self.needs_input_grad
        dy = np.ascontiguousarray(grad.reshape(total.shape))
        dx, dw, db = _C.add_layer_norm_backward(
            dy, total, w, mean, rstd, needs[0] or needs[1], has_weight and needs[2],
            has_bias and needs[-1])
        x_shape, p_shape = self.shape
        dx = None if dx is None else dx.reshape(x_shape)
        out = [dx, dx]
        if has_weight:
            out.append(None if dw is None else dw.reshape(p_shape))
        if has_bias:
            out.append(None if db is None else db.reshape(p_shape))
        return tuple(out)


# ==== end layer_norm ==============================================================================


# ==== group_norm ==================================================================================


class GroupNormFn(Function):
    """Group normalisation of x (N, C, *): the native layer-norm kernel (no affine) normalises
    each (sample, group) row of the (N * G, C / G * L) view, then weight and bias (optional
    inputs, as ``has_weight``/``has_bias`` say) scale and shift per channel. Instance norm is
    the G = C case."""

    def forward(self, x: np.ndarray, *params: np.ndarray, groups: int, has_weight: bool,
                has_bias: bool, eps: float) -> np.ndarray:
        n, c = x.shape[:2]
        x2 = np.ascontiguousarray(x.reshape(n * groups, -1))
        y, mean, rstd = _C.layer_norm_forward(x2, None, None, eps)
        weight = params[0] if has_weight else None
        y3 = y.reshape(n, c, -1)
        if weight is not None:
            y3 *= weight.reshape(c, 1)
        if has_bias:
            y3 += params[-1].reshape(c, 1)
        self.save_for_backward(x2, weight, mean, rstd)
        self.shape, self.has = x.shape, (has_weight, has_bias)
        return y.reshape(x.shape)

    def backward(self, grad: np.ndarray) -> tuple:
        x2, weight, mean, rstd = self.saved_tensors
        has_weight, has_bias = self.has
        need = self.needs_input_grad
        n, c = self.shape[:2]
        g3 = grad.reshape(n, c, -1)
        out: list = [None]
        if has_weight:
            dw = None
            if need[1]:
                xhat = ((x2 - mean[:, None]) * rstd[:, None]).reshape(n, c, -1)
                dw = (g3 * xhat).sum(axis=(0, 2))
            out.append(dw)
        if has_bias:
            out.append(g3.sum(axis=(0, 2)) if need[-1] else None)
        if need[0]:
            dxhat = g3 * weight.reshape(c, 1) if weight is not None else g3
            dxhat = np.ascontiguousarray(dxhat.reshape(x2.shape))
            dx = _C.layer_norm_backward(dxhat, x2, None, mean, rstd, True, False, False)[0]
            out[0] = dx.reshape(self.shape)
        return tuple(out)


# ==== end group_norm ==============================================================================


# ==== local_response_norm =========================================================================


def _window_sum(v: np.ndarray, before: int, after: int) -> np.ndarray:
    """s[:, c] = sum of v[:, c - before : c + after + 1] along axis 1, zeros past the ends (one
    shifted add per offset: exact, and the window is a handful of channels)."""
    out = np.zeros_like(v)
    c = v.shape[1]
    for o in range(-before, after + 1):
        if o >= 0:
            out[:, :c - o] += v[:, o:]
        else:
            out[:, -o:] += v[:, :c + o]
    return out


class LocalResponseNormFn(Function):
    """y = x / (k + alpha / size * sum over the channel window of x^2)^beta, the window
    [c - size // 2, c + (size - 1) // 2] zero-padded (PyTorch's AlexNet-style LRN)."""

    def forward(self, x: np.ndarray, *, size: int, alpha: float, beta: float, k: float
                ) -> np.ndarray:
        self.window = (size // 2, (size - 1) // 2)
        s = k + (alpha / size) * _window_sum(x * x, *self.window)
        self.save_for_backward(x, s)
        self.args = size, alpha, beta
        return x * s ** -beta

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, s = self.saved_tensors
        size, alpha, beta = self.args
        before, after = self.window
        # NOTE: x_j lies in the windows of channels c in [j - after, j + before]: the reversed
        # window gathers their terms.
        u = _window_sum(grad * x * s ** (-beta - 1), after, before)
        return grad * s ** -beta - (2 * alpha * beta / size) * x * u


# ==== end local_response_norm =====================================================================
