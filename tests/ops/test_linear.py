"""The linear family: matmul and linear against NumPy, finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch


def _normal(*shape):
    return lambda rng: [rng.standard_normal(s) for s in shape]


def _torch_linear(x, w, b=None):
    return torch.nn.functional.linear(x, w, b)


def _torch_linear_relu(x, w, b=None):
    return torch.relu(torch.nn.functional.linear(x, w, b))


SPECS = [
    OpSpec("linear", F.linear, _normal((5, 7), (3, 7), (3,)),
           lambda x, w, b: x @ w.T + b, _torch_linear, id="linear-bias"),
    OpSpec("linear", F.linear, _normal((1, 1), (1, 1)),
           lambda x, w: x @ w.T, _torch_linear, id="linear-1x1-nobias"),
    OpSpec("linear", F.linear, _normal((2, 3, 17), (4, 17), (4,)),
           lambda x, w, b: x @ w.T + b, _torch_linear, id="linear-3d-input"),
    OpSpec("linear", F.linear, _normal((17,), (3, 17), (3,)),
           lambda x, w, b: x @ w.T + b, _torch_linear, id="linear-1d-input"),
    OpSpec("linear_relu", F.linear_relu, _normal((5, 7), (3, 7), (3,)),
           lambda x, w, b: np.maximum(x @ w.T + b, 0), _torch_linear_relu, id="linear-relu-bias"),
    OpSpec("linear_relu", F.linear_relu, _normal((2, 3, 17), (4, 17)),
           lambda x, w: np.maximum(x @ w.T, 0), _torch_linear_relu, id="linear-relu-3d-nobias"),
    OpSpec("linear_relu", F.linear_relu, _normal((1, 1), (1, 1), (1,)),
           lambda x, w, b: np.maximum(x @ w.T + b, 0), _torch_linear_relu, id="linear-relu-1x1"),
    OpSpec("linear_relu", F.linear_relu, _normal((9,), (5, 9), (5,)),
           lambda x, w, b: np.maximum(x @ w.T + b, 0), _torch_linear_relu, id="linear-relu-1d"),
    # 65 rows, 70 in, 100 out: the small-batch paths (linear.cpp: tiled forward, in-place input
    # gradient, on AVX-512 tiled weight gradient from 64 rows summed), float32 and float64.
    OpSpec("linear_relu", F.linear_relu, _normal((65, 70), (100, 70), (100,)),
           lambda x, w, b: np.maximum(x @ w.T + b, 0), _torch_linear_relu,
           id="linear-relu-65x70-100"),
    OpSpec("linear", F.linear, _normal((2, 33, 67), (96, 67), (96,)),
           lambda x, w, b: x @ w.T + b, _torch_linear, id="linear-3d-66-rows"),
    OpSpec("linear", F.linear, _normal((37, 129), (131, 129)),
           lambda x, w: x @ w.T, _torch_linear, id="linear-37x129-131-nobias"),
    OpSpec("matmul", F.matmul, _normal((3, 17), (17, 5)), np.matmul, torch.matmul if torch else
           None, id="matmul-2d"),
    OpSpec("matmul", F.matmul, _normal((2, 3, 4), (2, 4, 1)), np.matmul,
           torch.matmul if torch else None, id="matmul-batched"),
    OpSpec("matmul", F.matmul, _normal((4, 1, 3, 5), (2, 5, 3)), np.matmul,
           torch.matmul if torch else None, id="matmul-broadcast"),
    OpSpec("matmul", F.matmul, _normal((5,), (3, 5, 2)), np.matmul,
           torch.matmul if torch else None, id="matmul-1d-left"),
    OpSpec("matmul", F.matmul, _normal((2, 3, 5), (5,)), np.matmul,
           torch.matmul if torch else None, id="matmul-1d-right"),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_operator_matmul_matches_function() -> None:
    a, b = nc.randn(3, 4), nc.randn(4, 2)
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (((3, 5), (4, 6)), ValueError, r"linear: input of shape \(3, 5\) does not match weight"),
    ],
)
def test_linear_bad_shapes(args, error, match) -> None:
    x, w = (nc.zeros(*s) for s in args)
    with pytest.raises(error, match=match):
        F.linear(x, w)


def test_linear_bad_bias_and_dtype() -> None:
    x, w = nc.zeros(2, 3), nc.zeros(4, 3)
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
        F.linear(x, w, nc.zeros(3))
    with pytest.raises(TypeError, match="linear: expected one dtype, but input is float64"):
        F.linear(x.double(), w)
    with pytest.raises(TypeError, match="linear: input must be float32 or float64, got int64"):
        F.linear(nc.tensor([[1, 2, 3]]), w)


def test_matmul_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot"):
        F.matmul(nc.zeros(2, 3), nc.zeros(4, 5))
    with pytest.raises(ValueError, match="matmul: batch dimensions"):
        F.matmul(nc.zeros(2, 2, 3), nc.zeros(3, 3, 1))


def test_native_boundary_errors() -> None:
    """The binding itself refuses wrong dtypes, ranks and layouts with the op's name."""
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match=r"\[matmul\] b: expected float32, got float64"):
        nc._C.matmul_forward(a, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\[matmul\] shapes \(3, 4\) and \(3, 2\)"):
        nc._C.matmul_forward(a, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"\[matmul\] a: expected a C-contiguous"):
        nc._C.matmul_forward(np.zeros((4, 3), np.float32).T, np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"\[linear\] x: expected float32 or float64, got int64"):
        nc._C.linear_forward(np.zeros((2, 3), np.int64), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\[linear\] x has 3 features but weight expects 5"):
        nc._C.linear_forward(np.zeros((2, 3)), np.zeros((4, 5)))


@pytest.mark.parametrize("rows, features, out", [(33, 19, 21), (300, 40, 200)])
def test_linear_relu_is_linear_then_relu_bitwise(rows, features, out) -> None:
    """Same bits as the two ops it fuses, forward and backward, NaN included."""
    rng, seed = fresh_rng()
    x, w, b = (rng.standard_normal(s).astype(np.float32)
               for s in ((rows, features), (out, features), (out,)))
    x[3, 4] = np.nan
    g = rng.standard_normal((rows, out)).astype(np.float32)
    fused = [nc.tensor(a, requires_grad=True) for a in (x, w, b)]
    plain = [nc.tensor(a, requires_grad=True) for a in (x, w, b)]
    y1 = F.linear_relu(*fused)
    y2 = F.relu(F.linear(*plain))
    np.testing.assert_array_equal(y1.detach().numpy(), y2.detach().numpy(), f"seed {seed}")
    y1.backward(g)
    y2.backward(g)
    for a, c in zip(fused, plain):
        np.testing.assert_array_equal(a.grad.numpy(), c.grad.numpy(), f"seed {seed}")


@pytest.mark.parametrize("rows", [1, 64, 300])
def test_bias_gradient_same_bits_for_any_thread_count(rows) -> None:
    """The bias gradient sums fixed blocks of rows, in parallel when large enough: the same
    bits at 1 and 2 threads, for linear and for linear_relu (whose mask comes from y)."""
    rng, seed = fresh_rng()
    out, features = 200, 40
    x = rng.standard_normal((rows, features)).astype(np.float32)
    w = rng.standard_normal((out, features)).astype(np.float32)
    y = np.maximum(rng.standard_normal((rows, out)), 0).astype(np.float32)
    dy = rng.standard_normal((rows, out)).astype(np.float32)
    threads = nc.get_num_threads()
    sums = []
    try:
        for t in (1, 2):
            nc.set_num_threads(t)
            sums.append((nc._C.linear_backward(dy, x, w, False, False, True)[2],
                         nc._C.linear_relu_backward(dy, y, x, w, False, False, True)[2]))
    finally:
        nc.set_num_threads(threads)
    for one, two in zip(*sums):
        np.testing.assert_array_equal(one, two, f"seed {seed}")
    dy64 = dy.astype(np.float64)
    np.testing.assert_allclose(sums[0][0], dy64.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sums[0][1], np.where(y > 0, dy64, 0).sum(axis=0), rtol=1e-5,
                               atol=1e-5)


def test_linear_relu_errors() -> None:
    with pytest.raises(ValueError, match=r"linear_relu: input of shape \(2, 3\) does not match"):
        F.linear_relu(nc.zeros(2, 3), nc.zeros(4, 5))
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[linear_relu\] x has 3 features but weight expects 5"):
        nc._C.linear_relu_forward(a, np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"\[linear_relu\] dy, y: expected shape \(2, 4\)"):
        nc._C.linear_relu_backward(np.zeros((2, 5), np.float32), np.zeros((2, 4), np.float32), a,
                                   np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, features, out", [(300, 37, 45), (257, 600, 40), (260, 40, 2000)])
def test_tall_products_match_numpy_at_any_thread_count(dtype, rows, features, out) -> None:
    """Tall products (>= 256 rows) run the tiled GEMM (linear.cpp): a partial column strip,
    several k blocks, several column blocks. Forward and input gradient against NumPy in
    float64, and the same bits at 1 and 2 threads."""
    rng, seed = fresh_rng()
    x = rng.standard_normal((rows, features)).astype(dtype)
    w = rng.standard_normal((out, features)).astype(dtype)
    b = rng.standard_normal(out).astype(dtype)
    dy = rng.standard_normal((rows, out)).astype(dtype)
    threads = nc.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            nc.set_num_threads(t)
            results.append((nc._C.linear_forward(x, w, b),
                            nc._C.linear_backward(dy, x, w, True, False, False)[0]))
    finally:
        nc.set_num_threads(threads)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two, f"seed {seed}")
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(results[0][0], x64 @ w64.T + b, **tol, err_msg=f"seed {seed}")
    np.testing.assert_allclose(results[0][1], dy64 @ w64, **tol, err_msg=f"seed {seed}")


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("x_shape, w_shape", [
    ((5, 5, 5), (0, 5)), ((300, 40), (0, 40)), ((1, 3), (0, 3)),  # no output features
    ((0, 6), (4, 6)), ((2, 0, 17), (3, 17)),  # no rows: PyTorch returns an empty result
    ((4, 0), (3, 0)), ((3, 0), (0, 0)), ((0, 2, 0), (3, 0)),  # no input features: y = bias
])
def test_empty_shapes_match_torch(x_shape, w_shape, relu) -> None:
    """Empty inputs, weights with zero output features and zero input features: PyTorch's
    results and gradients (zero weight and bias gradients from no rows). A zero-feature weight
    once divided by zero column blocks (SIGFPE, found by tools/fuzz.py)."""
    rng, seed = fresh_rng()
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[:1]).astype(np.float32)
    xn, wn, bn = (nc.tensor(a, requires_grad=True) for a in (x, w, b))
    fn = F.linear_relu if relu else F.linear
    y = fn(xn, wn, bn)
    (y * 2.0).sum().backward()
    assert y.shape == (*x_shape[:-1], w_shape[0])
    if torch is None:
        pytest.skip("PyTorch not installed: shapes checked, values not compared")
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt)
    if relu:
        yt = torch.relu(yt)
    (yt * 2.0).sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), yt.detach().numpy(), f"seed {seed}")
    for ours, theirs in ((xn, xt), (wn, wt), (bn, bt)):
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy(), f"seed {seed}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, features, out", [(300, 37, 45), (257, 600, 40), (770, 129, 70)])
def test_backward_all_gradients_at_once_same_bits_as_one_by_one(dtype, rows, features, out
                                                                 ) -> None:
    """dx, dw and db asked together run as one fused pool job (linear.cpp): the same bits as
    each asked alone, at 1, 2 and 3 threads, and NumPy's values in float64."""
    rng, seed = fresh_rng()
    x = rng.standard_normal((rows, features)).astype(dtype)
    w = rng.standard_normal((out, features)).astype(dtype)
    dy = rng.standard_normal((rows, out)).astype(dtype)
    threads = nc.get_num_threads()
    together, alone = [], []
    try:
        for t in (1, 2, 3):
            nc.set_num_threads(t)
            together.append(nc._C.linear_backward(dy, x, w, True, True, True))
            alone.append(tuple(nc._C.linear_backward(dy, x, w, *(j == i for j in range(3)))[i]
                               for i in range(3)))
    finally:
        nc.set_num_threads(threads)
    for got in together[1:] + alone:
        for a, b in zip(together[0], got):
            np.testing.assert_array_equal(a, b, f"seed {seed}")
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for got, want in zip(together[0], (dy64 @ w64, dy64.T @ x64, dy64.sum(axis=0))):
        np.testing.assert_allclose(got, want, **tol, err_msg=f"seed {seed}")
