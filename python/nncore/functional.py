"""Functional forms of every op (``nncore.nn.functional``): argument checks, then a Function.

Checks here raise ValueError/TypeError naming the op and the shapes before anything reaches C++.
"""

from __future__ import annotations

import numpy as np

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
from nncore.ops.linear import LinearFn, MatmulFn
from nncore.random import next_seed
from nncore.tensor import Tensor

__all__ = [
    "dropout", "gelu", "leaky_relu", "linear", "log_softmax", "matmul", "relu", "sigmoid",
    "softmax", "tanh",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_float(op: str, name: str, t: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t.data.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {t.data.dtype}")


def _check_same_dtype(op: str, *named: tuple[str, Tensor]) -> None:
    dtypes = {t.data.dtype for _, t in named}
    if len(dtypes) > 1:
        desc = ", ".join(f"{n} is {t.data.dtype}" for n, t in named)
        raise TypeError(f"{op}: expected one dtype, but {desc}")


# ---- linear family ---------------------------------------------------------------------


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules (1-D promotion, broadcast batch dimensions).

    Shape: a (..., m, k), b (..., k, n) -> (..., m, n).
    """
    _check_float("matmul", "a", a)
    _check_float("matmul", "b", b)
    _check_same_dtype("matmul", ("a", a), ("b", b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({k_a} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not "
                         f"broadcast") from None
    return MatmulFn.apply(a, b)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ weight^T + bias.

    Args:
        x: input, shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: shape (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    _check_float("linear", "input", x)
    _check_float("linear", "weight", weight)
    if x.ndim < 1 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected input (*, {weight.shape[-1]}))")
    if x.data.size == 0:
        raise ValueError(f"linear: empty input of shape {x.shape}")
    if bias is None:
        _check_same_dtype("linear", ("input", x), ("weight", weight))
        return LinearFn.apply(x, weight)
    _check_float("linear", "bias", bias)
    _check_same_dtype("linear", ("input", x), ("weight", weight), ("bias", bias))
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}")
    return LinearFn.apply(x, weight, bias)


# ---- activation family -------------------------------------------------------------------


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
    _check_float("relu", "input", x)
    return ReluFn.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x, elementwise.

    Args:
        x: input of any shape.
        negative_slope: slope for negative inputs.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("leaky_relu", "input", x)
    _check_real("leaky_relu", "negative_slope", negative_slope)
    return LeakyReluFn.apply(x, negative_slope=float(negative_slope))


def sigmoid(x: Tensor) -> Tensor:
    """Logistic function 1 / (1 + exp(-x)), elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("sigmoid", "input", x)
    return SigmoidFn.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("tanh", "input", x)
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
    _check_float("gelu", "input", x)
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
    _check_float("softmax", "input", x)
    return SoftmaxFn.apply(x, dim=_softmax_dim("softmax", x, dim))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along ``dim``, computed as x - max - log(sum(exp(x - max))).

    Args:
        x: input of any shape.
        dim: the axis to normalise over.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("log_softmax", "input", x)
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
    _check_float("dropout", "input", x)
    _check_real("dropout", "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return DropoutFn.apply(x, p=float(p), seed=next_seed())
