"""Attention without a graph to keep: the forward kernel then writes no weights p (need_weights
False), and its output must be the same bits as when it does, for every path the kernel takes
(masks, causal, dropout, token-major heads, float64, odd sizes)."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import fresh_rng, torch

# (B, H, Lq, Lk, D, Dv): odd sizes, one key, rows longer than a block, causal triangles.
SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 17, 5, 3, 7), (3, 2, 64, 64, 32, 32), (1, 2, 70, 33, 16, 9),
          (2, 1, 40, 40, 8, 8), (1, 1, 300, 260, 4, 6)]


def _mask(rng: np.random.Generator, b: int, h: int, lq: int, lk: int, dtype: type) -> np.ndarray:
    """A float mask (B, H, Lq, Lk) with some -inf entries and one query that sees no key."""
    m = rng.standard_normal((b, h, lq, lk)).astype(dtype)
    m[rng.random(m.shape) < 0.2] = -np.inf
    m[0, 0, lq // 2, :] = -np.inf
    return m


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_without_weights_gives_the_same_bits(shape, dtype) -> None:
    rng, seed = fresh_rng()
    b, h, lq, lk, d, dv = shape
    q = rng.standard_normal((b, h, lq, d)).astype(dtype)
    k = rng.standard_normal((b, h, lk, d)).astype(dtype)
    v = rng.standard_normal((b, h, lk, dv)).astype(dtype)
    for mask in (None, _mask(rng, b, h, lq, lk, dtype)):
        for causal in (False, True):
            for scale, drop in ((0.7, 0.0), (-0.4, 0.0), (0.3, 0.3)):
                o, p = nc._C.attention_forward(q, k, v, mask, causal, scale, drop, 11)
                o2, p2 = nc._C.attention_forward(q, k, v, mask, causal, scale, drop, 11, False)
                assert p2 is None and p.shape == (b, h, lq, lk)
                np.testing.assert_array_equal(o2, o, f"seed {seed} mask {mask is not None} "
                                              f"causal {causal} scale {scale}")


@pytest.mark.parametrize("seq_first", [False, True])
def test_heads_forward_without_weights_gives_the_same_bits(seq_first) -> None:
    rng, seed = fresh_rng()
    n, L, h, d = 5, 19, 3, 4
    x = rng.standard_normal((L, n, 3 * h * d) if seq_first else (n, L, 3 * h * d))
    x = x.astype(np.float32)
    mask = _mask(rng, n, h, L, L, np.float32)
    for m in (None, mask):
        o, p = nc._C.heads_attention_forward(x, None, None, m, h, seq_first, True, 0.5, 0.2, 3)
        o2, p2 = nc._C.heads_attention_forward(x, None, None, m, h, seq_first, True, 0.5, 0.2, 3,
                                               False)
        assert p2 is None and p is not None
        np.testing.assert_array_equal(o2, o, f"seed {seed}")


def test_no_grad_forward_matches_the_recorded_one() -> None:
    """Under no_grad (or with no input requiring grad) the weights are not kept; the output is
    the same bits as the forward that keeps them for backward."""
    rng, seed = fresh_rng()
    q, k, v = (rng.standard_normal((2, 3, 21, 8)).astype(np.float32) for _ in range(3))
    leaves = [nc.tensor(a, requires_grad=True) for a in (q, k, v)]
    recorded = F.scaled_dot_product_attention(*leaves, is_causal=True)
    assert recorded.grad_fn is not None
    with nc.no_grad():
        plain = F.scaled_dot_product_attention(*leaves, is_causal=True)
    constants = F.scaled_dot_product_attention(*(nc.tensor(a) for a in (q, k, v)),
                                               is_causal=True)
    np.testing.assert_array_equal(plain.numpy(), recorded.detach().numpy(), f"seed {seed}")
    np.testing.assert_array_equal(constants.numpy(), recorded.detach().numpy())
    # The recorded one still runs backward (its weights were kept).
    recorded.sum().backward()
    assert all(t.grad is not None for t in leaves)


def test_mha_no_grad_matches_the_recorded_forward() -> None:
    nc.manual_seed(0)
    rng, seed = fresh_rng()
    mha = nc.nn.MultiheadAttention(12, 3, batch_first=True)
    x = nc.tensor(rng.standard_normal((4, 9, 12)).astype(np.float32), requires_grad=True)
    out = mha(x, x, x, need_weights=False)[0]
    with nc.no_grad():
        out2 = mha(x, x, x, need_weights=False)[0]
    np.testing.assert_array_equal(out2.numpy(), out.detach().numpy(), f"seed {seed}")


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_non_finite_inputs_as_pytorch() -> None:
    """A NaN or inf in q or k reaches the same outputs as PyTorch's CPU kernel (NaN where
    PyTorch's is NaN), with and without weights kept."""
    rng, seed = fresh_rng()
    for trial in range(6):
        q, k, v = (rng.standard_normal((2, 2, 9, 16)).astype(np.float32) for _ in range(3))
        for a in (q, k):
            idx = tuple(rng.integers(0, s) for s in a.shape)
            a[idx] = [np.nan, np.inf, -np.inf][trial % 3]
        want = torch.nn.functional.scaled_dot_product_attention(
            *(torch.from_numpy(a) for a in (q, k, v))).numpy()
        for need in (True, False):
            o, _ = nc._C.attention_forward(q, k, v, None, False, 0.25, 0.0, 0, need)
            np.testing.assert_array_equal(np.isnan(o), np.isnan(want), f"seed {seed} {trial}")
            fin = np.isfinite(want)
            np.testing.assert_allclose(o[fin], want[fin], rtol=1e-5, atol=1e-5)
