"""Functional forms of the linear family: matmul, linear, linear_relu, embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.functional._checks import check_float, check_same_dtype
from nncore.ops.linear import EmbeddingFn, LinearFn, LinearReluFn, MatmulFn
from nncore.tensor import Tensor


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules (1-D promotion, broadcast batch dimensions).

    Shape: a (..., m, k), b (..., k, n) -> (..., m, n).
    """
    check_float("matmul", "a", a)
    check_float("matmul", "b", b)
    check_same_dtype("matmul", ("a", a), ("b", b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
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


def _check_linear(op: str, x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    check_float(op, "input", x)
    check_float(op, "weight", weight)
    if x.ndim < 1 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{op}: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected input (*, {weight.shape[-1]}))")
    if x._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {x.shape}")
    if bias is None:
        check_same_dtype(op, ("input", x), ("weight", weight))
        return
    check_float(op, "bias", bias)
    check_same_dtype(op, ("input", x), ("weight", weight), ("bias", bias))
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ weight^T + bias.

    Args:
        x: input, shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: shape (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    _check_linear("linear", x, weight, bias)
    return LinearFn.apply(x, weight) if bias is None else LinearFn.apply(x, weight, bias)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = relu(x @ weight^T + bias), ``relu(linear(x, weight, bias))`` in one native op each
    way (no separate ReLU pass or array; the feed-forward block of a Transformer layer).

    Args:
        x: input, shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: shape (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    _check_linear("linear_relu", x, weight, bias)
    if bias is None:
        return LinearReluFn.apply(x, weight)
    return LinearReluFn.apply(x, weight, bias)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` looked up by integer indices.

    Args:
        input: int64 indices (Tensor or NumPy array) of any shape, each in [0, num_embeddings).
        weight: the embedding matrix, shape (num_embeddings, embedding_dim).
        padding_idx: a row that receives no gradient (negative counts from the end).
    Shape:
        input (*), weight (V, D) -> output (*, D).
    Returns:
        Tensor of the weight's dtype.
    """
    op = "embedding"
    check_float(op, "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{weight.shape}")
    idx = input._array if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer indices, got {idx.dtype} with shape "
                        f"{idx.shape}")
    rows = weight.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= rows:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: index {bad} is out of range for num_embeddings={rows} "
                             f"(input shape {idx.shape})")
    pad = -1
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"{op}: padding_idx {padding_idx} is out of range for "
                             f"num_embeddings={rows}")
        pad = int(padding_idx) % rows
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    return EmbeddingFn.apply(weight, indices=idx, padding_idx=pad)
