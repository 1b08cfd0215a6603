"""Gradient utilities: clipping by global norm or by value (PyTorch's semantics).

Clipped gradients are new arrays assigned to ``p.grad``, never scaled in place: a gradient
array may be shared by several tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from nncore.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grad(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint ``norm_type`` norm is at most
    ``max_norm`` (factor ``max_norm / (total_norm + 1e-6)`` when above it).

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        max_norm: largest allowed norm.
        norm_type: p of the p-norm (``math.inf`` for the largest absolute value).
        error_if_nonfinite: raise RuntimeError when the total norm is nan or inf.
    Returns:
        The total norm of the gradients before clipping, as a scalar Tensor.
    """
    params = _with_grad(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not params:
        return Tensor(0.0)
    dtype = np.result_type(*(p.grad._array.dtype for p in params))
    norms = np.array([np.linalg.norm(p.grad._array.ravel(), ord=norm_type) for p in params],
                     dtype=dtype)
    total = dtype.type(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is non-finite ({total}), so it cannot be clipped")
    coef = dtype.type(max_norm) / (total + dtype.type(1e-6))
    if coef < 1:
        for p in params:
            g = p.grad._array
            p.grad = Tensor._wrap(g * g.dtype.type(coef))
    return Tensor(total, dtype=dtype)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value].

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        clip_value: largest allowed absolute value (>= 0).
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grad(parameters):
        g = p.grad._array
        p.grad = Tensor._wrap(np.clip(g, -clip_value, clip_value).astype(g.dtype, copy=False))
