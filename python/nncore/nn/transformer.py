"""Attention and Transformer layers with PyTorch's names, parameter layouts and initialisation:
MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder, and a
sinusoidal PositionalEncoding.

MultiheadAttention runs the fused native attention kernel when the weights are not asked for
(``need_weights=False``, as the Transformer layers ask); with ``need_weights=True`` it composes
matmul, softmax and dropout so the weights come out (and are differentiable), as PyTorch does.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn.activation import Dropout
from nncore.nn.container import ModuleList
from nncore.nn.linear import Linear
from nncore.nn.module import Module
from nncore.nn.norm import LayerNorm
from nncore.nn.parameter import Parameter
from nncore.ops.attention import HeadsAttentionFn, additive_mask
from nncore.random import next_seed
from nncore.tensor import Tensor

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
        dtype: parameter dtype (float32 by default).
    Shape:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim) ((N, L, E)... when batch_first;
        (L, E) unbatched) -> output like query, weights (N, L, S) (averaged) or (N, H, L, S).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype: Any = np.float32
                 ) -> None:
        super().__init__()
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
            self.in_proj_weight = Parameter(np.zeros((3 * e, e)), dtype=dtype)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(np.zeros((e, e)), dtype=dtype)
            self.k_proj_weight = Parameter(np.zeros((e, self.kdim)), dtype=dtype)
            self.v_proj_weight = Parameter(np.zeros((e, self.vdim)), dtype=dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * e), dtype=dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, dtype=dtype)
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

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")

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


def _activation(op: str, activation: Any) -> Callable[[Tensor], Tensor]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise ValueError(f"{op}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")


def _hidden(layer: Module, x: Tensor) -> Tensor:
    """activation(linear1(x)) of a layer's feed-forward block; linear1 and a ReLU run as one
    native op when linear1 is a plain Linear."""
    if layer.activation is F.relu and type(layer.linear1) is Linear:
        return F.linear_relu(x, layer.linear1.weight, layer.linear1.bias)
    return layer.activation(layer.linear1(x))


def _add_norm(norm: Module, x: Tensor, y: Tensor) -> Tensor:
    """norm(x + y) of a post-norm residual connection; a LayerNorm runs as one native op with
    the sum."""
    if type(norm) is LayerNorm and x.shape == y.shape and x.dtype == y.dtype:
        return F.add_layer_norm(x, y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return norm(x + y)


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and LayerNorm
    (after it by default, before it with ``norm_first``), as PyTorch's layer.

    Args:
        d_model: model width.
        nhead: attention heads.
        dim_feedforward: hidden width of the feed-forward block.
        dropout: dropout probability (attention weights, feed-forward, residual branches).
        activation: "relu", "gelu" or a callable.
        layer_norm_eps: LayerNorm eps.
        batch_first: inputs are (N, L, E) instead of (L, N, E).
        norm_first: pre-norm (LayerNorm before each block) instead of post-norm.
        bias: learn biases in the linear layers and LayerNorms.
        dtype: parameter dtype.
    Shape:
        src (L, N, E) or (N, L, E) when batch_first -> output of the same shape.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation("TransformerEncoderLayer", activation)

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = _add_norm(self.norm1, x, self._sa_block(x, src_mask, src_key_padding_mask,
                                                     is_causal))
        return _add_norm(self.norm2, x, self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(_hidden(self, x))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's memory, then a feed-forward block, each with
    a residual connection and LayerNorm (post-norm, or pre-norm with ``norm_first``).

    Args:
        d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
        norm_first, bias, dtype: as TransformerEncoderLayer.
    Shape:
        tgt (T, N, E), memory (S, N, E) ((N, T, E), (N, S, E) when batch_first) -> like tgt.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation("TransformerDecoderLayer", activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = _add_norm(self.norm1, x, self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                                     tgt_is_causal))
        x = _add_norm(self.norm2, x, self._mha_block(x, memory, memory_mask,
                                                     memory_key_padding_mask, memory_is_causal))
        return _add_norm(self.norm3, x, self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(_hidden(self, x))))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (identical initial weights, as PyTorch),
    then an optional final norm.

    Args:
        encoder_layer: the TransformerEncoderLayer to copy.
        num_layers: number of layers.
        norm: a final normalisation module, or None.
        enable_nested_tensor, mask_check: accepted for PyTorch compatibility (no effect).
    Shape:
        as the layer.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"TransformerEncoder: num_layers must be positive, got {num_layers}")
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class PositionalEncoding(Module):
    """Adds the sinusoidal position code of "Attention Is All You Need", then dropout:
    pe[pos, 2i] = sin(pos / 10000^(2i / d_model)), pe[pos, 2i + 1] = cos(pos / 10000^(2i /
    d_model)).

    Args:
        d_model: model width.
        dropout: dropout probability after the addition.
        max_len: longest sequence supported.
        batch_first: inputs are (N, L, E) instead of (L, N, E).
        dtype: dtype of the code (a non-persistent buffer ``pe`` of shape (max_len, d_model)).
    Shape:
        input (L, N, E) or (N, L, E) -> same shape.
    """

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000,
                 batch_first: bool = False, dtype: Any = np.float32) -> None:
        super().__init__()
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", Tensor(pe, dtype=dtype), persistent=False)
        self.dropout = Dropout(dropout)
        self.batch_first = batch_first
        self.d_model, self.max_len = d_model, max_len

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1] if self.batch_first else x.shape[0]
        if x.ndim != 3 or x.shape[-1] != self.d_model or length > self.max_len:
            raise ValueError(f"PositionalEncoding: expected input (L, N, {self.d_model}) or "
                             f"(N, L, {self.d_model}) with L <= {self.max_len}, got shape "
                             f"{x.shape}")
        pe = self.pe._array[:length]
        return self.dropout(x + Tensor._wrap(pe if self.batch_first else pe[:, None, :]))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
