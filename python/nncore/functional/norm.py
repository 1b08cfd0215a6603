"""Functional forms of the norm family: batch_norm, layer_norm and add_layer_norm."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore.functional._checks import FLOAT_DTYPES, check_dtypes, check_float
from nncore.ops.norm import AddLayerNormFn, BatchNormFn, LayerNormFn
from nncore.tensor import Tensor


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation per channel, as ``torch.nn.functional.batch_norm``.

    Training normalises with the batch mean and biased variance and, when given, updates
    running_mean/running_var in place: new = (1 - momentum) * old + momentum * batch statistic
    (unbiased variance). Eval normalises with the running statistics.

    Args:
        input: (N, C), (N, C, L) or (N, C, H, W).
        running_mean, running_var: (C,) Tensors or None (training only).
        weight, bias: (C,) affine parameters or None.
        training: use batch statistics.
        momentum: factor of the new statistic in the running update.
        eps: added to the variance.
    Shape:
        input (N, C, *) -> output of the same shape.
    Returns:
        Tensor of the input's shape and dtype.
    """
    op = "batch_norm"
    check_float(op, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input (N, C, *) of at least 2 dimensions, got shape "
                         f"{input.shape}")
    if input._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    c = input.shape[1]
    named = {"running_mean": running_mean, "running_var": running_var, "weight": weight,
             "bias": bias}
    check_dtypes(op, input, **named)
    for name, t in named.items():
        if t is not None and t.shape != (c,):
            raise ValueError(f"{op}: {name} of shape {t.shape} does not match {c} channels of "
                             f"input shape {input.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}: running_mean and running_var are required when not training")
    if training and input._array.size // c <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                         f"input of shape {input.shape}")
    params = [t for t in (weight, bias) if t is not None]
    rm = None if running_mean is None else running_mean._array
    rv = None if running_var is None else running_var._array
    return BatchNormFn.apply(input, *params, has_weight=weight is not None,
                             has_bias=bias is not None, running_mean=rm, running_var=rv,
                             training=bool(training), momentum=float(momentum), eps=float(eps))




def _layer_norm_args(op: str, input: Tensor, normalized_shape: Any, weight: Tensor | None,
                     bias: Tensor | None, eps: float) -> tuple[int, list[Tensor]]:
    """Checks layer_norm's arguments; returns the normalised size and the given parameters."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: input must be float32 or float64, got {input.dtype}")
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
        normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"{op}: input of shape {input.shape} does not end with normalized_shape "
                         f"{shape}")
    size = math.prod(shape)
    if size == 0:
        raise ValueError(f"{op}: normalized_shape {shape} is empty")
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be non-negative, got {eps}")
    params = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(p).__name__}")
        if p.dtype != input.dtype:
            raise TypeError(f"{op}: expected one dtype, but input is {input.dtype} and {name} is "
                            f"{p.dtype}")
        if tuple(p.shape) != shape:
            raise ValueError(f"{op}: {name} of shape {p.shape} does not match normalized_shape "
                             f"{shape}")
        params.append(p)
    return size, params


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape`` dims
    (biased variance, as PyTorch).

    Args:
        input: tensor whose last dims equal ``normalized_shape``.
        normalized_shape: int or tuple, the trailing dims to normalise over.
        weight: elementwise scale of shape ``normalized_shape``, or None.
        bias: elementwise shift of shape ``normalized_shape``, or None.
        eps: added to the variance.
    Shape:
        input (*, *normalized_shape) -> output of the same shape.
    Returns:
        Tensor of the input's shape and dtype.
    """
    size, params = _layer_norm_args("layer_norm", input, normalized_shape, weight, bias, eps)
    return LayerNormFn.apply(input, *params, size=size, has_weight=weight is not None,
                             has_bias=bias is not None, eps=float(eps))


def add_layer_norm(input: Tensor, residual: Tensor, normalized_shape: Any,
                   weight: Tensor | None = None, bias: Tensor | None = None,
                   eps: float = 1e-5) -> Tensor:
    """``layer_norm(input + residual, ...)`` in one native op each way (a residual connection
    and its LayerNorm, as in a post-norm Transformer layer), with no separate sum array.

    Args:
        input, residual: tensors of one shape and dtype (no broadcasting).
        normalized_shape, weight, bias, eps: as layer_norm.
    Shape:
        input (*, *normalized_shape), residual the same -> output of the same shape.
    Returns:
        Tensor of the input's shape and dtype.
    """
    op = "add_layer_norm"
    size, params = _layer_norm_args(op, input, normalized_shape, weight, bias, eps)
    if not isinstance(residual, Tensor):
        raise TypeError(f"{op}: residual must be a Tensor, got {type(residual).__name__}")
    if residual.shape != input.shape or residual.dtype != input.dtype:
        raise ValueError(f"{op}: residual {residual.shape} {residual.dtype} does not match input "
                         f"{input.shape} {input.dtype}")
    return AddLayerNormFn.apply(input, residual, *params, size=size,
                                has_weight=weight is not None, has_bias=bias is not None,
                                eps=float(eps))
