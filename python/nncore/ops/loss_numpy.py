"""The loss family's NumPy Functions: elementwise losses without a native kernel (smooth L1,
Huber, binary cross-entropy on probabilities, KL divergence).

Input and target arrive broadcast to one shape; ``weight`` (a constant broadcast to that shape,
or None) scales each element's loss. Reductions: 'none', 'sum', 'mean' (over every element) and
'batchmean' (the sum over the first axis's size, kl_div's mathematically right mean).
"""

from __future__ import annotations

import numpy as np

from nncore.autograd import Function


class _ElementwiseLossFn(Function):
    """Per-element loss ``_loss(x, t)`` with partial derivatives ``_grads(x, t)``, reduced."""

    def _loss(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grads(self, x: np.ndarray, t: np.ndarray, need_x: bool, need_t: bool) -> tuple:
        raise NotImplementedError

    def forward(self, x: np.ndarray, t: np.ndarray, *, reduction: str,
                weight: np.ndarray | None = None, **params: float) -> np.ndarray:
        self.params = params
        loss = self._loss(x, t)
        if weight is not None:
            loss = loss * weight
        self.save_for_backward(x, t, weight)
        self.reduction = reduction
        if reduction == "none":
            return loss.astype(x.dtype, copy=False)
        total = loss.sum(dtype=x.dtype)
        if reduction == "mean":
            total = total / x.dtype.type(loss.size)
        elif reduction == "batchmean" and x.ndim:
            total = total / x.dtype.type(x.shape[0])
        return np.asarray(total, dtype=x.dtype)

    def backward(self, grad: np.ndarray) -> tuple:
        x, t, weight = self.saved_tensors
        need_x, need_t = self.needs_input_grad
        scale = grad
        if self.reduction == "mean":
            scale = grad / x.dtype.type(x.size)
        elif self.reduction == "batchmean" and x.ndim:
            scale = grad / x.dtype.type(x.shape[0])
        if weight is not None:
            scale = scale * weight
        dx, dt = self._grads(x, t, need_x, need_t)
        return (None if dx is None else (scale * dx).astype(x.dtype, copy=False),
                None if dt is None else (scale * dt).astype(x.dtype, copy=False))


class SmoothL1LossFn(_ElementwiseLossFn):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - t; beta > 0)."""

    def _loss(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        beta = self.params["beta"]
        z = np.abs(x - t)
        return np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)

    def _grads(self, x: np.ndarray, t: np.ndarray, need_x: bool, need_t: bool) -> tuple:
        beta = self.params["beta"]
        g = np.clip((x - t) / beta, -1, 1)
        return (g if need_x else None), (-g if need_t else None)


class HuberLossFn(_ElementwiseLossFn):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = x - t; delta > 0)."""

    def _loss(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        delta = self.params["delta"]
        z = np.abs(x - t)
        return np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))

    def _grads(self, x: np.ndarray, t: np.ndarray, need_x: bool, need_t: bool) -> tuple:
        delta = self.params["delta"]
        g = np.clip(x - t, -delta, delta)
        return (g if need_x else None), (-g if need_t else None)


class BCELossFn(_ElementwiseLossFn):
    """-(t log x + (1 - t) log(1 - x)) over probabilities, each log clamped at -100 (PyTorch's
    rule, so x = 0 or 1 gives a finite loss); dx = (x - t) / max(x (1 - x), 1e-12) and
    dt = log(1 - x) - log(x), as PyTorch's kernels."""

    def _loss(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        return -(t * log_x + (1 - t) * log_1mx)

    def _grads(self, x: np.ndarray, t: np.ndarray, need_x: bool, need_t: bool) -> tuple:
        dx = (x - t) / np.maximum(x * (1 - x), 1e-12) if need_x else None
        dt = None
        if need_t:
            with np.errstate(divide="ignore"):
                dt = np.log1p(-x) - np.log(x)
        return dx, dt


class KLDivFn(_ElementwiseLossFn):
    """Pointwise KL divergence of log-probabilities x from the target: xlogy(t, t) - t x, or
    exp(t) (t - x) with ``log_target``. The target gradient follows PyTorch's composite
    (log t + t / t - x, so NaN where t = 0)."""

    def _loss(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        if self.params["log_target"]:
            return np.exp(t) * (t - x)
        with np.errstate(divide="ignore", invalid="ignore"):
            xlogy = np.where(t == 0, 0, t * np.log(t))
        return xlogy - t * x

    def _grads(self, x: np.ndarray, t: np.ndarray, need_x: bool, need_t: bool) -> tuple:
        if self.params["log_target"]:
            e = np.exp(t)
            return (-e if need_x else None), (e * (t - x + 1) if need_t else None)
        dt = None
        if need_t:
            with np.errstate(divide="ignore", invalid="ignore"):
                dt = np.where(t == 0, 0, np.log(t)) + t / t - x
        return (-t if need_x else None), dt
