"""The norm family: normalisation over the batch (batch_norm) or the features (layer_norm)."""

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
