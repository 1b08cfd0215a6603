"""Functional form of the embedding family: embedding (with max_norm renormalisation and
scale_grad_by_freq)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.functional._checks import check_float
from nncore.ops.embedding import EmbeddingFn, ScaleByFrequencyFn
from nncore.tensor import Tensor


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
        out = ScaleByFrequencyFn.apply(out, scale=scale)
    return out
