"""The loss family: one native forward/backward pair per Function.

Class-score inputs arrive as (N, C), (C,) or (N, C, d1, ...); the Functions move the class axis
last and flatten to (rows, C) for the kernels, as PyTorch does for K-dimensional losses.
Weights, pos_weight and class-index targets are constants (keywords), never differentiated.
"""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function
from nncore.ops._arrays import contiguous


def _rows(x: np.ndarray) -> np.ndarray:
    """(N, C), (C,) or (N, C, d1, ...) -> contiguous (rows, C), the class axis last."""
    if x.ndim == 2:
        return np.ascontiguousarray(x)
    if x.ndim == 1:
        return np.ascontiguousarray(x).reshape(1, -1)
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(-1, x.shape[1])


def _unrows(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``_rows``: (rows, C) back to the input's layout."""
    if len(shape) == 2:
        return g
    if len(shape) == 1:
        return g.reshape(shape)
    return np.moveaxis(g.reshape(shape[:1] + shape[2:] + shape[1:2]), -1, 1)


def _row_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of per-row losses: the input's shape without the class axis."""
    return shape[:1] + shape[2:] if len(shape) > 1 else ()




def _dloss(grad: np.ndarray, reduction: str) -> np.ndarray:
    return np.ascontiguousarray(grad).reshape(-1) if reduction == "none" else grad


class CrossEntropyFn(Function):
    """Softmax cross-entropy against int64 class indices; saves the per-row logsumexp."""

    def forward(self, logits: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None,
                ignore_index: int, label_smoothing: float, reduction: str) -> np.ndarray:
        z = _rows(logits)
        t = np.ascontiguousarray(target).reshape(-1)
        loss, lse = _C.cross_entropy_forward(z, t, weight, ignore_index, label_smoothing,
                                             reduction)
        self.save_for_backward(z, t, lse, weight)
        self.args = logits.shape, ignore_index, label_smoothing, reduction
        return loss.reshape(_row_shape(logits.shape)) if reduction == "none" else loss

    def backward(self, grad: np.ndarray) -> np.ndarray:
        z, t, lse, weight = self.saved_tensors
        shape, ignore_index, label_smoothing, reduction = self.args
        dz = _C.cross_entropy_backward(_dloss(grad, reduction), z, t, lse, weight, ignore_index,
                                       label_smoothing, reduction)
        return _unrows(dz, shape)


class SoftCrossEntropyFn(Function):
    """Softmax cross-entropy against class probabilities of the input's shape."""

    def forward(self, logits: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None,
                label_smoothing: float, reduction: str) -> np.ndarray:
        z, t = _rows(logits), _rows(target)
        loss, lse = _C.soft_cross_entropy_forward(z, t, weight, label_smoothing, reduction)
        self.save_for_backward(z, t, lse, weight)
        self.args = logits.shape, label_smoothing, reduction
        return loss.reshape(_row_shape(logits.shape)) if reduction == "none" else loss

    def backward(self, grad: np.ndarray) -> tuple:
        z, t, lse, weight = self.saved_tensors
        shape, label_smoothing, reduction = self.args
        dz, dt = _C.soft_cross_entropy_backward(_dloss(grad, reduction), z, t, lse, weight,
                                                label_smoothing, reduction,
                                                *self.needs_input_grad)
        return (None if dz is None else _unrows(dz, shape),
                None if dt is None else _unrows(dt, shape))


class NLLLossFn(Function):
    """Negative log-likelihood of log-probabilities at int64 class indices."""

    def forward(self, x: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None,
                ignore_index: int, reduction: str) -> np.ndarray:
        x2 = _rows(x)
        t = np.ascontiguousarray(target).reshape(-1)
        loss = _C.nll_loss_forward(x2, t, weight, ignore_index, reduction)
        self.save_for_backward(x2, t, weight)
        self.args = x.shape, ignore_index, reduction
        return loss.reshape(_row_shape(x.shape)) if reduction == "none" else loss

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x2, t, weight = self.saved_tensors
        shape, ignore_index, reduction = self.args
        dx = _C.nll_loss_backward(_dloss(grad, reduction), x2, t, weight, ignore_index,
                                  reduction)
        return _unrows(dx, shape)


class _PointwiseLossFn(Function):
    """Elementwise loss of same-shape input and target, both differentiable."""

    _forward = staticmethod(_C.mse_loss_forward)
    _backward = staticmethod(_C.mse_loss_backward)

    def forward(self, x: np.ndarray, t: np.ndarray, *, reduction: str) -> np.ndarray:
        x, t = contiguous(x), contiguous(t)
        self.save_for_backward(x, t)
        self.reduction = reduction
        return self._forward(x, t, reduction)

    def backward(self, grad: np.ndarray) -> tuple:
        x, t = self.saved_tensors
        return self._backward(contiguous(grad), x, t, self.reduction,
                              *self.needs_input_grad)


class MSELossFn(_PointwiseLossFn):
    """(input - target)^2, reduced."""


class L1LossFn(_PointwiseLossFn):
    """|input - target|, reduced."""

    _forward = staticmethod(_C.l1_loss_forward)
    _backward = staticmethod(_C.l1_loss_backward)


class BCEWithLogitsFn(Function):
    """Binary cross-entropy of logits; weight already broadcast to the input's shape."""

    def forward(self, x: np.ndarray, t: np.ndarray, *, weight: np.ndarray | None,
                pos_weight: np.ndarray | None, reduction: str) -> np.ndarray:
        x, t = contiguous(x), contiguous(t)
        self.save_for_backward(x, t, weight, pos_weight)
        self.reduction = reduction
        return _C.bce_with_logits_forward(x, t, weight, pos_weight, reduction)

    def backward(self, grad: np.ndarray) -> tuple:
        x, t, weight, pos_weight = self.saved_tensors
        return _C.bce_with_logits_backward(contiguous(grad), x, t, weight, pos_weight,
                                           self.reduction, *self.needs_input_grad)
