"""Functional form of the attention family: scaled_dot_product_attention."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore import autograd
from nncore.functional._checks import check_float
from nncore.ops.attention import AttentionFn, PackedHeadsAttentionFn, packed_qkv
from nncore.random import next_seed
from nncore.tensor import Tensor

_OP = "scaled_dot_product_attention"


def additive_mask(op: str, mask: Any, dtype: np.dtype, target: tuple[int, int, int, int],
                  true_means_keep: bool) -> np.ndarray:
    """A boolean or float mask as the native op's additive float mask of shape (Lq, Lk) or
    (1|B, 1|H, Lq, Lk), broadcast from any shape that broadcasts to ``target`` (B, H, Lq, Lk).

    A boolean mask hides with -inf where it is False (``true_means_keep``, the SDPA convention)
    or where it is True (MultiheadAttention's convention)."""
    m = mask._array if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == np.bool_:
        hide = ~m if true_means_keep else m
        m = np.where(hide, dtype.type(-np.inf), dtype.type(0))
    elif m.dtype.kind == "f":
        m = m.astype(dtype, copy=False)
    else:
        raise TypeError(f"{op}: attn_mask must be bool or float, got {m.dtype}")
    b, h, lq, lk = target
    if m.ndim > 4 or any(s not in (1, t) for s, t in zip(reversed(m.shape), reversed(target))):
        raise ValueError(f"{op}: attn_mask of shape {m.shape} does not broadcast to (B, H, Lq, "
                         f"Lk) = {target}")
    if m.ndim <= 2:
        return np.ascontiguousarray(np.broadcast_to(m, (lq, lk)))
    m4 = m.reshape((1,) * (4 - m.ndim) + m.shape)
    return np.ascontiguousarray(np.broadcast_to(m4, m4.shape[:2] + (lq, lk)))



def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(query key^T * scale + mask) value, fused in one native kernel each way.

    A query whose keys are all masked out gets zero output and zero gradients (as PyTorch's CPU
    kernel for this function does; MultiheadAttention with need_weights=True gives NaN there, as
    PyTorch's does). A float ``attn_mask`` is a constant: it receives no gradient.

    Args:
        query: (N, H, Lq, D) or (N, Lq, D).
        key: (N, H, Lk, D) or (N, Lk, D).
        value: (N, H, Lk, Dv) or (N, Lk, Dv).
        attn_mask: bool (True = take part) or float (added to the logits), any shape that
            broadcasts to (N, H, Lq, Lk).
        dropout_p: probability of zeroing an attention weight (seeded by nncore.manual_seed).
        is_causal: hide key j from query i when j > i (combined with attn_mask if both given).
        scale: logit scale; 1 / sqrt(D) when None.
    Shape:
        output (N, H, Lq, Dv) or (N, Lq, Dv), as the query.
    Returns:
        Tensor of the query's dtype.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_float(_OP, name, t)
    if len({query.dtype, key.dtype, value.dtype}) > 1:
        raise TypeError(f"{_OP}: expected one dtype, got query {query.dtype}, key {key.dtype}, "
                        f"value {value.dtype}")
    nd = query.ndim
    if nd not in (3, 4) or key.ndim != nd or value.ndim != nd:
        raise ValueError(f"{_OP}: expected 4-D (N, H, L, D) or 3-D (N, L, D) query, key and "
                         f"value, got shapes {query.shape}, {key.shape}, {value.shape}")
    q4 = query.shape if nd == 4 else (query.shape[0], 1) + query.shape[1:]
    k4 = key.shape if nd == 4 else (key.shape[0], 1) + key.shape[1:]
    v4 = value.shape if nd == 4 else (value.shape[0], 1) + value.shape[1:]
    if k4[:2] != q4[:2] or v4[:2] != q4[:2] or k4[3] != q4[3] or v4[2] != k4[2]:
        raise ValueError(f"{_OP}: query {query.shape}, key {key.shape} and value {value.shape} "
                         f"do not match (expected (N, H, Lq, D), (N, H, Lk, D), (N, H, Lk, Dv))")
    if k4[2] == 0 or q4[3] == 0:
        raise ValueError(f"{_OP}: expected at least one key and a positive head size, got key "
                         f"of shape {key.shape}")
    if not 0 <= dropout_p < 1:
        raise ValueError(f"{_OP}: dropout_p must be in [0, 1), got {dropout_p}")
    mask = None
    if attn_mask is not None:
        if nd == 4:
            mask = additive_mask(_OP, attn_mask, query.dtype, q4[:3] + (k4[2],), True)
        else:
            # NOTE: a 3-D query's mask broadcasts against (N, Lq, Lk): put N in the heads slot,
            # then move it to the batch slot.
            mask = additive_mask(_OP, attn_mask, query.dtype, (1, q4[0], q4[2], k4[2]), True)
            if mask.ndim == 4:
                mask = mask.reshape((mask.shape[1], 1) + mask.shape[2:])
    s = 1.0 / math.sqrt(q4[3]) if scale is None else float(scale)
    seed = next_seed() if dropout_p > 0 else 0
    if nd == 4:
        # NOTE: an ONNX trace records the one attention op it has always seen
        packed = None if autograd._tracer is not None else packed_qkv(
            query._array, key._array, value._array)
        if packed is not None:
            return PackedHeadsAttentionFn.apply(query, key, value, packed=packed, mask=mask,
                                                causal=bool(is_causal), scale=s,
                                                dropout_p=float(dropout_p), seed=seed)
        return AttentionFn.apply(query, key, value, mask=mask, causal=bool(is_causal), scale=s,
                                 dropout_p=float(dropout_p), seed=seed)
    out = AttentionFn.apply(query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1), mask=mask,
                            causal=bool(is_causal), scale=s, dropout_p=float(dropout_p),
                            seed=seed)
    return out.squeeze(1)
