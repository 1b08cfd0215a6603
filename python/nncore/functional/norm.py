"""Functional forms of the norm family: batch_norm, layer_norm, add_layer_norm, group_norm,
instance_norm and local_response_norm."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore.functional._checks import FLOAT_DTYPES, check_dtypes, check_float
from nncore.ops.norm import (
    AddLayerNormFn,
    BatchNormFn,
    GroupNormFn,
    LayerNormFn,
    LocalResponseNormFn,
)
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
    dt, in_shape = input._array.dtype, input._array.shape
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{op}: input must be float32 or float64, got {input.dtype}")
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
        normalized_shape)
    k = len(shape)
    if k == 0 or len(in_shape) < k or in_shape[len(in_shape) - k:] != shape:
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
        if p._array.dtype != dt:
            raise TypeError(f"{op}: expected one dtype, but input is {input.dtype} and {name} is "
                            f"{p.dtype}")
        if p._array.shape != shape:
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


# ---- group, instance and local response norm ----------------------------------------------------


def _channel_params(op: str, input: Tensor, weight: Tensor | None,
                    bias: Tensor | None) -> list[Tensor]:
    """The given per-channel affine parameters, checked against the input's C."""
    c = input.shape[1]
    check_dtypes(op, input, weight=weight, bias=bias)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"{op}: expected {name} to be a vector of size equal to the number "
                               f"of channels in input, but got {name} of shape {t.shape} and "
                               f"input of shape {input.shape}")
    return [t for t in (weight, bias) if t is not None]


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation, as ``torch.nn.functional.group_norm``: the channels are split into
    ``num_groups`` groups, each normalised per sample over its channels and spatial positions
    (biased variance), then scaled and shifted per channel.

    Args:
        input: (N, C, *), C divisible by num_groups.
        num_groups: number of channel groups.
        weight, bias: (C,) affine parameters or None.
        eps: added to the variance.
    Shape:
        input (N, C, *) -> output of the same shape.
    Returns:
        Tensor of the input's shape and dtype.
    """
    op = "group_norm"
    check_float(op, "input", input)
    if input.ndim < 2:
        raise RuntimeError(f"{op}: expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim} (shape {input.shape})")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or \
            num_groups < 1:
        raise RuntimeError(f"{op}: num_groups must be a positive integer, got {num_groups!r}")
    if input.shape[1] % num_groups:
        raise RuntimeError(f"{op}: expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {input.shape} and "
                           f"num_groups={num_groups}")
    if input._array.size == 0:
        raise RuntimeError(f"{op}: empty input of shape {input.shape}")
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be non-negative, got {eps}")
    params = _channel_params(op, input, weight, bias)
    return GroupNormFn.apply(input, *params, groups=int(num_groups),
                             has_weight=weight is not None, has_bias=bias is not None,
                             eps=float(eps))


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalisation, as ``torch.nn.functional.instance_norm``: each (sample, channel)
    plane normalised over its spatial positions (biased variance), then per-channel affine.

    With ``use_input_stats`` the running statistics (when given) are updated in place with the
    batch average of the per-instance mean and unbiased variance:
    new = (1 - momentum) * old + momentum * statistic. Without it the input is normalised with
    the running statistics.

    Args:
        input: (N, C, *) with more than one spatial element.
        running_mean, running_var: (C,) Tensors or None (required without use_input_stats).
        weight, bias: (C,) affine parameters or None.
        use_input_stats: normalise with each instance's own statistics.
        momentum: factor of the new statistic in the running update.
        eps: added to the variance.
    Shape:
        input (N, C, *) -> output of the same shape.
    Returns:
        Tensor of the input's shape and dtype.
    """
    op = "instance_norm"
    check_float(op, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input (N, C, *), got shape {input.shape}")
    spatial = math.prod(input.shape[2:])
    if use_input_stats and spatial <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input "
                         f"size {input.shape}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None:
            check_dtypes(op, input, **{name: t})
            if t.shape != (c,):
                raise ValueError(f"{op}: {name} of shape {t.shape} does not match {c} channels "
                                 f"of input shape {input.shape}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var are required when "
                             f"use_input_stats is False")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    params = _channel_params(op, input, weight, bias)
    if running_mean is not None or running_var is not None:
        x3 = input._array.reshape(input.shape[0], c, -1)
        m = float(momentum)
        # NOTE: PyTorch runs batch norm over the (1, N * C, *) view with the running statistics
        # repeated N times, then averages them back: the batch mean of per-instance statistics.
        if running_mean is not None:
            running_mean._array[...] = ((1 - m) * running_mean._array
                                        + m * x3.mean(axis=2).mean(axis=0))
        if running_var is not None:
            running_var._array[...] = ((1 - m) * running_var._array
                                       + m * x3.var(axis=2, ddof=1).mean(axis=0))
    return GroupNormFn.apply(input, *params, groups=c, has_weight=weight is not None,
                             has_bias=bias is not None, eps=float(eps))


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Local response normalisation across channels, as PyTorch:
    y = x / (k + alpha / size * sum of x^2 over the channel window)^beta, the window
    [c - size // 2, c + (size - 1) // 2] zero-padded.

    Args:
        input: (N, C, *) with at least 3 dimensions.
        size: number of neighbouring channels in the window.
        alpha, beta, k: the formula's constants.
    Shape:
        input (N, C, *) -> output of the same shape.
    Returns:
        Tensor of the input's shape and dtype.
    """
    op = "local_response_norm"
    check_float(op, "input", input)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected 3D or higher dimensionality input (got {input.ndim} "
                         f"dimensions, shape {input.shape})")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{op}: size must be a positive integer, got {size!r}")
    if input._array.size == 0:
        return input
    return LocalResponseNormFn.apply(input, size=int(size), alpha=float(alpha),
                                     beta=float(beta), k=float(k))
