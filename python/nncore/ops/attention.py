"""The attention family: scaled dot-product attention, one native call each way.

The forward saves the attention weights p (B, H, Lq, Lk) so backward runs without recomputing
the softmax; dropout's mask is regenerated from its seed. ``HeadsAttentionFn`` is the same op on
token-major inputs (N, L, E) or (L, N, E), heads interleaved in the last axis: it does the head
split and merge itself, so MultiheadAttention needs no extra graph nodes for them;
``PackedHeadsAttentionFn`` runs that kernel for (B, H, L, D) head views of one packed q|k|v
array.
"""

from __future__ import annotations

import numpy as np

from nncore import _C, autograd
from nncore.autograd import Function
from nncore.ops._arrays import contiguous


def _keeps_graph(ctx: Function) -> bool:
    """Whether ctx's backward can run (Function.apply records it in the graph), so the forward
    must keep the attention weights; without it the kernel does not write them (no_grad
    inference: no (B, H, Lq, Lk) array)."""
    return autograd.is_grad_enabled() and True in ctx.needs_input_grad


class AttentionFn(Function):
    """o = dropout(softmax(scale q k^T + mask)) v over q (B, H, Lq, D), k (B, H, Lk, D),
    v (B, H, Lk, Dv); ``mask`` is an additive float array (None, (Lq, Lk) or
    (1|B, 1|H, Lq, Lk)) and gets no gradient."""

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, *, mask: np.ndarray | None,
                causal: bool, scale: float, dropout_p: float, seed: int) -> np.ndarray:
        q, k, v = contiguous(q), contiguous(k), contiguous(v)
        o, p = _C.attention_forward(q, k, v, mask, causal, scale, dropout_p, seed,
                                    _keeps_graph(self))
        self.save_for_backward(q, k, v, p)
        self.args = scale, dropout_p, seed
        return o

    def backward(self, grad: np.ndarray) -> tuple:
        q, k, v, p = self.saved_tensors
        scale, dropout_p, seed = self.args
        return _C.attention_backward(contiguous(grad), q, k, v, p, scale, dropout_p, seed,
                                     *self.needs_input_grad)


class HeadsAttentionFn(Function):
    """Attention over token-major inputs with ``heads`` heads interleaved in the last axis.

    Inputs: q (N, Lq, E), k (N, Lk, E), v (N, Lk, Ev) ((L, N, E) when ``seq_first``); or, with
    ``packed``, one input (N, L, 3E) holding q, k and v side by side (self-attention after
    one in-projection). Output (N, Lq, Ev) (or (Lq, N, Ev)). Mask as in AttentionFn. The native
    kernel reads the heads in place and writes the output and gradients in these layouts, so
    the head split and merge cost no copies here.
    """

    def forward(self, *xs: np.ndarray, heads: int, seq_first: bool, packed: bool,
                mask: np.ndarray | None, causal: bool, scale: float, dropout_p: float,
                seed: int) -> np.ndarray:
        self.cfg = heads, seq_first, scale, dropout_p, seed
        if packed:
            q, k, v = contiguous(xs[0]), None, None
        else:
            q, k, v = (contiguous(t) for t in xs)
        o, p = _C.heads_attention_forward(q, k, v, mask, heads, seq_first, causal, scale,
                                          dropout_p, seed, _keeps_graph(self))
        self.save_for_backward(q, k, v, p)
        return o

    def backward(self, grad: np.ndarray) -> tuple:
        q, k, v, p = self.saved_tensors
        heads, seq_first, scale, dropout_p, seed = self.cfg
        dq, dk, dv = _C.heads_attention_backward(contiguous(grad, q.dtype), q, k, v, p, heads,
                                                 seq_first, scale, dropout_p, seed,
                                                 *self.needs_input_grad)
        return dq if k is None else (dq, dk, dv)


class PackedHeadsAttentionFn(Function):
    """AttentionFn over q, k, v (B, H, L, D) that are head views of one token-major array
    (B, L, 3*H*D) holding q|k|v side by side, as ``qkv.split(E, 2)`` then ``view(B, L, H, D)
    .transpose(1, 2)`` gives (nanoGPT, most GPT code). ``packed`` is that array, found by
    ``packed_qkv``. The native kernel reads the heads in place and writes the output and the
    gradient token-major, so neither the three inputs nor the three gradients are copied and
    the output's ``transpose(1, 2).contiguous()`` costs nothing; the results are AttentionFn's
    (the same kernel, another memory layout)."""

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, *, packed: np.ndarray,
                mask: np.ndarray | None, causal: bool, scale: float, dropout_p: float,
                seed: int) -> np.ndarray:
        b, h, n, d = q.shape
        o, p = _C.heads_attention_forward(packed, None, None, mask, h, False, causal, scale,
                                          dropout_p, seed, _keeps_graph(self))
        self.save_for_backward(packed, p)
        self.args = h, scale, dropout_p, seed
        return o.reshape(b, n, h, d).transpose(0, 2, 1, 3)

    def backward(self, grad: np.ndarray) -> tuple:
        packed, p = self.saved_tensors
        h, scale, dropout_p, seed = self.args
        b, _, n, d = grad.shape
        e = h * d
        g = contiguous(grad.transpose(0, 2, 1, 3), packed.dtype).reshape(b, n, e)
        dqkv = _C.heads_attention_backward(g, packed, None, None, p, h, False, scale, dropout_p,
                                           seed, True, True, True)[0]
        return tuple(dqkv[:, :, i * e:(i + 1) * e].reshape(b, n, h, d).transpose(0, 2, 1, 3)
                     for i in range(3))


def packed_qkv(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    """The token-major array (B, L, 3*H*D) whose head views q, k and v (B, H, L, D) are, or
    None when they are not such views (then the inputs are copied to contiguous memory).

    NOTE: q, k and v must share one owner (``base``), have equal shapes and dtypes, the strides
    of ``x.view(B, L, 3, H, D)``'s parts transposed to heads-first, and start E = H*D elements
    apart; then the packed array spans exactly the memory of q, k and v together.
    """
    if q.ndim != 4 or q.base is None or not (q.base is k.base is v.base):
        return None
    if q.shape != k.shape or q.shape != v.shape or q.dtype != k.dtype or q.dtype != v.dtype:
        return None
    b, h, n, d = q.shape
    it = q.itemsize
    e = h * d
    strides = (n * 3 * e * it, d * it, 3 * e * it, it)
    # NOTE: a dimension of size 1 may have any stride (NumPy keeps whatever the view had).
    want = [st for st, size in zip(strides, q.shape) if size != 1]
    for x in (q, k, v):
        if [st for st, size in zip(x.strides, x.shape) if size != 1] != want:
            return None
    start = q.__array_interface__["data"][0]
    if (k.__array_interface__["data"][0] - start != e * it
            or v.__array_interface__["data"][0] - start != 2 * e * it):
        return None
    return np.lib.stride_tricks.as_strided(q, shape=(b, n, 3 * e),
                                           strides=(strides[0], strides[2], it),
                                           writeable=False)

