"""The attention family: scaled dot-product attention, one native call each way.

The forward saves the attention weights p (B, H, Lq, Lk) so backward runs without recomputing
the softmax; dropout's mask is regenerated from its seed. ``HeadsAttentionFn`` is the same op on
token-major inputs (N, L, E) or (L, N, E), heads interleaved in the last axis: it does the head
split and merge itself, so MultiheadAttention needs no extra graph nodes for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import _C
from nncore.autograd import Function
from nncore.ops._arrays import contiguous
from nncore.tensor import Tensor


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


def _split(x: np.ndarray, heads: int, seq_first: bool) -> np.ndarray:
    """(N, L, H*D) or (L, N, H*D) -> contiguous (N, H, L, D)."""
    a, b, e = x.shape
    x4 = x.reshape(a, b, heads, e // heads)
    return np.ascontiguousarray(x4.transpose((1, 2, 0, 3) if seq_first else (0, 2, 1, 3)))


def _merge_into(out: np.ndarray, x: np.ndarray, seq_first: bool) -> None:
    """Writes x (N, H, L, D) into out (N, L, H*D) or (L, N, H*D), which may be a strided view."""
    a, b, e = out.shape
    out.reshape(a, b, x.shape[1], x.shape[3])[...] = x.transpose(
        (2, 0, 1, 3) if seq_first else (0, 2, 1, 3))


class HeadsAttentionFn(Function):
    """Attention over token-major inputs with ``heads`` heads interleaved in the last axis.

    Inputs: q (N, Lq, E), k (N, Lk, E), v (N, Lk, Ev) ((L, N, E) when ``seq_first``); or, with
    ``packed``, one input (N, L, 2E + Ev) holding q, k and v side by side (self-attention after
    one in-projection). Output (N, Lq, Ev) (or (Lq, N, Ev)). Mask as in AttentionFn.
    """

    def forward(self, *xs: np.ndarray, heads: int, seq_first: bool, packed: bool,
                mask: np.ndarray | None, causal: bool, scale: float, dropout_p: float,
                seed: int) -> np.ndarray:
        self.cfg = heads, seq_first, packed, scale, dropout_p, seed
        if packed:
            (x,) = xs
            e = self.embed = x.shape[2] // 3
            parts = (x[..., :e], x[..., e:2 * e], x[..., 2 * e:])
            self.in_shape = x.shape
        else:
            parts = xs
        q, k, v = (_split(t, heads, seq_first) for t in parts)
        o, p = _C.attention_forward(q, k, v, mask, causal, scale, dropout_p, seed)
        self.save_for_backward(q, k, v, p)
        n, h, lq, dv = o.shape
        out = np.empty((lq, n, h * dv) if seq_first else (n, lq, h * dv), dtype=o.dtype)
        _merge_into(out, o, seq_first)
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        q, k, v, p = self.saved_tensors
        heads, seq_first, packed, scale, dropout_p, seed = self.cfg
        do = _split(grad, heads, seq_first)
        needs = (True, True, True) if packed else self.needs_input_grad
        dq, dk, dv = _C.attention_backward(do, q, k, v, p, scale, dropout_p, seed, *needs)
        if packed:
            e = self.embed
            dx = np.empty(self.in_shape, dtype=grad.dtype)
            _merge_into(dx[..., :e], dq, seq_first)
            _merge_into(dx[..., e:2 * e], dk, seq_first)
            _merge_into(dx[..., 2 * e:], dv, seq_first)
            return dx
        outs = []
        for g in (dq, dk, dv):
            if g is None:
                outs.append(None)
                continue
            n, h, L, d = g.shape
            out = np.empty((L, n, h * d) if seq_first else (n, L, h * d), dtype=g.dtype)
            _merge_into(out, g, seq_first)
            outs.append(out)
        return tuple(outs)


# ---- functional form (re-exported by nncore.functional) --------------------------------------

def additive_mask(op: str, mask: Any, dtype: np.dtype, target: tuple[int, int, int, int],
                  true_means_keep: bool) -> np.ndarray:
    """A boolean or float mask as the native op's additive float mask of shape (Lq, Lk) or
    (1|B, 1|H, Lq, Lk), broadcast from any shape that broadcasts to ``target`` (B, H, Lq, Lk).

    A boolean mask hides with -inf where it is False (``true_means_keep``, the SDPA convention)
    or where it is True (MultiheadAttention's convention)."""
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
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
