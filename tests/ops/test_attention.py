"""The attention family: scaled dot-product attention against NumPy, finite differences and
PyTorch, with masks, causal, dropout (counter-based, regenerated in backward) and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
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
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 3, 4, 5, 3, 2, "bool"),
           _sdpa_ref, _T, grad_args=_QKV, id="sdpa-bool-mask"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(2, 3, 4, 5, 3, 2, "float"),
           _sdpa_ref, _T, grad_args=_QKV, id="sdpa-float-mask-batch"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs(3, 2, 4, 5, 3, 2, "pad"),
           _sdpa_ref, _T, grad_args=_QKV, id="sdpa-key-padding-mask"),
    OpSpec("attention", F.scaled_dot_product_attention, _inputs3(3, 4, 5, 3), _sdpa_ref, _T,
           id="sdpa-3d"),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


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
    a = _dropout_call(q, q, q, seed=1).numpy()
    b = _dropout_call(q, q, q, seed=1).numpy()
    c = _dropout_call(q, q, q, seed=2).numpy()
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
    assert np.all(out.numpy()[:, :, 1] == 0) and np.all(tensors[0].grad.numpy()[:, :, 1] == 0)
    assert np.all(np.isfinite(tensors[1].grad.numpy()))
    if torch is not None:
        t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        ref = torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=torch.tensor(mask))
        ref.backward(torch.ones_like(ref))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
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
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
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
            results.append([out.numpy()] + [t.grad.numpy() for t in ts])
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
