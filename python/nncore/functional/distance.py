"""Distances and similarities between vectors: pairwise_distance, cosine_similarity and
normalize, with PyTorch's formulas (eps placement included) and broadcasting."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.functional._checks import check_float
from nncore.ops.distance import VectorNormFn
from nncore.tensor import Tensor


def _dim(op: str, dim: int, ndim: int) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _norm(x: Tensor, p: float, dim: int, keepdim: bool) -> Tensor:
    return VectorNormFn.apply(x, p=float(p), dim=dim, keepdim=keepdim)


def _broadcast(op: str, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise RuntimeError(f"{op}: the shapes {x1.shape} and {x2.shape} do not broadcast") from None
    return (x1 if x1.shape == shape else x1.expand(*shape),
            x2 if x2.shape == shape else x2.expand(*shape))


def _floats(op: str, *named: tuple[str, Any]) -> None:
    for name, t in named:
        check_float(op, name, t)
    if len({t._array.dtype for _, t in named}) > 1:
        raise TypeError(f"{op}: expected one dtype, got " + ", ".join(
            f"{n} {t._array.dtype}" for n, t in named))


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dimension, as PyTorch.

    Args:
        x1, x2: (N, D) or (D,), broadcastable.
        p: norm order (inf, 0 and fractional orders included).
        eps: added to the difference, keeping the norm's gradient finite.
        keepdim: keep the reduced dimension.
    Shape:
        (N, D), (N, D) -> (N,) ((N, 1) with keepdim).
    Returns:
        Tensor of the inputs' dtype.
    """
    op = "pairwise_distance"
    _floats(op, ("x1", x1), ("x2", x2))
    a, b = _broadcast(op, x1, x2)
    diff = a - b + float(eps)
    return _norm(diff, p, max(diff.ndim - 1, 0), keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along ``dim``: each vector divided by its
    norm first (clamped at eps without a gradient, as PyTorch), so the result stays in
    [-1, 1].

    Args:
        x1, x2: broadcastable tensors.
        dim: the vector dimension.
        eps: lower bound of each norm.
    Shape:
        (*, D, *) -> (*, *).
    Returns:
        Tensor of the inputs' dtype.
    """
    op = "cosine_similarity"
    _floats(op, ("x1", x1), ("x2", x2))
    a, b = _broadcast(op, x1, x2)
    d = _dim(op, dim, a.ndim)
    na, nb = _norm(a, 2, d, True), _norm(b, 2, d, True)
    # NOTE: PyTorch clamps clones of the norms in place under no_grad: clamped values with the
    # unclamped gradients, which these straight-through sums reproduce.
    na = na + Tensor._wrap(np.maximum(na._array, eps) - na._array)
    nb = nb + Tensor._wrap(np.maximum(nb._array, eps) - nb._array)
    return ((a / na) * (b / nb)).sum(dim=d)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Any = None) -> Tensor:
    """input / max(||input||_p, eps) along ``dim``, as ``torch.nn.functional.normalize``.

    Args:
        input: a float tensor.
        p: norm order.
        dim: the vector dimension.
        eps: lower bound of the norm (no gradient flows through the bound).
        out: not supported (must be None).
    Shape:
        any -> the same.
    Returns:
        Tensor of the input's shape and dtype.
    """
    op = "normalize"
    check_float(op, "input", input)
    if out is not None:
        raise NotImplementedError(f"{op}: out= is not supported by nncore; use the return value")
    d = _dim(op, dim, input.ndim)
    return input / _norm(input, p, d, True).clamp(min=float(eps))
