"""PyTorch-style custom autograd Functions (static forward(ctx, ...) / backward(ctx, ...) over
Tensors, or forward + setup_context) against PyTorch 2.13 and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc

torch = pytest.importorskip("torch")


def _scaled_square(lib):
    class ScaledSquare(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, alpha):
            ctx.set_materialize_grads(False)  # accepted as in PyTorch (one output: no effect)
            ctx.save_for_backward(x)
            ctx.alpha = alpha
            return x * x * alpha

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 2 * x * ctx.alpha, None

    return ScaledSquare


def _clamp_mul(lib):
    class ClampMul(lib.autograd.Function):
        @staticmethod
        def forward(x, w, lo):
            return (x * w).clamp(min=lo)

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, w, lo = inputs
            ctx.save_for_backward(x, w, output)
            ctx.lo = lo

        @staticmethod
        def backward(ctx, grad):
            x, w, out = ctx.saved_tensors
            g = grad * (out > ctx.lo)
            return (g * w if ctx.needs_input_grad[0] else None,
                    g * x if ctx.needs_input_grad[1] else None, None)

    return ClampMul


@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 5)])
def test_ctx_style_matches_pytorch(shape) -> None:
    rng = np.random.default_rng()
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    outs = []
    for lib in (nc, torch):
        t = lib.tensor(x, requires_grad=True)
        y = _scaled_square(lib).apply(t, 1.5)
        (y * lib.tensor(g)).sum().backward()
        outs.append((y.detach().numpy(), t.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-6)


def test_setup_context_style_and_needs_input_grad_match_pytorch() -> None:
    rng = np.random.default_rng()
    x = rng.standard_normal((4, 7)).astype(np.float32)
    w = rng.standard_normal((4, 7)).astype(np.float32)
    res = []
    for lib in (nc, torch):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w)  # w needs no grad
        y = _clamp_mul(lib).apply(xt, wt, -0.2)
        y.pow(2).sum().backward()
        res.append((y.detach().numpy(), xt.grad.numpy(), wt.grad))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-6)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-6)
    assert res[0][2] is None and res[1][2] is None


def test_gradient_against_finite_differences_float64() -> None:
    rng = np.random.default_rng()
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((3, 5))
    fn = _clamp_mul(nc)
    xt = nc.tensor(x, requires_grad=True)
    fn.apply(xt, nc.tensor(w), -0.5).sum().backward()
    eps, num = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        hi = np.maximum((x + d) * w, -0.5).sum()
        lo = np.maximum((x - d) * w, -0.5).sum()
        num[i] = (hi - lo) / (2 * eps)
    np.testing.assert_allclose(xt.grad.numpy(), num, rtol=1e-5, atol=1e-7)


def test_in_a_network_with_accumulation() -> None:
    fn = _scaled_square(nc)
    lin = nc.nn.Linear(5, 3)
    x = nc.randn(4, 5)
    for _ in range(2):
        (fn.apply(lin(x), 0.5).mean() / 2).backward()
    ref = lin.weight.grad.numpy().copy()
    lin.zero_grad()
    (fn.apply(lin(x), 0.5).mean()).backward()
    np.testing.assert_allclose(ref, lin.weight.grad.numpy(), rtol=1e-6)


def test_no_record_without_grad_and_non_differentiable_outputs() -> None:
    fn = _scaled_square(nc)
    assert not fn.apply(nc.randn(3), 2.0).requires_grad
    with nc.no_grad():
        assert not fn.apply(nc.randn(3, requires_grad=True), 2.0).requires_grad

    class Argmax(nc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.argmax(0).float()
            ctx.mark_non_differentiable(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            return None

    assert not Argmax.apply(nc.randn(4, requires_grad=True)).requires_grad


def test_errors_are_pytorch_like() -> None:
    class TooFew(nc.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return grad

    a, b = nc.randn(3, requires_grad=True), nc.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooFew.apply(a, b).sum().backward()

    class BadShape(nc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return nc.ones(5)

    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        BadShape.apply(nc.randn(3, requires_grad=True)).sum().backward()

    class Two(nc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x, x * 2

    with pytest.raises(NotImplementedError, match="several outputs"):
        Two.apply(nc.randn(3, requires_grad=True))
    with pytest.raises(TypeError, match="keyword"):
        _scaled_square(nc).apply(nc.randn(3), alpha=2.0)


def test_saved_input_modified_in_place_is_detected() -> None:
    fn = _scaled_square(nc)
    x = nc.randn(4, requires_grad=True)
    h = x * 1.0
    y = fn.apply(h, 3.0)
    with nc.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_once_differentiable_and_ctx_type_are_exposed() -> None:
    assert nc.autograd.once_differentiable(len) is len
    assert issubclass(nc.autograd.FunctionCtx, nc.autograd.Function)


def test_onnx_export_refuses_a_custom_function(tmp_path) -> None:
    pytest.importorskip("onnx")
    fn = _scaled_square(nc)

    class Net(nc.nn.Module):
        def forward(self, x):
            return fn.apply(x, 2.0)

    with pytest.raises(NotImplementedError, match="FunctionCtx"):
        nc.onnx.export(Net(), (nc.randn(2, 3),), str(tmp_path / "m.onnx"))
