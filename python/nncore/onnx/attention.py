"""Converters for MultiheadAttention, TransformerEncoderLayer and TransformerEncoder, exported
as their decomposition (projections, scaled dot products, softmax, LayerNormalization), written
against PyTorch's attributes (in_proj_weight, out_proj, self_attn, linear1, norm_first, ...).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from nncore.onnx.graph import Call, Graph
from nncore.onnx.layers import arg, layer_norm
from nncore.onnx.ops import gelu
from nncore.tensor import Tensor


def _unsupported(m: Any, what: str) -> NotImplementedError:
    return NotImplementedError(f"onnx.export: {type(m).__name__} with {what} is not supported")


def _additive_mask(g: Graph, m: Any, mask: Tensor, dtype: Any) -> str:
    """A float mask to add to the scores: a boolean mask's True becomes -inf."""
    if mask.dtype == np.bool_:
        return g.op("Where", [g.value(mask), g.scalar(-np.inf, dtype), g.scalar(0.0, dtype)])
    if mask.dtype != dtype:
        raise _unsupported(m, f"a mask of dtype {mask.dtype} (expected bool or {dtype})")
    return g.value(mask)


def multihead_attention(g: Graph, m: Any, q_t: Tensor, q: str, k: str, v: str,
                        key_padding_mask: Tensor | None, attn_mask: Tensor | None,
                        want_weights: bool, average: bool) -> tuple[str, str | None]:
    """MultiheadAttention module ``m`` over ONNX values q, k, v laid out as ``q_t`` (the traced
    query). Returns the output and, when ``want_weights``, the attention weights."""
    if getattr(m, "bias_k", None) is not None or getattr(m, "add_zero_attn", False):
        raise _unsupported(m, "add_bias_kv or add_zero_attn")
    dtype = q_t.dtype
    embed, heads = int(m.embed_dim), int(m.num_heads)
    head_dim = embed // heads
    unbatched = q_t.ndim == 2
    # work batch-first: (N, L, E)
    if unbatched:
        q, k, v = (g.op("Unsqueeze", [t, g.ints([0])]) for t in (q, k, v))
    elif not m.batch_first:
        q, k, v = (g.transpose(t, (1, 0, 2)) for t in (q, k, v))
    if getattr(m, "in_proj_weight", None) is not None:
        ws = g.op("Split", [g.value(m.in_proj_weight), g.ints([embed] * 3)], n_out=3, axis=0)
    else:
        ws = [g.value(m.q_proj_weight), g.value(m.k_proj_weight), g.value(m.v_proj_weight)]
    bias = getattr(m, "in_proj_bias", None)
    bs = (g.op("Split", [g.value(bias), g.ints([embed] * 3)], n_out=3, axis=0)
          if bias is not None else [None] * 3)

    def heads_of(x: str, w: str, b: str | None, perm: tuple) -> str:
        y = g.op("MatMul", [x, g.transpose(w, (1, 0))])
        if b is not None:
            y = g.op("Add", [y, b])
        y = g.op("Reshape", [y, g.ints([0, 0, heads, head_dim])])
        return g.transpose(y, perm)

    qh = heads_of(q, ws[0], bs[0], (0, 2, 1, 3))  # (N, H, L, d)
    kh = heads_of(k, ws[1], bs[1], (0, 2, 3, 1))  # (N, H, d, S)
    vh = heads_of(v, ws[2], bs[2], (0, 2, 1, 3))  # (N, H, S, d)
    qh = g.op("Mul", [qh, g.scalar(1 / math.sqrt(head_dim), dtype)])
    scores = g.op("MatMul", [qh, kh])  # (N, H, L, S)
    if attn_mask is not None:
        if attn_mask.ndim != 2:
            raise _unsupported(m, f"an attn_mask of shape {attn_mask.shape} (only (L, S))")
        scores = g.op("Add", [scores, _additive_mask(g, m, attn_mask, dtype)])
    if key_padding_mask is not None:
        kpm = _additive_mask(g, m, key_padding_mask, dtype)
        axes = [0, 1, 2] if unbatched else [1, 2]
        scores = g.op("Add", [scores, g.op("Unsqueeze", [kpm, g.ints(axes)])])
    probs = g.op("Softmax", [scores], axis=-1)
    out = g.transpose(g.op("MatMul", [probs, vh]), (0, 2, 1, 3))
    out = g.op("Reshape", [out, g.ints([0, 0, embed])])
    out = g.matmul_t(out, m.out_proj.weight, getattr(m.out_proj, "bias", None))
    weights = None
    if want_weights:
        weights = g.reduce("ReduceMean", probs, [1], keepdims=False) if average else probs
        if unbatched:
            weights = g.op("Squeeze", [weights, g.ints([0])])
    if unbatched:
        out = g.op("Squeeze", [out, g.ints([0])])
    elif not m.batch_first:
        out = g.transpose(out, (1, 0, 2))
    return out, weights


