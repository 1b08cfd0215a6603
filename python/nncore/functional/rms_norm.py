"""``rms_norm``: root-mean-square normalisation over the trailing dims (PyTorch's
``F.rms_norm``), composed of differentiable elementwise and reduction ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.functional._checks import check_float
from nncore.tensor import Tensor


def rms_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) * weight, the mean over the trailing ``normalized_shape``.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: int or tuple, the trailing dims.
        weight: elementwise scale of shape ``normalized_shape``, or None.
        eps: added to the mean square (the dtype's machine epsilon when None).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    op = "rms_norm"
    check_float(op, "input", input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
        normalized_shape)
    n = len(shape)
    if n == 0 or tuple(input.shape[input.ndim - n:]) != shape or input.ndim < n:
        raise RuntimeError(f"{op}: input of shape {input.shape} does not end with "
                           f"normalized_shape {list(shape)}")
    if weight is not None:
        check_float(op, "weight", weight)
        if tuple(weight.shape) != shape:
            raise RuntimeError(f"{op}: weight of shape {weight.shape} does not match "
                               f"normalized_shape {list(shape)}")
    if eps is None:
        eps = float(np.finfo(input._array.dtype).eps)
    dims = tuple(range(-n, 0))
    y = input * (((input * input).mean(dims, keepdim=True) + eps) ** -0.5)
    return y if weight is None else y * weight
