"""NumPy-backed ops (elementwise, reductions, shapes, indexing) through the harness."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, torch


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _positive(*shapes):
    return lambda rng: [rng.uniform(0.5, 2.0, s) for s in shapes]


def _tie_free(rng, shape):
    # NOTE: max/min are not differentiable at ties; distinct values keep finite differences valid.
    return [rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.uniform(0, 0.01)]


SPECS = [
    OpSpec("add", lambda a, b: a + b, _normal((3, 4), (4,)), np.add, lambda *a: torch.add(*a),
           id="add-broadcast"),
    OpSpec("add", lambda a, b: a + b, _normal((1,), (2, 3, 1)), np.add, lambda *a: torch.add(*a),
           id="add-broadcast-both"),
    OpSpec("sub", lambda a, b: a - b, _normal((17, 1), (1, 3)), np.subtract,
           lambda *a: torch.sub(*a)),
    OpSpec("mul", lambda a, b: a * b, _normal((2, 3), (2, 3)), np.multiply,
           lambda *a: torch.mul(*a)),
    OpSpec("div", lambda a, b: a / b, lambda r: [r.standard_normal((3, 5)),
                                                  r.uniform(0.5, 2, (5,))],
           np.divide, lambda *a: torch.div(*a)),
    OpSpec("pow", lambda a, b: a**b, _positive((3, 4), (3, 4)), np.power, lambda *a: torch.pow(*a)),
    OpSpec("pow_scalar", lambda a: a**3, _normal((4, 3)), lambda a: a**3,
           lambda a: a ** 3),
    OpSpec("rsub_scalar", lambda a: 2.0 - a, _normal((5,)), lambda a: 2.0 - a,
           lambda a: 2.0 - a),
    OpSpec("rdiv_scalar", lambda a: 1.5 / a, _positive((2, 2)), lambda a: 1.5 / a,
           lambda a: 1.5 / a),
    OpSpec("neg", lambda a: -a, _normal((3,)), np.negative, lambda *a: torch.neg(*a)),
    OpSpec("exp", lambda a: a.exp(), _normal((3, 17)), np.exp, lambda *a: torch.exp(*a)),
    OpSpec("log", lambda a: a.log(), _positive((1, 5)), np.log, lambda *a: torch.log(*a)),
    OpSpec("sqrt", lambda a: a.sqrt(), _positive((4, 1)), np.sqrt, lambda *a: torch.sqrt(*a)),
    OpSpec("abs", lambda a: a.abs(), lambda r: [r.uniform(0.1, 1, (3, 3)) * r.choice([-1, 1],
                                                                                     (3, 3))],
           np.abs, lambda *a: torch.abs(*a)),
    OpSpec("clamp", lambda a: a.clamp(-0.5, 0.5), _normal((6, 7)),
           lambda a: np.clip(a, -0.5, 0.5), lambda a: a.clamp(-0.5, 0.5)),
    OpSpec("sum", lambda a: a.sum(), _normal((3, 4)), np.sum, lambda *a: torch.sum(*a)),
    OpSpec("sum_axis", lambda a: a.sum(1, keepdim=True), _normal((3, 4, 2)),
           lambda a: a.sum(1, keepdims=True), lambda a: a.sum(1, keepdim=True)),
    OpSpec("sum_axes", lambda a: a.sum((0, 2)), _normal((3, 4, 2)),
           lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2))),
    OpSpec("mean", lambda a: a.mean(-1), _normal((5, 17)), lambda a: a.mean(-1),
           lambda a: a.mean(-1)),
    OpSpec("amax", lambda a: a.amax(1), lambda r: _tie_free(r, (3, 5)),
           lambda a: a.max(1), lambda a: a.amax(1)),
    OpSpec("max_all", lambda a: a.max(), lambda r: _tie_free(r, (4, 3)), np.max,
           lambda a: a.max()),
    OpSpec("max_dim", lambda a: a.max(0).values, lambda r: _tie_free(r, (4, 3)),
           lambda a: a.max(0), lambda a: a.max(0).values),
    OpSpec("min_dim_keep", lambda a: a.min(1, keepdim=True)[0], lambda r: _tie_free(r, (2, 7)),
           lambda a: a.min(1, keepdims=True), lambda a: a.min(1, keepdim=True)[0]),
    OpSpec("reshape", lambda a: a.reshape(6, -1), _normal((3, 4)), lambda a: a.reshape(6, -1),
           lambda a: a.reshape(6, -1)),
    OpSpec("permute", lambda a: a.permute(2, 0, 1), _normal((2, 3, 4)),
           lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1)),
    OpSpec("transpose", lambda a: a.transpose(0, 2), _normal((2, 3, 4)),
           lambda a: a.swapaxes(0, 2), lambda a: a.transpose(0, 2)),
    OpSpec("flatten", lambda a: a.flatten(1), _normal((2, 3, 4)), lambda a: a.reshape(2, -1),
           lambda a: a.flatten(1)),
    OpSpec("getitem_slice", lambda a: a[1:, ::2], _normal((4, 5)), lambda a: a[1:, ::2],
           lambda a: a[1:, ::2]),
    OpSpec("getitem_fancy", lambda a: a[np.array([0, 2, 0])], _normal((3, 2)),
           lambda a: a[np.array([0, 2, 0])], lambda a: a[[0, 2, 0]]),
    OpSpec("expand", lambda a: a.expand(3, 4), _normal((1, 4)),
           lambda a: np.broadcast_to(a, (3, 4)), lambda a: a.expand(3, 4)),
    OpSpec("cat", lambda a, b: nc.cat([a, b], dim=1), _normal((2, 3), (2, 1)),
           lambda a, b: np.concatenate([a, b], 1), lambda a, b: torch.cat([a, b], 1)),
    OpSpec("stack", lambda a, b: nc.stack([a, b], dim=1), _normal((2, 3), (2, 3)),
           lambda a, b: np.stack([a, b], 1), lambda a, b: torch.stack([a, b], 1)),
    OpSpec("where", lambda a, b: nc.where(a.data > 0, a, b), _normal((3, 4), (4,)),
           lambda a, b: np.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b)),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_gradients_accumulate_and_shared_inputs() -> None:
    x = nc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 1)
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 3)


def test_leaf_gradients_accumulate_in_place_only_when_unshared() -> None:
    a = nc.tensor([1.0, 2.0], requires_grad=True)
    b = nc.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # AddFn hands both leaves the same gradient array
    assert np.shares_memory(a.grad.numpy(), b.grad.numpy())
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    held = a.grad.numpy()
    (a * 2).sum().backward()  # a caller holds the array: accumulated out of place
    np.testing.assert_array_equal(held, [4.0, 4.0])
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0])
    grad = a.grad
    (a * 1).sum().backward()  # held by the Tensor alone: accumulated in place, as PyTorch
    assert a.grad is grad
    np.testing.assert_array_equal(a.grad.numpy(), [7.0, 7.0])


def test_pooled_native_gradients_accumulate_in_place_only_when_unshared() -> None:
    shape = (201, 200)  # 157 KB: native outputs come from the buffer pool (nncore.memory)
    c = nc.tensor(np.ones(shape, np.float32), requires_grad=True)
    c.relu().sum().backward()
    assert type(c.grad.numpy().base).__name__ == "PyCapsule"
    grad = c.grad
    c.relu().sum().backward()  # the pooled array is held by c.grad alone: added in place
    assert c.grad is grad
    np.testing.assert_array_equal(c.grad.numpy(), np.full(shape, 2.0, np.float32))
    a = nc.tensor(np.ones(shape, np.float32), requires_grad=True)
    b = nc.tensor(np.ones(shape, np.float32), requires_grad=True)
    (a + b).relu().sum().backward()  # one pooled gradient array reaches both leaves
    assert np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.relu().sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(shape, 2.0, np.float32))
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(shape, np.float32))


def test_long_chain_backward_without_recursion_limit() -> None:
    x = nc.tensor(np.ones(3), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 1.0001**10_000), rtol=1e-3)


def test_no_grad_and_detach() -> None:
    x = nc.randn(3, requires_grad=True)
    with nc.no_grad():
        y = x * 2
    assert not y.requires_grad
    assert not x.detach().requires_grad
    z = x.detach() * x
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x.detach().numpy())

    @nc.no_grad()
    def f(t):
        return t + 1

    assert not f(x).requires_grad and nc.is_grad_enabled()


def test_tensor_construction_and_numpy_interop() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = nc.tensor(a)
    assert t.numpy() is not a and np.shares_memory(nc.from_numpy(a).numpy(), a)
    assert np.asarray(nc.from_numpy(a)) is a
    assert nc.tensor([1.0, 2.0]).dtype == np.float32
    assert nc.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert nc.tensor(np.zeros(2)).dtype == np.float64
    assert nc.tensor([1, 2]).dtype == np.int64
    assert nc.zeros(2, 3).shape == (2, 3) and nc.ones((4,)).numpy().sum() == 4
    assert nc.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert (nc.tensor([1.0, 2.0]) + np.ones(2, np.float32)).dtype == np.float32
    assert isinstance(np.ones(2, np.float32) + nc.tensor([1.0, 2.0]), nc.Tensor)
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        nc.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        nc.randn(3, requires_grad=True).backward()


def test_seeded_factories_repeat() -> None:
    nc.manual_seed(3)
    a = nc.randn(4, 5).detach().numpy().copy()
    nc.manual_seed(3)
    np.testing.assert_array_equal(a, nc.randn(4, 5).detach().numpy())
    assert nc.manual_seed(-1).initial_seed() == 2**64 - 1  # negative seeds wrap, as PyTorch's
    with pytest.raises(ValueError, match="manual_seed"):
        nc.manual_seed(2**64)
