"""scaled_dot_product_attention over head views of one packed q|k|v array (the GPT pattern:
``qkv.split(E, 2)`` then ``view(B, L, H, D).transpose(1, 2)``) runs the token-major kernel
without copies; it must give AttentionFn's bits, PyTorch's values, and fall back whenever the
inputs are not exactly such views. Also split's gradient buffer (pieces without a gradient)."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import fresh_rng
from nncore.ops.attention import AttentionFn, PackedHeadsAttentionFn


def _heads(x, b, n, h, d):
    return x.view(b, n, h, d).transpose(1, 2)


def _gpt_attention(qkv, h, order=(0, 1, 2), **kw):
    b, n, e3 = qkv.shape
    e = e3 // 3
    parts = qkv.split(e, dim=2)
    q, k, v = (_heads(parts[i], b, n, h, e // h) for i in order)
    return F.scaled_dot_product_attention(q, k, v, **kw)


@pytest.mark.parametrize("b,n,h,d", [(1, 1, 1, 1), (3, 17, 4, 8), (2, 5, 3, 7)])
@pytest.mark.parametrize("kw", [dict(is_causal=True), dict(), dict(dropout_p=0.3),
                                dict(attn_mask="bool")], ids=str)
def test_packed_views_give_the_dense_kernels_bits(b, n, h, d, kw) -> None:
    rng, seed = fresh_rng()
    x0 = rng.standard_normal((b, n, 3 * h * d))
    g0 = rng.standard_normal((b, h, n, d))
    if kw.get("attn_mask") == "bool":
        kw = dict(attn_mask=nc.tensor(rng.random((n, n)) < 0.7))
    results = []
    for packed in (True, False):
        nc.manual_seed(5)
        x = nc.tensor(x0, requires_grad=True)
        if packed:
            out = _gpt_attention(x, h, **kw)
            assert isinstance(out.grad_fn, PackedHeadsAttentionFn), f"seed {seed}"
        else:
            parts = x.split(h * d, dim=2)
            q, k, v = (_heads(p, b, n, h, d).clone() for p in parts)
            out = F.scaled_dot_product_attention(q, k, v, **kw)
            assert isinstance(out.grad_fn, AttentionFn)
        out.backward(nc.tensor(g0))
        results.append((out.detach().numpy(), x.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0], f"seed {seed}")
    np.testing.assert_array_equal(results[0][1], results[1][1], f"seed {seed}")


def test_packed_matches_pytorch_and_merges_heads_without_a_copy() -> None:
    torch = pytest.importorskip("torch")
    rng, seed = fresh_rng()
    b, n, h, d = 2, 9, 3, 5
    x0 = rng.standard_normal((b, n, 3 * h * d)).astype(np.float32)
    outs = []
    for lib in (nc, torch):
        x = lib.tensor(x0, requires_grad=True)
        q, k, v = x.split(h * d, dim=2)
        q, k, v = (t.view(b, n, h, d).transpose(1, 2) for t in (q, k, v))
        y = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        merged = y.transpose(1, 2).contiguous().view(b, n, h * d)
        (merged * merged).sum().backward()
        outs.append((merged.detach().numpy(), x.grad.numpy()))
        if lib is nc:
            assert isinstance(y.grad_fn, PackedHeadsAttentionFn)
            assert np.shares_memory(merged.detach().numpy(), y.detach().numpy())
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6, err_msg=str(seed))
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-5, err_msg=str(seed))


def test_inputs_that_are_not_exactly_packed_views_fall_back() -> None:
    rng, seed = fresh_rng()
    b, n, h, d = 2, 4, 2, 3
    x0 = rng.standard_normal((b, n, 3 * h * d))
    x = nc.tensor(x0, requires_grad=True)
    # k, q, v order: q does not start the packed array
    assert isinstance(_gpt_attention(x, h, order=(1, 0, 2)).grad_fn, AttentionFn)
    # three separate arrays
    q, k, v = (nc.tensor(rng.standard_normal((b, h, n, d)), requires_grad=True)
               for _ in range(3))
    assert isinstance(F.scaled_dot_product_attention(q, k, v).grad_fn, AttentionFn)
    # a 4-wide packing: views of one array, but rows are 4E apart
    y = nc.tensor(rng.standard_normal((b, n, 4 * h * d)), requires_grad=True)
    parts = y.split(h * d, dim=2)
    q, k, v = (_heads(p, b, n, h, d) for p in parts[:3])
    out = F.scaled_dot_product_attention(q, k, v)
    assert isinstance(out.grad_fn, AttentionFn)
    ref = F.scaled_dot_product_attention(*(t.contiguous() for t in (q, k, v)))
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy(), str(seed))


def test_split_pieces_without_a_gradient_get_zeros_and_retained_graphs_repeat() -> None:
    rng, seed = fresh_rng()
    x0 = rng.standard_normal((3, 7))
    x = nc.tensor(x0, requires_grad=True)
    a, b, c, d = x.split(2, dim=1)
    y = (a * 2).sum() + (c * c).sum() + (a * 3).sum()  # b and d unused, a used twice
    y.backward(retain_graph=True)
    want = np.zeros_like(x0)
    want[:, 0:2] = 5
    want[:, 4:6] = 2 * x0[:, 4:6]
    np.testing.assert_array_equal(x.grad.numpy(), want, str(seed))
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * want, str(seed))
    # only the last piece
    x.grad = None
    x.split(2, dim=1)[3].sum().backward()
    want = np.zeros_like(x0)
    want[:, 6:] = 1
    np.testing.assert_array_equal(x.grad.numpy(), want)