def _mha(g: Graph, c: Call) -> Any:
    m = c.op
    query, key, value = arg(c, 0, "query"), arg(c, 1, "key"), arg(c, 2, "value")
    average = arg(c, 6, "average_attn_weights", True)
    want = isinstance(c.output, tuple) and isinstance(c.output[1], Tensor)
    return multihead_attention(g, m, query, g.value(query), g.value(key), g.value(value),
                               arg(c, 3, "key_padding_mask"), arg(c, 5, "attn_mask"), want,
                               average)


def _activation(g: Graph, layer: Any, x: str, dtype: Any) -> str:
    act = layer.activation
    kind = act if isinstance(act, str) else getattr(act, "__name__", type(act).__name__)
    kind = kind.lower()
    if kind == "relu":
        return g.op("Relu", [x])
    if kind == "gelu":
        return gelu(g, x, getattr(act, "approximate", "none"), dtype)
    raise _unsupported(layer, f"activation {act!r} (only relu and gelu)")


def encoder_layer(g: Graph, m: Any, src: Tensor, x: str, src_mask: Tensor | None,
                  key_padding_mask: Tensor | None) -> str:
    """TransformerEncoderLayer ``m`` over the ONNX value ``x`` laid out as ``src``."""
    dtype = src.dtype

    def self_attention(y: str) -> str:
        return multihead_attention(g, m.self_attn, src, y, y, y, key_padding_mask, src_mask,
                                   False, True)[0]

    def feed_forward(y: str) -> str:
        y = _activation(g, m, g.matmul_t(y, m.linear1.weight, m.linear1.bias), dtype)
        return g.matmul_t(y, m.linear2.weight, m.linear2.bias)

    if m.norm_first:
        x = g.op("Add", [x, self_attention(layer_norm(g, m.norm1, x, dtype))])
        return g.op("Add", [x, feed_forward(layer_norm(g, m.norm2, x, dtype))])
    x = layer_norm(g, m.norm1, g.op("Add", [x, self_attention(x)]), dtype)
    return layer_norm(g, m.norm2, g.op("Add", [x, feed_forward(x)]), dtype)


def _encoder_layer(g: Graph, c: Call) -> str:
    src = arg(c, 0, "src")
    return encoder_layer(g, c.op, src, g.value(src), arg(c, 1, "src_mask"),
                         arg(c, 2, "src_key_padding_mask"))


def _encoder(g: Graph, c: Call) -> str:
    m = c.op
    src = arg(c, 0, "src")
    x = g.value(src)
    for layer in m.layers.children():
        x = encoder_layer(g, layer, src, x, arg(c, 1, "mask"), arg(c, 2, "src_key_padding_mask"))
    if getattr(m, "norm", None) is not None:
        if type(m.norm).__name__ != "LayerNorm":
            raise _unsupported(m, f"a final norm of type {type(m.norm).__name__}")
        x = layer_norm(g, m.norm, x, src.dtype)
    return x


ATTENTION_CONVERTERS: dict[str, Callable[[Graph, Call], Any]] = {
    "MultiheadAttention": _mha,
    "TransformerEncoderLayer": _encoder_layer,
    "TransformerEncoder": _encoder,
}
