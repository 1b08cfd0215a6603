"""Multi-head attention with PyTorch's names, parameter layout and initialisation (PyTorch's
``torch.nn.MultiheadAttention``, which lives in ``torch.nn.modules.activation``).

It runs the fused native attention kernel when the weights are not asked for
(``need_weights=False``, as the Transformer layers ask); with ``need_weights=True`` it composes
matmul, softmax and dropout so the weights come out (and are differentiable), as PyTorch does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore import functional as F
from nncore.functional.attention import additive_mask
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.linear import NonDynamicallyQuantizableLinear
from nncore.nn.module import Module
from nncore.nn.parameter import empty_parameter
from nncore.ops.attention import HeadsAttentionFn
from nncore.random import next_seed
from nncore.tensor import Tensor

__all__ = ["MultiheadAttention"]

_MHA = "MultiheadAttention"


def _mask_array(m: Any) -> np.ndarray:
    return m._array if isinstance(m, Tensor) else np.asarray(m)


class MultiheadAttention(Module):
    """Multi-head attention: softmax(q k^T / sqrt(head_dim) + mask) v per head, heads
    concatenated and projected.

    Args:
        embed_dim: model width E (split into ``num_heads`` heads of E / num_heads).
        num_heads: number of heads; must divide embed_dim.
        dropout: dropout probability on the attention weights (training only).
        bias: learn in_proj_bias and out_proj.bias.
        add_bias_kv, add_zero_attn: accepted only as False (not implemented).
        kdim, vdim: feature sizes of key and value (default embed_dim); when they differ from
            embed_dim the projections are q_proj_weight, k_proj_weight, v_proj_weight.
        batch_first: inputs are (N, L, E) instead of (L, N, E).
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim) ((N, L, E)... when batch_first;
        (L, E) unbatched) -> output like query, weights (N, L, S) (averaged) or (N, H, L, S).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype(_MHA, device, dtype)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"{_MHA}: embed_dim and num_heads must be positive, got {embed_dim} "
                             f"and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"{_MHA}: embed_dim {embed_dim} is not divisible by num_heads "
                             f"{num_heads}")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError(f"{_MHA}: add_bias_kv and add_zero_attn are not supported")
        if not 0 <= dropout < 1:
            raise ValueError(f"{_MHA}: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout = dropout
        self.batch_first = batch_first
        e = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter((3 * e, e), dt)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = empty_parameter((e, e), dt)
            self.k_proj_weight = empty_parameter((e, self.kdim), dt)
            self.v_proj_weight = empty_parameter((e, self.vdim), dt)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter((3 * e,), dt)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(e, e, bias=bias, dtype=dt)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # PyTorch's order and rules: xavier-uniform projections, zero biases; out_proj.weight
        # keeps Linear's own initialisation.
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    # ---- argument checks and masks ----
    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[int, int, int]:
        """Checks shapes; returns (N, L, S) of the batched (3-D) layout."""
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{_MHA}: {name} must be a Tensor, got {type(t).__name__}")
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{_MHA}: expected 3-D (batched) or 2-D (unbatched) query, key and "
                             f"value, got shapes {query.shape}, {key.shape}, {value.shape}")
        for name, t, size in (("query", query, self.embed_dim), ("key", key, self.kdim),
                              ("value", value, self.vdim)):
            if t.shape[-1] != size:
                raise ValueError(f"{_MHA}: expected {name} with {size} features in the last "
                                 f"dim, got shape {t.shape}")
        if query.ndim == 2:
            n, lq, s = 1, query.shape[0], key.shape[0]
        else:
            b = 0 if self.batch_first else 1
            n, lq, s = query.shape[b], query.shape[1 - b], key.shape[1 - b]
            if key.shape[b] != n or value.shape[b] != n:
                raise ValueError(f"{_MHA}: batch sizes differ: query {query.shape}, key "
                                 f"{key.shape}, value {value.shape} (batch_first="
                                 f"{self.batch_first})")
        if value.shape[:-1] != key.shape[:-1]:
            raise ValueError(f"{_MHA}: key of shape {key.shape} and value of shape {value.shape} "
                             f"differ in length")
        if s == 0:
            raise ValueError(f"{_MHA}: expected at least one key, got key of shape {key.shape}")
        return n, lq, s

    def _mask(self, attn_mask: Any, key_padding_mask: Any, dtype: np.dtype, n: int, lq: int,
              s: int, unbatched: bool) -> np.ndarray | None:
        """attn_mask (L, S) or (N*H, L, S) and key_padding_mask (N, S) (True = hidden, or
        additive floats) merged into one additive mask (L, S) or (1|N, 1|H, L, S)."""
        h = self.num_heads
        merged = None
        if attn_mask is not None:
            m = _mask_array(attn_mask)
            if m.shape == (lq, s):
                merged = additive_mask(_MHA, m, dtype, (n, h, lq, s), False)
            elif m.shape == (n * h, lq, s):
                merged = additive_mask(_MHA, m.reshape(n, h, lq, s), dtype, (n, h, lq, s), False)
            else:
                raise ValueError(f"{_MHA}: attn_mask of shape {m.shape} does not match (L, S) = "
                                 f"{(lq, s)} or (N*num_heads, L, S) = {(n * h, lq, s)}")
        if key_padding_mask is not None:
            m = _mask_array(key_padding_mask)
            expected = (s,) if unbatched else (n, s)
            if m.shape != expected:
                raise ValueError(f"{_MHA}: key_padding_mask of shape {m.shape} does not match "
                                 f"(N, S) = {expected}")
            kp = additive_mask(_MHA, m.reshape(-1, 1, 1, s), dtype, (n, h, lq, s), False)
            merged = kp if merged is None else np.ascontiguousarray(merged + kp)
        return merged

    # ---- forward ----
    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """Attention of query over key/value.

        Args:
            query, key, value: see the class Shape.
            key_padding_mask: (N, S); True (or -inf) hides a key from every query.
            need_weights: also return the attention weights (the unfused path).
            attn_mask: (L, S) or (N*num_heads, L, S); True (or -inf) hides a key.
            average_attn_weights: average the returned weights over heads.
            is_causal: hide key j from query i when j > i (with or without attn_mask).
        Returns:
            (output, weights or None).
        """
        n, lq, s = self._check(query, key, value)
        unbatched = query.ndim == 2
        if unbatched:
            bdim = 0 if self.batch_first else 1
            query, key, value = (t.unsqueeze(bdim) for t in (query, key, value))
        mask = self._mask(attn_mask, key_padding_mask, query.dtype, n, lq, s, unbatched)
        p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = self._unfused(query, key, value, mask, is_causal, p,
                                         average_attn_weights)
        else:
            out, weights = self._fused(query, key, value, mask, is_causal, p), None
        if unbatched:
            bdim = 0 if self.batch_first else 1
            out = out.squeeze(bdim)
            weights = None if weights is None else weights.squeeze(0)
        return out, weights

    def _projections(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        e, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def _fused(self, query: Tensor, key: Tensor, value: Tensor, mask: np.ndarray | None,
               is_causal: bool, p: float) -> Tensor:
        cfg = dict(heads=self.num_heads, seq_first=not self.batch_first, mask=mask,
                   causal=bool(is_causal), scale=1.0 / math.sqrt(self.head_dim), dropout_p=p,
                   seed=next_seed() if p > 0 else 0)
        if self._qkv_same_embed_dim and query is key and key is value:
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
            out = HeadsAttentionFn.apply(qkv, packed=True, **cfg)
        else:
            out = HeadsAttentionFn.apply(*self._projections(query, key, value), packed=False,
                                         **cfg)
        return self.out_proj(out)

    def _unfused(self, query: Tensor, key: Tensor, value: Tensor, mask: np.ndarray | None,
                 is_causal: bool, p: float, average: bool) -> tuple[Tensor, Tensor]:
        q, k, v = self._projections(query, key, value)
        h, d = self.num_heads, self.head_dim

        def heads(t: Tensor) -> Tensor:  # -> (N, H, L, D)
            if self.batch_first:
                return t.reshape(t.shape[0], t.shape[1], h, d).permute(0, 2, 1, 3)
            return t.reshape(t.shape[0], t.shape[1], h, d).permute(1, 2, 0, 3)

        q, k, v = heads(q), heads(k), heads(v)
        scores = F.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        lq, s = scores.shape[-2:]
        if is_causal:
            causal = np.triu(np.full((lq, s), -np.inf, dtype=scores.dtype), 1)
            mask = causal if mask is None else mask + causal
        if mask is not None:
            scores = scores + Tensor._wrap(mask)
        weights = F.dropout(F.softmax(scores, dim=-1), p, p > 0)
        out = F.matmul(weights, v)  # (N, H, L, D)
        n = out.shape[0]
        if self.batch_first:
            out = out.permute(0, 2, 1, 3).reshape(n, lq, h * d)
        else:
            out = out.permute(2, 0, 1, 3).reshape(lq, n, h * d)
        return self.out_proj(out), (weights.mean(dim=1) if average else weights)


