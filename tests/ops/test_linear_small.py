"""The linear layer's products at few rows (32-255: a small network's batch), which linear.cpp
runs on its own paths: the forward tiled, its chunks packing their own blocks of the weight; the
input gradient reading the weight in place when out_features is short and the weight fits half
of L2 (else, on AVX-512, tiled); the weight gradient tiled from 64 rows summed (AVX-512).
Against NumPy in float64, PyTorch, and the same bits at 1, 2 and 3 threads (their OpSpecs,
finite differences included, are in test_linear.py's SPECS: the coverage test wants a family's
specs in its own file)."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import fresh_rng, torch

SHAPES = [
    (64, 3136, 128),  # LeNet's first fully connected layer
    (64, 784, 128),  # an MLP's hidden layer
    (33, 17, 130),  # partial column strip, odd sizes
    (255, 1, 200), (40, 3, 65), (17, 64, 128),  # short sums, few rows
    (100, 777, 33), (64, 64, 64), (200, 300, 257),  # long out: dx tiled, not in place
    (3, 5, 1), (1, 17, 3),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, features, out", SHAPES)
def test_small_batch_products_same_bits_at_any_thread_count(dtype, rows, features, out) -> None:
    """Forward (plain and with the ReLU), dx, dw and db, together and one by one: the same bits
    at 1, 2 and 3 threads, and NumPy's values in float64."""
    rng, seed = fresh_rng()
    x = rng.standard_normal((rows, features)).astype(dtype)
    w = rng.standard_normal((out, features)).astype(dtype)
    b = rng.standard_normal(out).astype(dtype)
    dy = rng.standard_normal((rows, out)).astype(dtype)
    threads = nc.get_num_threads()
    runs = []
    try:
        for t in (1, 2, 3):
            nc.set_num_threads(t)
            y = nc._C.linear_relu_forward(x, w, b)
            together = nc._C.linear_backward(dy, x, w, True, True, True)
            alone = tuple(nc._C.linear_backward(dy, x, w, *(j == i for j in range(3)))[i]
                          for i in range(3))
            relu_grads = nc._C.linear_relu_backward(dy, y, x, w, True, True, True)
            runs.append((nc._C.linear_forward(x, w, b), y, *together, *alone, *relu_grads))
    finally:
        nc.set_num_threads(threads)
    for got in runs[1:]:
        for a, c in zip(runs[0], got):
            np.testing.assert_array_equal(a, c, f"seed {seed}")
    first = runs[0]
    for a, c in zip(first[2:5], first[5:8]):
        np.testing.assert_array_equal(a, c, f"seed {seed}: together vs one by one")
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    z = x64 @ w64.T + b
    dz = np.where(first[1] > 0, dy64, 0.0)
    want = (z, np.maximum(z, 0), dy64 @ w64, dy64.T @ x64, dy64.sum(axis=0),
            dz @ w64, dz.T @ x64, dz.sum(axis=0))
    got = first[:5] + first[8:]
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, **tol, err_msg=f"seed {seed}")


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("rows, features, out", [(64, 3136, 128), (65, 70, 100), (3, 17, 1)])
def test_transposed_operands_match_torch(rows, features, out, relu) -> None:
    """x and the weight given as transposed (non-contiguous) views, through autograd: PyTorch's
    output and gradients (a transposed weight once raised 'expected a C-contiguous array')."""
    if torch is None:
        pytest.skip("PyTorch not installed")
    rng, seed = fresh_rng()
    xt = rng.standard_normal((features, rows)).astype(np.float32)
    wt = rng.standard_normal((features, out)).astype(np.float32)
    b = rng.standard_normal(out).astype(np.float32)
    g = rng.standard_normal((rows, out)).astype(np.float32)
    ours = [nc.tensor(a, requires_grad=True) for a in (xt, wt, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (xt, wt, b)]
    y = (F.linear_relu if relu else F.linear)(ours[0].T, ours[1].T, ours[2])
    yt = torch.nn.functional.linear(theirs[0].T, theirs[1].T, theirs[2])
    if relu:
        yt = torch.relu(yt)
    y.backward(nc.tensor(g))
    yt.backward(torch.from_numpy(g))
    scale = float(np.abs(yt.detach().numpy()).max())
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5,
                               atol=1e-5 * scale, err_msg=f"seed {seed}")
    for a, c in zip(ours, theirs):
        ref = c.grad.numpy()
        np.testing.assert_allclose(a.grad.numpy(), ref, rtol=1e-5,
                                   atol=1e-5 * max(float(np.abs(ref).max()), 1.0),
                                   err_msg=f"seed {seed}")
