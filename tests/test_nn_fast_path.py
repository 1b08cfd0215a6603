"""The hot path of Linear and Sequential (Linear then ReLU run as one linear_relu op; ReLU then a
max pool run as the pool then the ReLU): the same bits, gradients, hooks and errors as the plain
path, and as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim


def _plain_forward(self, input):
    for module in self:
        input = module(input)
    return input


def _train(fused: bool, threads: int, batch: int, seed: int, cnn: bool = False) -> list:
    """Outputs, gradients and parameters of three steps of an MLP with two Linear+ReLU pairs
    (SGD), or with ``cnn`` of a CNN with three ReLU+max-pool pairs (Adam) on inputs rounded to
    a coarse grid so that windows hold ties, zeros and negatives."""
    nc.set_num_threads(threads)
    nc.manual_seed(seed)
    if cnn:
        model = _cnn()
        opt = optim.Adam(model.parameters(), lr=0.05)
    else:
        model = nn.Sequential(nn.Flatten(), nn.Linear(49, 17), nn.ReLU(), nn.Linear(17, 5),
                              nn.ReLU(), nn.Linear(5, 3))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(3):
        if cnn:
            x = np.round(rng.standard_normal((batch, 2, 11, 9)) * 2) / 2
        else:
            x = rng.standard_normal((batch, 1, 7, 7))
        x = nc.Tensor._wrap(x.astype(np.float32))
        y = nc.Tensor._wrap(rng.integers(0, 3, batch))
        out = model(x) if fused else _plain_forward(model, x)
        loss = nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        seen += [p.grad.numpy().copy() for p in model.parameters()]
        opt.step()
        seen.append(out.detach().numpy().copy())
    return seen + [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 17, 64])
def test_fused_sequential_same_bits_as_layer_by_layer(threads: int, batch: int) -> None:
    prev = nc.get_num_threads()
    try:
        fused, plain = _train(True, threads, batch, 5), _train(False, threads, batch, 5)
    finally:
        nc.set_num_threads(prev)
    assert len(fused) == len(plain)
    for a, b in zip(fused, plain):
        assert a.tobytes() == b.tobytes()


def test_fused_sequential_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    nc.manual_seed(0)
    ours = nn.Sequential(nn.Linear(13, 9), nn.ReLU(), nn.Linear(9, 4))
    theirs = torch.nn.Sequential(torch.nn.Linear(13, 9), torch.nn.ReLU(), torch.nn.Linear(9, 4))
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in
                            ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((6, 13)).astype(np.float32)
    x[0, :] = np.nan  # NaN propagates through the fused ReLU, as through torch's
    out = ours(nc.Tensor._wrap(x))
    ref = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()  # the NaN row's gradient passes the ReLU, as in torch
    ref.sum().backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_hooks_see_the_linear_output() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(out.detach().numpy()))
    x = nc.Tensor._wrap(np.array([[1.0, -2.0, 3.0, -4.0]], np.float32))
    out = model(x)
    assert len(seen) == 1
    np.testing.assert_array_equal(out.detach().numpy(), np.maximum(seen[0], 0))


def test_instance_forward_and_subclass_are_called() -> None:
    class Doubling(nn.ReLU):
        def forward(self, input):
            return super().forward(input) * 2

    x = nc.Tensor._wrap(np.ones((2, 4), np.float32))
    nc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), Doubling())
    nc.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    np.testing.assert_array_equal(model(x).detach().numpy(), 2 * plain(x).detach().numpy())
    calls = []
    lin = plain[0]
    lin.forward = lambda input: calls.append(1) or nn.Linear.forward(lin, input)
    plain(x)
    assert calls == [1]


def test_linear_bad_input_errors_unchanged() -> None:
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="linear: input of shape"):
        lin(nc.Tensor._wrap(np.ones((2, 5), np.float32)))
    with pytest.raises(TypeError, match="linear: input must be float32 or float64"):
        lin(nc.Tensor._wrap(np.ones((2, 4), np.int64)))
    with pytest.raises(TypeError, match="linear: expected one dtype"):
        lin(nc.Tensor._wrap(np.ones((2, 4), np.float64)))
    with pytest.raises(TypeError, match="linear: input must be a Tensor"):
        lin(np.ones((2, 4), np.float32))
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    with pytest.raises(ValueError, match="input of shape"):
        seq(nc.Tensor._wrap(np.ones((2, 5), np.float32)))


def test_linear_without_bias_and_replaced_weight() -> None:
    torch = pytest.importorskip("torch")
    lin = nn.Linear(5, 2, bias=False)
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    w0 = torch.from_numpy(lin.weight.detach().numpy())
    ref = torch.nn.functional.linear(torch.from_numpy(x), w0)
    np.testing.assert_allclose(lin(nc.Tensor._wrap(x)).detach().numpy(), ref.numpy(), rtol=1e-6)
    # a plain attribute in place of the parameter (PyTorch allows it after del)
    w = nc.Tensor._wrap(np.ones((2, 5), np.float32))
    del lin.weight
    lin.weight = w
    np.testing.assert_allclose(lin(nc.Tensor._wrap(x)).numpy(), x @ np.ones((5, 2)), rtol=1e-5,
                               atol=1e-5)


def test_linear_relu_pair_runs_as_one_op() -> None:
    # guards the comparisons above: the default path is the fused one, the hooked one is not
    from nncore.ops.activation import ReluFn
    from nncore.ops.linear import LinearReluFn

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    x = nc.Tensor._wrap(np.ones((2, 4), np.float32))
    assert type(model(x)._ctx) is LinearReluFn
    assert type(_plain_forward(model, x)._ctx) is ReluFn
    model[1].register_forward_pre_hook(lambda m, args: None)
    assert type(model(x)._ctx) is ReluFn


def _cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(5, 4, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                         nn.Flatten(1, 2), nn.ReLU(), nn.MaxPool1d(2, 1), nn.Flatten(),
                         nn.Linear(4 * 2 * 1, 3))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 17])
def test_relu_then_max_pool_same_bits_as_layer_by_layer(threads: int, batch: int) -> None:
    prev = nc.get_num_threads()
    try:
        fused = _train(True, threads, batch, 3, cnn=True)
        plain = _train(False, threads, batch, 3, cnn=True)
    finally:
        nc.set_num_threads(prev)
    assert len(fused) == len(plain)
    for a, b in zip(fused, plain):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("pool", ["2d", "1d"])
def test_relu_then_max_pool_matches_torch_with_nan_ties_and_zeros(pool: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    shape = (3, 4, 7, 6) if pool == "2d" else (3, 4, 9)
    x = rng.integers(-2, 3, shape).astype(np.float32)  # ties, zeros (ReLU's kink), negatives
    x.reshape(-1)[[0, 5, 40]] = np.nan
    x.reshape(-1)[[7, 9]] = -0.0
    ours = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, 1, 1) if pool == "2d" else nn.MaxPool1d(3, 2))
    mod = torch.nn.MaxPool2d(2, 1, 1) if pool == "2d" else torch.nn.MaxPool1d(3, 2)
    theirs = torch.nn.Sequential(torch.nn.ReLU(), mod)
    xn = nc.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, ref = ours(xn), theirs(xt)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(nc.tensor(g))
    ref.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(xn.grad.numpy(), xt.grad.numpy())


def test_relu_then_max_pool_runs_pool_first_unless_observed() -> None:
    from nncore.ops.activation import ReluFn
    from nncore.ops.conv import MaxPool2dFn

    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    x = nc.tensor(np.arange(-8.0, 8.0, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    out = model(x)
    assert type(out._ctx) is ReluFn and type(out._ctx.parents[0]) is MaxPool2dFn
    assert type(_plain_forward(model, x)._ctx) is MaxPool2dFn
    # the ReLU's output is observable through a hook: layer by layer, and the hook sees it
    seen = []
    model[0].register_forward_hook(lambda m, args, o: seen.append(o.detach().numpy()))
    out = model(x)
    assert type(out._ctx) is MaxPool2dFn and seen[0].shape == (1, 1, 4, 4)
    # with return_indices the indices are those of the ReLU's output (the first of a window of
    # zeros, as PyTorch), not those of the pool before the ReLU ([5, 7] in the top row)
    both = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True))(x)
    assert isinstance(both, tuple) and both[1].numpy().tolist() == [[[[0, 2], [13, 15]]]]
