"""Functional forms of the activation family, dropout and dropout2d included."""

from __future__ import annotations

import numpy as np

from nncore.functional._checks import check_float
from nncore.ops.activation import (
    DropoutFn,
    GeluFn,
    LeakyReluFn,
    LogSoftmaxFn,
    ReluFn,
    SigmoidFn,
    SoftmaxFn,
    TanhFn,
)
from nncore.ops.conv import Dropout2dFn
from nncore.random import next_seed
from nncore.tensor import Tensor


def _check_real(op: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")


def _softmax_dim(op: str, x: Tensor, dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an integer, got {type(dim).__name__}")
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise ValueError(f"{op}: dim {dim} is out of range for input of shape {x.shape} "
                         f"(expected in [{-n}, {n - 1}])")
    return int(dim) % n


def relu(x: Tensor) -> Tensor:
    """Rectified linear unit, max(x, 0), elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("relu", "input", x)
    return ReluFn.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x, elementwise.

    Args:
        x: input of any shape.
        negative_slope: slope for negative inputs.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("leaky_relu", "input", x)
    _check_real("leaky_relu", "negative_slope", negative_slope)
    return LeakyReluFn.apply(x, negative_slope=float(negative_slope))


def sigmoid(x: Tensor) -> Tensor:
    """Logistic function 1 / (1 + exp(-x)), elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("sigmoid", "input", x)
    return SigmoidFn.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("tanh", "input", x)
    return TanhFn.apply(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x), elementwise.

    Args:
        x: input of any shape.
        approximate: "none" for the exact erf form, "tanh" for
            0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("gelu", "input", x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GeluFn.apply(x, approximate=approximate)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (computed stably, shifted by the maximum).

    Args:
        x: input of any shape.
        dim: the axis that sums to 1.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("softmax", "input", x)
    return SoftmaxFn.apply(x, dim=_softmax_dim("softmax", x, dim))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along ``dim``, computed as x - max - log(sum(exp(x - max))).

    Args:
        x: input of any shape.
        dim: the axis to normalise over.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("log_softmax", "input", x)
    return LogSoftmaxFn.apply(x, dim=_softmax_dim("log_softmax", x, dim))


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the others by 1 / (1 - p).

    The mask comes from a seed drawn from nncore's generator, so ``nncore.manual_seed`` makes it
    reproducible (independently of the thread count).

    Args:
        x: input of any shape.
        p: probability of zeroing an element, in [0, 1].
        training: apply dropout; when False (or p == 0) ``x`` is returned unchanged.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    check_float("dropout", "input", x)
    _check_real("dropout", "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return DropoutFn.apply(x, p=float(p), seed=next_seed())




def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels with probability ``p`` and scales the rest by 1 / (1 - p).

    The mask comes from a seed drawn from nncore's generator (``nncore.manual_seed``).

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        p: probability of zeroing a channel, in [0, 1].
        training: apply dropout; when False (or p == 0) the input is returned unchanged.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    op = "dropout2d"
    check_float(op, "input", input)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)):
        raise TypeError(f"{op}: p must be a real number, got {type(p).__name__}")
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{input.shape}")
    if not training or p == 0:
        return input
    return Dropout2dFn.apply(input, p=float(p), seed=next_seed(), channel_axes=input.ndim - 2)
