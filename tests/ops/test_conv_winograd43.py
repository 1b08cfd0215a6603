"""conv2d's Winograd F(4x4, 3x3) path (forward and input gradient; conv_winograd43.cpp) against
PyTorch, float64 finite differences and a float64 reference, and the same bits at any thread
count. The shapes are chosen to take that path (conv.cpp's use_winograd43, mirrored by
_takes_f43): 3x3, stride 1, at least 32 channels, enough tiles per call."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import fresh_rng, torch
from ops.test_conv import check_conv3x3_finite_differences

_ARGS = ((1, 1), (1, 1), (1, 1), 1)


def _takes_f43(n: int, oh: int, ow: int) -> bool:
    """conv.cpp's rule for an output of oh x ow: at least 1.3x fewer multiplies than F(2x2, 3x3)
    and n * tiles * (ratio - 1) >= 36."""
    t23 = ((oh + 1) // 2) * ((ow + 1) // 2)
    t43 = ((oh + 3) // 4) * ((ow + 3) // 4)
    ratio = 16 * t23 / (36 * t43)
    return ratio >= 1.3 and n * t43 * (ratio - 1) >= 36


def _check_vs_torch(threads: int, dtype, n: int, c: int, k: int, h: int, w: int,
                    padding: tuple) -> None:
    rng, seed = fresh_rng()
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((k, c, 3, 3)) * 0.2).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    saved = nc.get_num_threads()
    try:
        nc.set_num_threads(threads)
        xs, ws, bs = (nc.tensor(a, dtype=dtype, requires_grad=True) for a in (x, wt, b))
        y = F.conv2d(xs, ws, bs, padding=padding)
        dy = rng.standard_normal(y.shape).astype(dtype)
        y.backward(dy)
    finally:
        nc.set_num_threads(saved)
    oh, ow = y.shape[2:]
    assert _takes_f43(n, oh, ow) and _takes_f43(n, h, w)  # forward and dx both take F(4, 3)
    xt, wtt, bt = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    yt = torch.nn.functional.conv2d(xt, wtt, bt, padding=padding)
    yt.backward(torch.from_numpy(dy))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    msg = f"seed {seed}"
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol,
                               err_msg=msg)
    for ours, theirs in [(xs, xt), (ws, wtt), (bs, bt)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tol,
                                   atol=20 * tol, err_msg=msg)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, k, h, w, padding", [
    (9, 32, 64, 14, 14, (1, 1)),   # LeNet's layer, odd batch: 14 = 3 * 4 + 2, partial tiles
    (7, 64, 32, 14, 14, (1, 1)),   # its dx shape as a forward
    (13, 32, 32, 7, 7, (1, 1)),    # 7x7: one whole and one partial tile a side
    (1, 32, 48, 28, 28, (1, 1)),   # one image; 48 channels (not a multiple of 32 floats)
    (3, 48, 32, 18, 26, (1, 1)),   # non-square, partial last tile row and column
    (2, 32, 32, 30, 28, (2, 1)),   # padding 2: dx padded by 0; several tile rows per chunk
    (2, 48, 32, 27, 22, (0, 2)),   # no padding in H (dx padded by 2), odd height
])
def test_winograd43_matches_torch(threads, dtype, n, c, k, h, w, padding) -> None:
    """Forward, dx (F(4x4, 3x3)), dw and db against torch at 1 and 2 threads: float32 within
    1e-4, float64 within 1e-10."""
    if torch is None:
        pytest.skip("torch not installed")
    _check_vs_torch(threads, dtype, n, c, k, h, w, padding)


@pytest.mark.parametrize("n, c, k, h, w", [(9, 32, 64, 14, 14), (2, 48, 32, 18, 26)])
def test_winograd43_same_bits_at_any_thread_count(n, c, k, h, w) -> None:
    """y and dx are the same bits at 1, 2 and 3 threads (each output depends on its image only;
    the weight transform writes disjoint rows per input channel)."""
    rng, _ = fresh_rng()
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c, 3, 3)) * 0.2).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    dy = rng.standard_normal((n, k, h, w)).astype(np.float32)
    saved = nc.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            nc.set_num_threads(threads)
            dx, _, _ = nc._C.conv2d_backward(dy, x, wt, *_ARGS, need_dw=False, need_db=False)
            results.append((nc._C.conv2d_forward(x, wt, b, *_ARGS), dx))
    finally:
        nc.set_num_threads(saved)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)


def test_winograd43_float32_error_against_float64() -> None:
    """On realistic data (post-ReLU inputs, Kaiming-uniform weights) the float32 forward and dx
    stay within 2e-5 of the largest output of a float64 reference (measured: about 6e-6 and
    8e-6 at the LeNet layer; F(2x2, 3x3) about 3e-7), and within 1e-6 in the median."""
    rng, seed = fresh_rng()
    n, c, k, h, w = 16, 32, 64, 14, 14
    x = np.maximum(rng.standard_normal((n, c, h, w)), 0)
    bound = 1 / np.sqrt(c * 9)
    wt = rng.uniform(-bound, bound, (k, c, 3, 3))
    dy = rng.standard_normal((n, k, h, w))
    assert _takes_f43(n, h, w)
    y64 = nc._C.conv2d_forward(x, wt, np.zeros(k), *_ARGS)
    dx64 = nc._C.conv2d_backward(dy, x, wt, *_ARGS, need_dw=False, need_db=False)[0]
    x32, w32, dy32 = (a.astype(np.float32) for a in (x, wt, dy))
    y32 = nc._C.conv2d_forward(x32, w32, np.zeros(k, np.float32), *_ARGS)
    dx32 = nc._C.conv2d_backward(dy32, x32, w32, *_ARGS, need_dw=False, need_db=False)[0]
    for ours, ref in [(y32, y64), (dx32, dx64)]:
        err = np.abs(ours - ref) / np.max(np.abs(ref))
        assert np.max(err) < 2e-5, f"worst {np.max(err):.2e}, seed {seed}"
        assert np.median(err) < 1e-6, f"median {np.median(err):.2e}, seed {seed}"


@pytest.mark.parametrize("n, c, k, h, w, padding", [(13, 32, 32, 7, 7, (1, 1)),
                                                    (6, 32, 32, 12, 16, (1, 0))])
def test_winograd43_gradients_match_finite_differences(n, c, k, h, w, padding) -> None:
    """Float64 gradients through the F(4x4, 3x3) forward and dx, along random directions:
    <grad, v> against the central difference (f(a + eps v) - f(a - eps v)) / 2 eps for x,
    weight and bias."""
    assert _takes_f43(n, h + 2 * padding[0] - 2, w + 2 * padding[1] - 2) and _takes_f43(n, h, w)
    check_conv3x3_finite_differences(n, c, k, h, w, padding, directions=2)
