"""``nn.utils`` (gradient clipping, parameter vectors, sequence padding) and ``nn.init``
against PyTorch: values, in-place rules, distributions, generators, errors and warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore import nn

torch = pytest.importorskip("torch")


# ---- nn.utils -------------------------------------------------------------------------------


def test_clip_grad_norm_scales_the_same_grad_tensors_like_torch() -> None:
    rng, seed = fresh_rng()
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,)]]
    ours = [nn.Parameter(nc.zeros(*g.shape)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(*g.shape)) for g in grads]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad, tp.grad = nc.tensor(g), torch.tensor(g)
    held = [p.grad for p in ours]
    total = nn.utils.clip_grad_norm_(iter(ours), 0.5, foreach=True)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    assert [p.grad for p in ours] == held  # the same Tensor objects, new values
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-6, err_msg=f"seed {seed}")
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)
    norm = nn.utils.get_total_norm([p.grad for p in ours], norm_type=math.inf)
    t_norm = torch.nn.utils.get_total_norm([p.grad for p in theirs], norm_type=math.inf)
    np.testing.assert_allclose(norm.item(), t_norm.item(), rtol=1e-6)
    nn.utils.clip_grads_with_norm_(ours, 0.1, norm)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.1, t_norm)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        nn.utils.clip_grad_norm(ours, 1.0)
    with pytest.warns(UserWarning, match="empty generator"):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)


def test_parameters_to_vector_and_back_match_torch() -> None:
    ours = nn.Linear(3, 2)
    theirs = torch.nn.Linear(3, 2)
    ours.load_state_dict(theirs.state_dict())
    vec = nn.utils.parameters_to_vector(ours.parameters())
    t_vec = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(vec.numpy(force=True), t_vec.detach().numpy())
    (vec * vec).sum().backward()  # differentiable, as torch.cat of views
    np.testing.assert_allclose(ours.weight.grad.numpy(), 2 * ours.weight.numpy(force=True))
    new = nc.arange(8, dtype=nc.float32)
    nn.utils.vector_to_parameters(new, ours.parameters())
    assert ours.weight.numpy(force=True).tolist() == [[0, 1, 2], [3, 4, 5]]
    new[7] = -1.0  # the parameters share the vector's memory, as in PyTorch
    assert ours.bias.numpy(force=True).tolist() == [6.0, -1.0]
    with pytest.raises(TypeError, match="expected torch.Tensor, but got"):
        nn.utils.vector_to_parameters([1.0], ours.parameters())


@pytest.mark.parametrize(("batch_first", "side"), [(False, "right"), (True, "left")])
def test_pad_sequence_matches_torch(batch_first, side) -> None:
    from nncore.nn.utils.rnn import pad_sequence, unpad_sequence

    rng = np.random.default_rng(4)
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (2, 5, 1)]
    ours = [nc.tensor(s, requires_grad=True) for s in seqs]
    theirs = [torch.tensor(s, requires_grad=True) for s in seqs]
    y = pad_sequence(ours, batch_first=batch_first, padding_value=-1.0, padding_side=side)
    yt = torch.nn.utils.rnn.pad_sequence(theirs, batch_first=batch_first, padding_value=-1.0,
                                         padding_side=side)
    np.testing.assert_array_equal(y.detach().numpy(), yt.detach().numpy())
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    if side == "right":
        back = unpad_sequence(y, nc.tensor([2, 5, 1]), batch_first=batch_first)
        for a, s in zip(back, seqs):
            np.testing.assert_array_equal(a.detach().numpy(), s)
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        pad_sequence([])
    with pytest.raises(NotImplementedError, match="pack_padded_sequence: packed sequences"):
        nn.utils.rnn.pack_padded_sequence(y, [2, 5, 1])


def test_skip_init_builds_the_module() -> None:
    m = nn.utils.skip_init(nn.Linear, 3, 2)
    assert isinstance(m, nn.Linear) and m.weight.shape == (2, 3)


# ---- nn.init --------------------------------------------------------------------------------


def test_calculate_gain_and_fans_match_torch() -> None:
    names = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
             "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    for name in names:
        assert nn.init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain(
        "leaky_relu", 0.2)
    for shape in [(3, 4), (5, 2, 3, 3), (2, 7, 4)]:
        assert nn.init._calculate_fan_in_and_fan_out(nc.zeros(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    for call in (lambda i, z: i.calculate_gain("leaky_relu", "x"),
                 lambda i, z: i.calculate_gain("swish"),
                 lambda i, z: i.kaiming_uniform_(z(3, 4), mode="fan_avg"),
                 lambda i, z: i.xavier_normal_(z(3)), lambda i, z: i.eye_(z(2, 2, 2)),
                 lambda i, z: i.dirac_(z(2, 2)), lambda i, z: i.dirac_(z(3, 2, 3), groups=2),
                 lambda i, z: i.orthogonal_(z(3)), lambda i, z: i.sparse_(z(2, 2, 2), 0.5)):
        errors = []
        for init, zeros in ((nn.init, nc.zeros), (torch.nn.init, torch.zeros)):
            with pytest.raises(ValueError) as info:
                call(init, zeros)
            errors.append(str(info.value))
        assert errors[0] == errors[1]


def test_deterministic_inits_equal_torch() -> None:
    for name, shape, kw in [("eye_", (3, 5), {}), ("dirac_", (4, 2, 3), {}),
                            ("dirac_", (6, 2, 3, 3), {"groups": 2}), ("dirac_", (2, 3, 1, 3, 3),
                                                                       {}),
                            ("constant_", (2, 3), {"val": 0.3}), ("ones_", (4,), {}),
                            ("zeros_", (2, 2), {})]:
        ours = getattr(nn.init, name)(nc.empty(*shape), **kw)
        theirs = getattr(torch.nn.init, name)(torch.empty(*shape), **kw)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)


def _moments(t) -> tuple[float, float]:
    a = t.numpy(force=True).astype(np.float64)
    return a.mean(), a.std()


@pytest.mark.parametrize(("name", "kw", "mean", "std", "bounds"), [
    ("uniform_", {"a": -1.0, "b": 3.0}, 1.0, 4 / math.sqrt(12), (-1.0, 3.0)),
    ("normal_", {"mean": 2.0, "std": 0.5}, 2.0, 0.5, None),
    ("xavier_uniform_", {"gain": 2.0}, 0.0, 2 * math.sqrt(2 / (300 + 200)), None),
    ("xavier_normal_", {}, 0.0, math.sqrt(2 / 500), None),
    ("kaiming_uniform_", {"a": 0.2, "mode": "fan_out"}, 0.0,
     math.sqrt(2 / (1 + 0.04)) / math.sqrt(200), None),
    ("kaiming_normal_", {"nonlinearity": "relu"}, 0.0, math.sqrt(2 / 300), None),
    ("trunc_normal_", {"mean": 0.5, "std": 1.0, "a": 0.0, "b": 1.0}, None, None, (0.0, 1.0)),
    ("trunc_normal_", {"std": 0.02}, 0.0, 0.02, (-2.0, 2.0)),
    ("trunc_normal_", {"mean": 0.0, "std": 1.0, "a": 2.0, "b": 2.5}, None, None, (2.0, 2.5)),
])
def test_random_inits_have_torch_distribution(name, kw, mean, std, bounds) -> None:
    ours = getattr(nn.init, name)(nn.Parameter(nc.empty(200, 300)), **kw)
    theirs = getattr(torch.nn.init, name)(torch.empty(200, 300), **kw)
    assert isinstance(ours, nn.Parameter) and ours.requires_grad and ours.grad_fn is None
    m, s = _moments(ours)
    tm, ts = theirs.mean().item(), theirs.std().item()
    scale = max(abs(ts), 1e-3)
    assert abs(m - tm) < 0.02 * scale + 0.01 * abs(tm) + 1e-3, (m, tm)
    assert abs(s - ts) < 0.02 * scale, (s, ts)
    if mean is not None:
        assert abs(m - mean) < 0.02 * std + 1e-3 and abs(s - std) < 0.02 * std
    if bounds is not None:
        a = ours.numpy(force=True)
        assert a.min() >= bounds[0] and a.max() <= bounds[1]
        # the quantiles of the two samples agree (a two-sample check of the whole shape)
        qs = np.linspace(0.05, 0.95, 10)
        np.testing.assert_allclose(np.quantile(a, qs), np.quantile(theirs.numpy(), qs),
                                   atol=0.02 * (bounds[1] - bounds[0]))


def test_orthogonal_sparse_and_generators() -> None:
    for shape in [(4, 6), (6, 4), (3, 2, 5)]:
        q = nn.init.orthogonal_(nc.empty(*shape), gain=2.0).numpy().reshape(shape[0], -1)
        small = min(q.shape)
        gram = q @ q.T if q.shape[0] == small else q.T @ q
        np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-5)
    s = nn.init.sparse_(nc.empty(10, 7), sparsity=0.3, std=0.1).numpy()
    assert all((s[:, c] == 0).sum() == 3 for c in range(7))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    a = nn.init.kaiming_normal_(nc.empty(4, 3), generator=g1)
    b = nn.init.kaiming_normal_(nc.empty(4, 3), generator=g2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    nc.manual_seed(9)
    c = nn.init.trunc_normal_(nc.empty(50))
    nc.manual_seed(9)
    np.testing.assert_array_equal(c.numpy(), nn.init.trunc_normal_(nc.empty(50)).numpy())
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.init.kaiming_uniform_(nc.empty(0, 3))
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        nn.init.trunc_normal_(nc.empty(5), mean=10.0, a=-1.0, b=1.0)
    with pytest.warns(FutureWarning, match="nn.init.uniform` is now deprecated"):
        nn.init.uniform(nc.empty(2))
    p = nn.Parameter(nc.zeros(2, 2))
    version = p._version
    y = p * 2  # an op that saved p: an init after it makes that backward raise, as in torch
    nn.init.ones_(p)
    assert p._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
