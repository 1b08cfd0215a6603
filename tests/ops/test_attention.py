"""The attention family: scaled dot-product attention against NumPy, finite differences and
PyTorch, with masks, causal, dropout (counter-based, regenerated in backward) and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
from nncore.ops.attention import HeadsAttentionFn
from nncore.random import next_seed
from ops.test_activation import _splitmix64_keep

# ---- NumPy reference ----------------------------------------------------------------------


def _sdpa_ref(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, keep=None):
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = q @ np.swapaxes(k, -1, -2) * s
    if attn_mask is not None:
        logits = np.where(attn_mask, logits, -np.inf) if attn_mask.dtype == bool else (
            logits + attn_mask)
    if is_causal:
        lq, lk = logits.shape[-2:]
        logits = np.where(np.tril(np.ones((lq, lk), bool)), logits, -np.inf)
    m = logits.max(axis=-1, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(logits - np.where(dead, 0, m))
    p = np.where(dead, 0, e / np.where(dead, 1, e.sum(axis=-1, keepdims=True)))
    if keep is not None:
        p = np.where(keep, p / (1 - dropout_p), 0)
    return p @ v


def _torch_sdpa(q, k, v, attn_mask=None, **kw):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **kw)


def _inputs(b, h, lq, lk, d, dv, mask=None):
    """q, k, v (and a mask: 'bool' (Lq, Lk), 'float' (B, 1, Lq, Lk), 'pad' (B, 1, 1, Lk))."""
    def make(rng):
        out = [rng.standard_normal(s) for s in ((b, h, lq, d), (b, h, lk, d), (b, h, lk, dv))]
        if mask == "bool":
            m = rng.random((lq, lk)) > 0.3
            m[:, 0] = True  # no fully masked row: PyTorch's oracle differs by path there
            out.append(m)
        elif mask == "float":
            out.append(rng.standard_normal((b, 1, lq, lk)))
        elif mask == "pad":
            m = np.ones((b, 1, 1, lk), bool)
            m[0, 0, 0, -1] = False
            out.append(m)
        return out
    return make


def _inputs3(n, lq, lk, d):
    return lambda rng: [rng.standard_normal(s) for s in ((n, lq, d), (n, lk, d), (n, lk, d))]


_T = _torch_sdpa if torch else None
_QKV = (0, 1, 2)

SPECS = [
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 3, 5, 7, 4, 6), _sdpa_ref, _T,
           id="sdpa-plain"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(1, 1, 1, 1, 1, 1), _sdpa_ref, _T,
           id="sdpa-all-ones"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 2, 3, 17, 5, 3), _sdpa_ref,
           _T, kwargs={"scale": 0.3}, id="sdpa-scale"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 2, 6, 6, 3, 4), _sdpa_ref, _T,
           kwargs={"is_causal": True}, id="sdpa-causal"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(1, 2, 4, 7, 3, 3), _sdpa_ref, _T,
           kwargs={"is_causal": True}, id="sdpa-causal-rect"),
    # Causal past 12 rows: the triangle path (row blocks of 12, keys rounded to whole packets).
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(1, 2, 40, 40, 8, 8), _sdpa_ref,
           _T, kwargs={"is_causal": True}, id="sdpa-causal-triangle"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 1, 29, 37, 5, 3), _sdpa_ref,
           _T, kwargs={"is_causal": True}, id="sdpa-causal-triangle-rect"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 3, 4, 5, 3, 2, "bool"),
           _sdpa_ref, _T, grad_args=_QKV, id="sdpa-bool-mask"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 3, 4, 5, 3, 2, "float"),
           _sdpa_ref, _T, grad_args=_QKV, id="sdpa-float-mask-batch"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(3, 2, 4, 5, 3, 2, "pad"),
           _sdpa_ref, _T, grad_args=_QKV, id="sdpa-key-padding-mask"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs3(3, 4, 5, 3), _sdpa_ref, _T,
           id="sdpa-3d"),
]


# ---- heads_attention: token-major q, k, v (or packed q|k|v), heads interleaved ----------


def _np_heads(x, h, seq_first):  # (N, L, H*D) or (L, N, H*D) -> (N, H, L, D)
    a, b, e = x.shape
    return x.reshape(a, b, h, e // h).transpose((1, 2, 0, 3) if seq_first else (0, 2, 1, 3))


def _np_merge(o, seq_first):  # (N, H, L, D) -> (N, L, H*D) or (L, N, H*D)
    n, h, L, d = o.shape
    o = o.transpose((2, 0, 1, 3) if seq_first else (0, 2, 1, 3))
    return o.reshape(o.shape[0], o.shape[1], h * d)


def _unpack(xs, packed):
    if not packed:
        return xs
    (x,) = xs
    e = x.shape[-1] // 3
    return x[..., :e], x[..., e:2 * e], x[..., 2 * e:]


def _heads_fn(*xs, heads, seq_first=False, packed=False, mask=None, causal=False):
    e = xs[0].shape[-1] // (3 if packed else 1)
    m = None if mask is None else mask.astype(xs[0].dtype)
    return HeadsAttentionFn.apply(*xs, heads=heads, seq_first=seq_first, packed=packed, mask=m,
                                  causal=causal, scale=1 / math.sqrt(e // heads), dropout_p=0.0,
                                  seed=0)


def _heads_ref(*xs, heads, seq_first=False, packed=False, mask=None, causal=False):
    q, k, v = (_np_heads(t, heads, seq_first) for t in _unpack(xs, packed))
    return _np_merge(_sdpa_ref(q, k, v, attn_mask=mask, is_causal=causal), seq_first)


def _heads_torch(*xs, heads, seq_first=False, packed=False, mask=None, causal=False):
    def split(x):
        a, b, e = x.shape
        x = x.reshape(a, b, heads, e // heads)
        return x.permute(1, 2, 0, 3) if seq_first else x.permute(0, 2, 1, 3)

    q, k, v = (split(t) for t in _unpack(xs, packed))
    m = None if mask is None else torch.tensor(mask, dtype=q.dtype)
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal)
    o = o.permute(2, 0, 1, 3) if seq_first else o.permute(0, 2, 1, 3)
    return o.reshape(o.shape[0], o.shape[1], -1)


def _token_inputs(n, lq, lk, e, ev, seq_first=False, packed=False):
    def shape(length, width):
        return (length, n, width) if seq_first else (n, length, width)

    if packed:
        return lambda rng: [rng.standard_normal(shape(lq, 3 * e))]
    return lambda rng: [rng.standard_normal(shape(lq, e)), rng.standard_normal(shape(lk, e)),
                        rng.standard_normal(shape(lk, ev))]


def _heads_spec(make, id, **kw):
    return OpSpec("heads_attention", _heads_fn, make, _heads_ref,
                  _heads_torch if torch else None, kwargs=kw, id=id)


_MASK_5x7 = np.random.default_rng(3).standard_normal((5, 7))

SPECS += [
    _heads_spec(_token_inputs(2, 5, 7, 6, 9), "heads-batch-first", heads=3),
    _heads_spec(_token_inputs(3, 5, 7, 4, 2, seq_first=True), "heads-seq-first", heads=2,
                seq_first=True),
    _heads_spec(_token_inputs(2, 5, 7, 6, 9), "heads-mask", heads=3, mask=_MASK_5x7),
    _heads_spec(_token_inputs(1, 1, 1, 3, 3), "heads-batch1-len1", heads=1),
    _heads_spec(_token_inputs(2, 5, 5, 6, 6, packed=True), "heads-packed", heads=2,
                packed=True),
    _heads_spec(_token_inputs(3, 4, 4, 6, 6, seq_first=True, packed=True),
                "heads-packed-seq-first-causal", heads=3, seq_first=True, packed=True,
                causal=True),
    _heads_spec(_token_inputs(1, 1, 1, 5, 5, packed=True), "heads-packed-len1", heads=5,
                packed=True),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


@pytest.mark.parametrize("seq_first", [False, True])
@pytest.mark.parametrize("n", [3, 9])
def test_heads_attention_is_bitwise_the_dense_kernel(seq_first, n) -> None:
    """Token-major heads (packed and not), with dropout and a per-head mask, give the same bits
    as attention over the (N, H, L, D) copies, forward and backward, at 1 and 2 threads. (The
    kernel stages a whole batch entry's heads at once when the batch has entries enough for the
    threads, n = 9 at 2 threads and both at 1 thread, else one head at a time.)"""
    rng, seed = fresh_rng()
    L, h, d = 37, 4, 8
    x = rng.standard_normal((L, n, 3 * h * d) if seq_first else (n, L, 3 * h * d))
    x = x.astype(np.float32)
    g = rng.standard_normal((L, n, h * d) if seq_first else (n, L, h * d)).astype(np.float32)
    mask = rng.standard_normal((n, h, L, L)).astype(np.float32)
    cfg = dict(causal=True, scale=0.3, dropout_p=0.25, seed=77)
    threads = nc.get_num_threads()
    try:
        for t in (1, 2):
            nc.set_num_threads(t)
            qkv = [np.ascontiguousarray(_np_heads(p, h, seq_first)) for p in _unpack([x], True)]
            o_ref, p_ref = nc._C.attention_forward(*qkv, mask, cfg["causal"], cfg["scale"],
                                                   cfg["dropout_p"], cfg["seed"])
            grads_ref = nc._C.attention_backward(
                np.ascontiguousarray(_np_heads(g, h, seq_first)), *qkv, p_ref, cfg["scale"],
                cfg["dropout_p"], cfg["seed"])
            parts = [np.ascontiguousarray(p) for p in _unpack([x], True)]
            for packed, ins in ((True, [x, None, None]), (False, parts)):
                o, p = nc._C.heads_attention_forward(ins[0], ins[1], ins[2], mask, h, seq_first,
                                                     cfg["causal"], cfg["scale"],
                                                     cfg["dropout_p"], cfg["seed"])
                np.testing.assert_array_equal(o, _np_merge(o_ref, seq_first), f"seed {seed}")
                np.testing.assert_array_equal(p, p_ref)
                grads = nc._C.heads_attention_backward(g, ins[0], ins[1], ins[2], p, h,
                                                       seq_first, cfg["scale"], cfg["dropout_p"],
                                                       cfg["seed"])
                if packed:
                    grads = _unpack([grads[0]], True)
                for ours, ref in zip(grads, grads_ref):
                    np.testing.assert_array_equal(ours, _np_merge(ref, seq_first))
    finally:
        nc.set_num_threads(threads)


def test_heads_attention_boundary_errors() -> None:
    x = np.zeros((2, 3, 12), np.float32)
    with pytest.raises(ValueError, match=r"\[heads_attention\] q: packed q\|k\|v needs features"):
        nc._C.heads_attention_forward(np.zeros((2, 3, 10), np.float32), None, None, None, 2,
                                      False, False, 1.0)
    with pytest.raises(ValueError, match=r"\[heads_attention\] k, v: expected two arrays"):
        nc._C.heads_attention_forward(x, x, None, None, 2, False, False, 1.0)
    with pytest.raises(ValueError, match=r"\[heads_attention\] q, k, v do not match"):
        nc._C.heads_attention_forward(x, np.zeros((2, 4, 10), np.float32), x, None, 2, False,
                                      False, 1.0)
    with pytest.raises(ValueError, match=r"\[heads_attention\] q, v: expected features "
                       r"divisible by heads = 5"):
        nc._C.heads_attention_forward(x, x, x, None, 5, False, False, 1.0)
    with pytest.raises(ValueError, match=r"\[heads_attention\] mask: expected shape"):
        nc._C.heads_attention_forward(x, x, x, np.zeros((4, 4), np.float32), 2, False, False,
                                      1.0)
    with pytest.raises(ValueError, match=r"\[heads_attention\] dout: expected shape"):
        nc._C.heads_attention_backward(np.zeros((2, 3, 5), np.float32), x, None, None,
                                       np.zeros((2, 2, 3, 3), np.float32), 2, False, 1.0)


def _dropout_call(q, k, v, p=0.3, seed=99):
    nc.manual_seed(seed)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=p)


def test_dropout_mask_is_the_documented_stream_and_backward_matches() -> None:
    rng, seed = fresh_rng()
    arrays = [rng.standard_normal(s) for s in ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3))]
    nc.manual_seed(99)
    keep = _splitmix64_keep(next_seed(), 2 * 2 * 3 * 5, 0.3).reshape(2, 2, 3, 5)
    spec = OpSpec("attention", _dropout_call, lambda r: arrays,
                  lambda q, k, v: _sdpa_ref(q, k, v, dropout_p=0.3, keep=keep),
                  id="sdpa-dropout")
    check_op(spec)
    assert 0 < keep.mean() < 1, seed


def test_dropout_reproducible_and_varies_with_seed() -> None:
    q = nc.randn(2, 2, 8, 4)
    a = _dropout_call(q, q, q, seed=1).detach().numpy()
    b = _dropout_call(q, q, q, seed=1).detach().numpy()
    c = _dropout_call(q, q, q, seed=2).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fully_masked_row_gives_zeros_like_pytorch() -> None:
    rng, seed = fresh_rng()
    q, k, v = (rng.standard_normal((1, 2, 3, 4)) for _ in range(3))
    mask = np.ones((3, 3), bool)
    mask[1] = False
    tensors = [nc.tensor(a, dtype=np.float64, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*tensors, attn_mask=mask)
    out.backward(np.ones(out.shape))
    assert np.all(out.detach().numpy()[:, :, 1] == 0)
    assert np.all(tensors[0].grad.numpy()[:, :, 1] == 0)
    assert np.all(np.isfinite(tensors[1].grad.numpy()))
    if torch is not None:
        t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        ref = torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=torch.tensor(mask))
        ref.backward(torch.ones_like(ref))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12)
        for ours, theirs in zip(tensors, t):
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12,
                                       err_msg=f"seed {seed}")


def test_several_row_blocks_match_pytorch() -> None:
    """Lk large enough that float64 weights split into several row blocks."""
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    arrays = [rng.standard_normal(s) for s in ((1, 2, 40, 3), (1, 2, 700, 3), (1, 2, 700, 2))]
    mask = rng.standard_normal((40, 700))
    ours = [nc.tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*ours, attn_mask=nc.tensor(mask, dtype=np.float64),
                                         is_causal=False)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(mask))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=f"seed {seed}")


def test_same_result_for_one_and_two_threads() -> None:
    threads = nc.get_num_threads()
    rng, _ = fresh_rng()
    arrays = [rng.standard_normal((2, 3, 16, 16)).astype(np.float32) for _ in range(3)]
    results = []
    try:
        for n in (1, 2):
            nc.set_num_threads(n)
            ts = [nc.tensor(a, requires_grad=True) for a in arrays]
            nc.manual_seed(5)
            out = F.scaled_dot_product_attention(*ts, dropout_p=0.2, is_causal=True)
            out.backward(np.ones(out.shape, np.float32))
            results.append([out.detach().numpy()] + [t.grad.numpy() for t in ts])
    finally:
        nc.set_num_threads(threads)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("shapes", "mask", "error", "match"),
    [
        (((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2)), (4, 7), ValueError,
         r"scaled_dot_product_attention: attn_mask of shape \(4, 7\) does not broadcast"),
        (((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2)), (3, 1, 4, 6), ValueError,
         r"scaled_dot_product_attention: attn_mask of shape \(3, 1, 4, 6\)"),
        (((2, 3, 4, 5), (2, 3, 6, 4), (2, 3, 6, 2)), None, ValueError,
         r"scaled_dot_product_attention: query \(2, 3, 4, 5\), key \(2, 3, 6, 4\)"),
        (((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 7, 2)), None, ValueError, "do not match"),
        (((4, 5), (6, 5), (6, 2)), None, ValueError, "expected 4-D"),
        (((2, 1, 4, 5), (2, 1, 0, 5), (2, 1, 0, 2)), None, ValueError, "at least one key"),
    ],
)
def test_bad_input(shapes, mask, error, match) -> None:
    q, k, v = (nc.zeros(*s) for s in shapes)
    m = None if mask is None else np.ones(mask, bool)
    with pytest.raises(error, match=match):
        F.scaled_dot_product_attention(q, k, v, attn_mask=m)


def test_bad_dtype_and_dropout() -> None:
    q = nc.zeros(1, 1, 2, 2)
    with pytest.raises(TypeError, match="scaled_dot_product_attention: expected one dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: dropout_p must be in"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    with pytest.raises(TypeError, match="scaled_dot_product_attention: attn_mask must be bool"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), np.int64))


def test_native_boundary_errors() -> None:
    q = np.zeros((1, 2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[attention\] mask: expected shape"):
        nc._C.attention_forward(q, q, q, np.zeros((2, 2, 3, 3), np.float32), False, 1.0)
    with pytest.raises(TypeError, match=r"\[attention\] k: expected float32, got float64"):
        nc._C.attention_forward(q, q.astype(np.float64), q, None, False, 1.0)
    with pytest.raises(ValueError, match=r"\[attention\] q, k, v do not match"):
        nc._C.attention_forward(q, np.zeros((1, 2, 3, 5), np.float32), q, None, False, 1.0)
    with pytest.raises(ValueError, match=r"\[attention\] dropout_p"):
        nc._C.attention_forward(q, q, q, None, False, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"\[attention\] p: expected shape"):
        nc._C.attention_backward(q, q, q, q, np.zeros((1, 2, 3, 4), np.float32), 1.0)
    with pytest.raises(ValueError, match=r"\[attention\] q: expected a C-contiguous"):
        nc._C.attention_forward(np.zeros((1, 2, 4, 3), np.float32).swapaxes(2, 3), q, q, None,
                                False, 1.0)
