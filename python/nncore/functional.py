"""Functional forms of every op (``nncore.nn.functional``): argument checks, then a Function.

Checks here raise ValueError/TypeError naming the op and the shapes before anything reaches C++.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nncore.ops.linear import LinearFn, MatmulFn
from nncore.tensor import Tensor

__all__ = ["l1_penalty", "linear", "matmul"]

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


# ---- regularisation ----------------------------------------------------------------------


def l1_penalty(params: Iterable[Tensor], weight: float = 1.0) -> Tensor:
    """weight * sum_p sum(|p|): an L1 penalty to add to a loss (differentiable; the gradient is
    weight * sign(p)).

    Args:
        params: Tensors to penalise (``model.parameters()``).
        weight: scale of the penalty.
    Returns:
        Scalar Tensor (0 and constant when ``params`` is empty).
    """
    total: Tensor | None = None
    for i, p in enumerate(params):
        _check_float("l1_penalty", f"params[{i}]", p)
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        return Tensor(0.0)
    return total * weight if weight != 1.0 else total
