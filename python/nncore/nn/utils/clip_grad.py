"""Gradient clipping by total norm or by value, in place on each ``.grad`` (PyTorch's rules).

"In place" keeps every ``.grad`` Tensor object and gives it the clipped values; the values go
into a new array rather than the old memory because autograd may hand two leaves one gradient
array, which must not be scaled twice.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore.tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm"]


def _params(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    params = list(parameters)
    if is_generator and not params:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                      UserWarning, stacklevel=3)
    return params


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type`` norm of the norms of ``tensors`` (the norm of them all concatenated).

    Args:
        tensors: a Tensor or an iterable of Tensors (usually gradients).
        norm_type: p of the p-norm (``math.inf`` for the largest absolute value).
        error_if_nonfinite: raise RuntimeError when the total is nan or inf.
        foreach: accepted for PyTorch compatibility (no effect).
    Returns:
        A 0-d Tensor of the tensors' dtype (0.0 for no tensors).
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(0.0)
    dtype = np.result_type(*(t._array.dtype for t in tensors))
    norms = np.array([np.linalg.norm(t._array.ravel(), ord=norm_type) for t in tensors],
                     dtype=dtype)
    total = dtype.type(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           f"`parameters` is non-finite, so it cannot be clipped. To disable "
                           f"this error and scale the gradients by the non-finite norm anyway, "
                           f"set `error_if_nonfinite=False`")
    return Tensor._wrap(np.asarray(total, dtype=dtype))


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Any, foreach: bool | None = None) -> None:
    """Multiply every gradient by min(1, max_norm / (total_norm + 1e-6)).

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is scaled.
        max_norm: largest allowed norm.
        total_norm: the norm computed by ``get_total_norm``.
        foreach: accepted for PyTorch compatibility (no effect).
    """
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    total = float(total_norm)
    coef = min(float(max_norm) / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    for g in grads:
        arr = g._array
        g._array = arr * arr.dtype.type(coef)
        g._version += 1


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their joint ``norm_type`` norm is at most
    ``max_norm`` (factor ``min(1, max_norm / (total_norm + 1e-6))``).

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        max_norm: largest allowed norm.
        norm_type: p of the p-norm (``math.inf`` for the largest absolute value).
        error_if_nonfinite: raise RuntimeError when the total norm is nan or inf.
        foreach: accepted for PyTorch compatibility (no effect).
    Returns:
        The total norm of the gradients before clipping, as a 0-d Tensor.
    """
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters: Tensor | Iterable[Tensor], max_norm: float,
                   norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` (warns, as PyTorch)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value].

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        clip_value: largest allowed absolute value.
        foreach: accepted for PyTorch compatibility (no effect).
    """
    clip_value = float(clip_value)
    for p in _params(parameters):
        g = p.grad
        if g is not None:
            arr = g._array
            # NOTE: maximum then minimum, as PyTorch's clamp_min_ then clamp_max_ (a negative
            # clip_value gives every element clip_value).
            g._array = np.minimum(np.maximum(arr, -clip_value), clip_value).astype(
                arr.dtype, copy=False)
            g._version += 1
