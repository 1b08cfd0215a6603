"""Grad modes (no_grad, enable_grad, set_grad_enabled, inference_mode) and autograd.grad
against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc


def _libs():
    tt = pytest.importorskip("torch")
    return (nc, tt)


def test_set_grad_enabled_as_call_context_and_decorator_like_torch() -> None:
    for lib in _libs():
        x = lib.ones(2, requires_grad=True)
        lib.set_grad_enabled(False)
        assert not lib.is_grad_enabled() and not (x * 2).requires_grad
        lib.set_grad_enabled(True)
        assert lib.is_grad_enabled()
        with lib.set_grad_enabled(False):
            assert not (x * 2).requires_grad
            with lib.set_grad_enabled(True):
                assert (x * 2).requires_grad
            assert not lib.is_grad_enabled()
        assert lib.is_grad_enabled()

        @lib.set_grad_enabled(False)
        def f(t):
            return t * 2

        assert lib.is_grad_enabled()  # the decorator switches only inside the function
        assert not f(x).requires_grad and lib.is_grad_enabled()


def test_no_grad_and_enable_grad_bare_decorators_and_generators_like_torch() -> None:
    for lib in _libs():
        x = lib.ones(2, requires_grad=True)

        @lib.no_grad
        def f(t):
            return t * 2

        @lib.no_grad()
        def gen(t, lib=lib):
            for _ in range(2):
                yield (t * 2).requires_grad, lib.is_grad_enabled()

        @lib.enable_grad
        def g(t):
            return t * 2

        assert not f(x).requires_grad and lib.is_grad_enabled()
        steps = gen(x)
        assert next(steps) == (False, False)
        assert lib.is_grad_enabled()  # restored between the generator's steps
        assert next(steps) == (False, False)
        with lib.no_grad():
            assert g(x).requires_grad and not lib.is_grad_enabled()


def test_inference_mode_like_torch() -> None:
    for lib in _libs():
        x = lib.ones(2, requires_grad=True)
        assert not lib.is_inference_mode_enabled()
        with lib.inference_mode():
            assert lib.is_inference_mode_enabled() and not lib.is_grad_enabled()
            assert not (x * 2).requires_grad
            with lib.inference_mode(False):
                assert not lib.is_inference_mode_enabled() and lib.is_grad_enabled()
            assert lib.is_inference_mode_enabled()
        with lib.inference_mode(mode=False):
            assert (x * 2).requires_grad
        assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()

        @lib.inference_mode
        def f(t, lib=lib):
            return (t * 2).requires_grad, lib.is_inference_mode_enabled()

        @lib.inference_mode()
        def g(t):
            return (t * 2).requires_grad

        assert f(x) == (False, True) and g(x) is False
        assert lib.is_grad_enabled()


def test_modes_restore_after_exceptions() -> None:
    with pytest.raises(ValueError):
        with nc.no_grad():
            raise ValueError
    with pytest.raises(ValueError):
        with nc.inference_mode():
            raise ValueError
    assert nc.is_grad_enabled() and not nc.is_inference_mode_enabled()


# ---- autograd.grad ---------------------------------------------------------------------------


def _graph(lib, a0, b0):
    a = lib.tensor(a0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=True)
    h = (a * b).tanh()
    y = (h * h).sum() + b.exp().sum()
    z = (h * 3).sum()
    return a, b, h, y, z


def test_grad_matches_torch_and_leaves_dot_grad_alone() -> None:
    tt = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(3)
    na, nb, nh, ny, nz = _graph(nc, a0, b0)
    ta, tb, th, ty, tz = _graph(tt, a0, b0)
    ours = nc.autograd.grad(ny, [na, nb, nh], retain_graph=True)
    theirs = tt.autograd.grad(ty, [ta, tb, th], retain_graph=True)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12)
        assert not o.requires_grad
    assert na.grad is None and nb.grad is None
    # several outputs with explicit gradients, non-leaf and leaf inputs
    w = rng.standard_normal(())
    ours = nc.autograd.grad([ny, nz], (nh, na), grad_outputs=[nc.tensor(w), None])
    theirs = tt.autograd.grad([ty, tz], (th, ta), grad_outputs=[tt.tensor(w), None])
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        nc.autograd.grad(ny, na)


def test_grad_unused_inputs_and_errors_like_torch() -> None:
    for lib in _libs():
        x = lib.ones(3, requires_grad=True)
        u = lib.ones(2, requires_grad=True)
        y = (x * 2).sum()
        with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
            lib.autograd.grad(y, [x, u], retain_graph=True)
        gx, gu = lib.autograd.grad(y, [x, u], allow_unused=True, retain_graph=True)
        assert gu is None and gx.tolist() == [2.0, 2.0, 2.0]
        gx, gu = lib.autograd.grad(y, [x, u], materialize_grads=True, retain_graph=True)
        assert gu.tolist() == [0.0, 0.0]
        with pytest.raises(RuntimeError, match="does not require grad"):
            lib.autograd.grad(y, [lib.ones(2)], retain_graph=True)
        with pytest.raises(RuntimeError, match="does not require grad"):
            lib.autograd.grad(lib.ones(2).sum(), [x])
        with pytest.raises(RuntimeError, match="only for scalar outputs"):
            lib.autograd.grad(x * 2, [x])
    with pytest.raises(NotImplementedError, match="create_graph"):
        nc.autograd.grad((nc.ones(1, requires_grad=True) * 2).sum(), [], create_graph=True)


def test_grad_of_a_network_loss_matches_backward() -> None:
    nc.manual_seed(0)
    model = nc.nn.Sequential(nc.nn.Linear(4, 8), nc.nn.ReLU(), nc.nn.Linear(8, 2))
    x = nc.randn(5, 4)
    loss = model(x).pow(2).mean()
    grads = nc.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    assert all(p.grad is None for p in model.parameters())
    loss.backward()
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-6)


def test_hooks_on_non_leaf_tensors_run_like_torch() -> None:
    for lib in _libs():
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        seen = []
        y.register_hook(lambda g, seen=seen: seen.append(g.tolist()) or g * 10)
        (y * y).sum().backward()
        assert seen == [[4.0, 4.0, 4.0]]
        assert x.grad.tolist() == [80.0, 80.0, 80.0]
