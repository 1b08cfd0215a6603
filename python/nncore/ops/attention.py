"""The attention family: scaled dot-product attention, one native call each way.

The forward saves the attention weights p (B, H, Lq, Lk) so backward runs without recomputing
the softmax; dropout's mask is regenerated from its seed. ``HeadsAttentionFn`` is the same op on
token-major inputs (N, L, E) or (L, N, E), heads interleaved in the last axis: it does the head
split and merge itself, so MultiheadAttention needs no extra graph nodes for them.
"""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function
from nncore.ops._arrays import contiguous


class AttentionFn(Function):
    """o = dropout(softmax(scale q k^T + mask)) v over q (B, H, Lq, D), k (B, H, Lk, D),
    v (B, H, Lk, Dv); ``mask`` is an additive float array (None, (Lq, Lk) or
    (1|B, 1|H, Lq, Lk)) and gets no gradient."""

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, *, mask: np.ndarray | None,
                causal: bool, scale: float, dropout_p: float, seed: int) -> np.ndarray:
        q, k, v = contiguous(q), contiguous(k), contiguous(v)
        o, p = _C.attention_forward(q, k, v, mask, causal, scale, dropout_p, seed)
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
                                          dropout_p, seed)
        self.save_for_backward(q, k, v, p)
        return o

    def backward(self, grad: np.ndarray) -> tuple:
        q, k, v, p = self.saved_tensors
        heads, seq_first, scale, dropout_p, seed = self.cfg
        dq, dk, dv = _C.heads_attention_backward(contiguous(grad, q.dtype), q, k, v, p, heads,
                                                 seq_first, scale, dropout_p, seed,
                                                 *self.needs_input_grad)
        return dq if k is None else (dq, dk, dv)
