"""The norm family: normalisation layers, native forward and backward."""

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
