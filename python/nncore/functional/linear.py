"""Functional forms of the linear family: matmul, linear, linear_relu, bilinear, embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.autograd import Function
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
        if a.ndim > 2 or b.ndim > 2:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not "
                         f"broadcast") from None
    return MatmulFn.apply(a, b)


def _check_linear(op: str, x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    check_float(op, "input", x)
    check_float(op, "weight", weight)
    xs, ws = x._array.shape, weight._array.shape
    if len(xs) < 1 or len(ws) != 2 or xs[-1] != ws[1]:
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


class _ScaleByFrequencyFn(Function):
    """Identity whose backward divides each looked-up row's gradient by how often its index
    occurs in the batch (``scale_grad_by_freq``)."""

    def forward(self, y: np.ndarray, *, scale: np.ndarray) -> np.ndarray:
        self.scale = scale
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.scale


def _renorm_rows(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """PyTorch's ``embedding_renorm_``: rows looked up whose ``norm_type`` norm exceeds
    ``max_norm`` are scaled to it, in place and outside autograd."""
    rows = np.unique(idx)
    if rows.size == 0:
        return
    w = weight._array
    norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        scale = max_norm / (norms[big] + 1e-7)
        w[rows[big]] = (w[rows[big]] * scale[:, None]).astype(w.dtype)
        weight._bump()


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` looked up by integer indices.

    Args:
        input: int64 indices (Tensor or NumPy array) of any shape, each in [0, num_embeddings).
        weight: the embedding matrix, shape (num_embeddings, embedding_dim).
        padding_idx: a row that receives no gradient (negative counts from the end).
        max_norm: rows looked up whose norm exceeds it are rescaled to it first, in place.
        norm_type: the p of that norm.
        scale_grad_by_freq: divide each row's gradient by its index's count in the batch.
        sparse: sparse gradients (not supported: raises NotImplementedError).
    Shape:
        input (*), weight (V, D) -> output (*, D).
    Returns:
        Tensor of the weight's dtype.
    """
    op = "embedding"
    check_float(op, "weight", weight)
    if sparse:
        raise NotImplementedError("embedding(sparse=True): sparse gradients are not supported "
                                  "by nncore; use sparse=False (dense gradients)")
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
    if max_norm is not None:
        _renorm_rows(weight, idx, float(max_norm), float(norm_type))
    out = EmbeddingFn.apply(weight, indices=idx, padding_idx=pad)
    if scale_grad_by_freq and out.requires_grad:
        counts = np.bincount(idx.reshape(-1), minlength=rows)
        scale = (1.0 / np.maximum(counts[idx], 1)).astype(weight._array.dtype)[..., None]
        out = _ScaleByFrequencyFn.apply(out, scale=scale)
    return out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
             ) -> Tensor:
    """y[..., o] = input1 A_o input2^T + b_o for each output feature o.

    Composed of native matmuls and NumPy elementwise ops, so its gradient is the autograd of
    those ops.

    Args:
        input1: (*, in1_features).
        input2: (*, in2_features), the same leading shape.
        weight: (out_features, in1_features, in2_features).
        bias: (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    op = "bilinear"
    check_float(op, "input1", input1)
    check_float(op, "input2", input2)
    check_float(op, "weight", weight)
    named = [("input1", input1), ("input2", input2), ("weight", weight)]
    if bias is not None:
        check_float(op, "bias", bias)
        named.append(("bias", bias))
    check_same_dtype(op, *named)
    if weight.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D weight (out, in1, in2), got shape {weight.shape}")
    out_f, in1, in2 = weight.shape
    if input1.ndim < 1 or input1.shape[-1] != in1 or input2.ndim < 1 or \
            input2.shape[-1] != in2 or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"{op}: input1 of shape {input1.shape} and input2 of shape "
                         f"{input2.shape} do not match weight of shape {weight.shape} "
                         f"(expected (*, {in1}) and (*, {in2}) with the same leading dims)")
    if bias is not None and bias.shape != (out_f,):
        raise ValueError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    if x1.shape[0] == 0:
        raise ValueError(f"{op}: empty input of shape {input1.shape}")
    # (B, in1) @ (in1, out * in2) -> (B, out, in2), then the dot with input2 over in2.
    w = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    t = matmul(x1, w).reshape(-1, out_f, in2)
    y = (t * x2.reshape(-1, 1, in2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_f,))
