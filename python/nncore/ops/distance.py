"""Vector norms along one axis (NumPy), the building block of pairwise_distance, normalize and
cosine_similarity; the backward follows PyTorch's linalg.vector_norm (0 where the norm is 0,
ties of the inf-norm share the gradient)."""

from __future__ import annotations

import numpy as np

from nncore.autograd import Function


class VectorNormFn(Function):
    """(sum |x|^p)^(1/p) along ``dim`` (p = inf/-inf: max/min |x|, p = 0: the count of
    non-zeros)."""

    def forward(self, x: np.ndarray, *, p: float, dim: int, keepdim: bool) -> np.ndarray:
        a = np.abs(x)
        if p == np.inf:
            norm = a.max(axis=dim, keepdims=True)
        elif p == -np.inf:
            norm = a.min(axis=dim, keepdims=True)
        elif p == 0:
            norm = (x != 0).sum(axis=dim, keepdims=True).astype(x.dtype)
        elif p == 1:
            norm = a.sum(axis=dim, keepdims=True)
        elif p == 2:
            norm = np.sqrt((x * x).sum(axis=dim, keepdims=True))
        else:
            norm = (a ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        self.save_for_backward(x, norm)
        self.args = p, dim, keepdim
        return norm if keepdim else np.squeeze(norm, axis=dim)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, norm = self.saved_tensors
        p, dim, keepdim = self.args
        g = grad if keepdim else np.expand_dims(grad, dim)
        if p == 0:
            return np.zeros_like(x)
        if p == 1:
            return g * np.sign(x)
        if p in (np.inf, -np.inf):
            hit = np.abs(x) == norm
            return np.sign(x) * hit * (g / hit.sum(axis=dim, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(norm == 0, 0, g / norm ** (p - 1))
            if p == 2:
                return x * scale
            a = np.abs(x)
            scaled = np.sign(x) * a ** (p - 1)
            if p < 1:
                scaled = np.where(x == 0, 0, scaled)
        return (scaled * scale).astype(x.dtype, copy=False)
