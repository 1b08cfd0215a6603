"""Drop-in norm family: group_norm (on the native layer-norm kernel), instance_norm,
local_response_norm and their layers against NumPy, float64 finite differences and
PyTorch; signatures of the functional forms; errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from dropin_compare import assert_same_signature, compare_module
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import nn

TF = torch.nn.functional if torch else None


def group_norm_ref(x, num_groups, weight=None, bias=None, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, num_groups, -1)
    y = ((g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + eps))
    y = y.reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def lrn_ref(x, size, alpha=1e-4, beta=0.75, k=1.0):
    c = x.shape[1]
    sq = x * x
    s = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(ch - size // 2, 0), min(ch + (size - 1) // 2, c - 1)
        s[:, ch] = sq[:, lo:hi + 1].sum(axis=1)
    return x / (k + alpha / size * s) ** beta


def _specs() -> list[OpSpec]:
    specs = []
    for shape, groups, affine in [((2, 6, 3, 2), 3, "wb"), ((3, 4, 5), 2, "w"), ((2, 6), 6, ""),
                                  ((1, 4, 3, 3), 1, "wb"), ((2, 6, 1, 1), 3, "b"),
                                  ((2, 5, 7), 5, "wb")]:
        def make(r, shape=shape, affine=affine):
            c = shape[1]
            return [r.standard_normal(shape) * 2 + 1] + [r.standard_normal(c) for _ in affine]

        def fn(x, *p, num_groups, affine=affine, mod=F):
            names = {"wb": ("weight", "bias"), "w": ("weight",), "b": ("bias",), "": ()}
            return mod.group_norm(x, num_groups, **dict(zip(names[affine], p)), eps=1e-5)

        specs.append(OpSpec(
            "group_norm", fn, make,
            lambda x, *p, num_groups, fn=fn: fn(x, *p, num_groups=num_groups, mod=_RefNS),
            # NOTE: PyTorch 2.13's backward of group_norm with a bias and no weight raises
            # ("tensor does not have a device"); that case is checked against NumPy and finite
            # differences only.
            (lambda x, *p, num_groups, fn=fn: fn(x, *p, num_groups=num_groups, mod=TF))
            if torch and affine != "b" else None, dict(num_groups=groups), torch_rtol=1e-4,
            id=f"group_norm-{shape}-G{groups}-{affine or 'plain'}"))
    for shape, affine in [((2, 3, 5), True), ((1, 4, 3, 2), False), ((3, 2, 2, 2, 2), True)]:
        def make_in(r, shape=shape, affine=affine):
            c = shape[1]
            extra = [r.standard_normal(c), r.standard_normal(c)] if affine else []
            return [r.standard_normal(shape)] + extra

        def ref_in(x, *p):
            c = x.shape[1]
            return group_norm_ref(x, c, *p)

        specs.append(OpSpec("instance_norm", lambda x, *p: F.instance_norm(x, None, None, *p),
                            make_in, ref_in,
                            (lambda x, *p: TF.instance_norm(x, None, None, *p)) if torch
                            else None, torch_rtol=1e-4, id=f"instance_norm-{shape}-{affine}"))
    for shape, size, kw in [((2, 5, 3), 3, {}), ((1, 4, 2, 3), 2, dict(alpha=0.5, beta=0.6,
                                                                        k=2.0)),
                            ((2, 3, 4), 7, dict(alpha=1.0)), ((1, 6, 2, 2, 2), 5, {}),
                            ((2, 3, 3), 1, dict(alpha=0.3))]:
        def make_lrn(r, shape=shape):
            return [r.standard_normal(shape)]

        specs.append(OpSpec("local_response_norm", F.local_response_norm, make_lrn, lrn_ref,
                            TF and TF.local_response_norm, dict(size=size, **kw),
                            id=f"local_response_norm-{shape}-{size}-{kw}"))
    return specs


class _RefNS:
    group_norm = staticmethod(group_norm_ref)


@pytest.mark.parametrize("spec", _specs(), ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_group_norm_reuses_layer_norm_bits() -> None:
    # G groups of a (N, C, L) input are layer_norm over the (N, G, C / G * L) view: same kernel,
    # so the same bits.
    rng, _ = fresh_rng()
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    a = F.group_norm(nc.tensor(x), 2).numpy()
    b = F.layer_norm(nc.tensor(x.reshape(3, 2, 15)), (15,)).numpy().reshape(x.shape)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_instance_norm_running_stats_match_torch(momentum: float) -> None:
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    x = rng.standard_normal((4, 3, 5, 2)) * 3 + 1
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    nrm, nrv = nc.tensor(rm.copy()), nc.tensor(rv.copy())
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    y = F.instance_norm(nc.tensor(x), nrm, nrv, momentum=momentum)
    ty = TF.instance_norm(torch.tensor(x), trm, trv, momentum=momentum)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nrm.numpy(), trm.numpy(), rtol=1e-12, atol=1e-14,
                               err_msg=f"seed {seed}")
    np.testing.assert_allclose(nrv.numpy(), trv.numpy(), rtol=1e-12, atol=1e-14,
                               err_msg=f"seed {seed}")
    w = rng.standard_normal(3)
    y = F.instance_norm(nc.tensor(x), nrm, nrv, nc.tensor(w), use_input_stats=False)
    ty = TF.instance_norm(torch.tensor(x), trm, trv, torch.tensor(w), use_input_stats=False)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12, atol=1e-12)


_LAYERS = [
    ("GroupNorm", (3, 6), {}, (2, 6, 4, 3)),
    ("GroupNorm", (2, 4), dict(affine=False), (3, 4, 5)),
    ("GroupNorm", (2, 4), dict(bias=False), (3, 4)),
    ("InstanceNorm1d", (3,), {}, (2, 3, 7)),
    ("InstanceNorm1d", (3,), dict(affine=True), (3, 7)),
    ("InstanceNorm2d", (3,), dict(affine=True, track_running_stats=True), (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), dict(track_running_stats=True, momentum=None), (3, 4, 5)),
    ("InstanceNorm2d", (3,), dict(affine=True, bias=False), (2, 3, 4, 5)),
    ("InstanceNorm3d", (2,), dict(affine=True, track_running_stats=True), (2, 2, 3, 2, 2)),
    ("BatchNorm3d", (3,), {}, (2, 3, 2, 3, 2)),
    ("LocalResponseNorm", (3,), dict(alpha=0.2, beta=0.5, k=1.5), (2, 5, 3, 3)),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), _LAYERS)
def test_layer_matches_torch(name, args, kwargs, shape) -> None:
    pytest.importorskip("torch")
    factory = {} if name == "LocalResponseNorm" else dict(dtype=torch.float64)
    ours = getattr(nn, name)(*args, **kwargs, **({} if not factory else dict(dtype=nc.float64)))
    theirs = getattr(torch.nn, name)(*args, **kwargs, **factory)
    assert repr(ours) == repr(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    rng, _ = fresh_rng()
    for _ in range(2):  # twice: the running statistics are updated, then used
        for training in (True, False):
            ours.train(training)
            theirs.train(training)
            compare_module(ours, theirs, [rng.standard_normal(shape)])
        mine = ours.state_dict()
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(np.asarray(getattr(mine[key], "_array", mine[key])),
                                       value.numpy(), rtol=1e-12, atol=1e-14, err_msg=key)


def test_layers_default_dtype_and_device() -> None:
    assert nn.GroupNorm(2, 4).weight.dtype == nc.float32
    assert nn.InstanceNorm1d(3, affine=True, track_running_stats=True).running_var.dtype == \
        nc.float32
    nc.set_default_dtype(nc.float64)
    try:
        assert nn.GroupNorm(2, 4).weight.dtype == nc.float64
        assert nn.InstanceNorm2d(3, affine=True).bias.dtype == nc.float64
    finally:
        nc.set_default_dtype(nc.float32)
    with pytest.raises(NotImplementedError, match="GroupNorm: device 'cuda:0'"):
        nn.GroupNorm(2, 4, device="cuda:0")


@pytest.mark.parametrize(("name", "ours"), [
    ("batch_norm", F.batch_norm), ("layer_norm", F.layer_norm), ("group_norm", F.group_norm),
    ("instance_norm", F.instance_norm), ("local_response_norm", F.local_response_norm)])
def test_functional_signatures_match_torch(name, ours) -> None:
    pytest.importorskip("torch")
    assert_same_signature(ours, getattr(TF, name))


def test_layer_norm_with_bias_none_as_nanogpt_calls_it() -> None:
    pytest.importorskip("torch")
    rng, _ = fresh_rng()
    x, w = rng.standard_normal((2, 5, 8)), rng.standard_normal(8)
    spec = OpSpec("layer_norm", lambda a, b: F.layer_norm(a, b.shape, b, None, 1e-5),
                  lambda r: [x, w], None,
                  lambda a, b: TF.layer_norm(a, b.shape, b, None, 1e-5), torch_rtol=1e-4)
    check_op(spec)


def test_instance_norm_feature_mismatch_as_torch() -> None:
    with pytest.raises(ValueError, match=r"InstanceNorm1d: expected input's size at dim=1 to "
                                         r"match num_features \(4\), but got: 3"):
        nn.InstanceNorm1d(4, affine=True)(nc.zeros(2, 3, 5))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(4)(nc.randn(2, 3, 5))
    with pytest.warns(UserWarning, match="at dim=0 does not match"):
        nn.InstanceNorm2d(3)(nc.randn(2, 3, 5))  # 3-D is an unbatched (C, H, W) input
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.InstanceNorm1d(3)(nc.randn(3, 5))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: F.group_norm(nc.zeros(2, 4, 5), 3), RuntimeError,
         r"group_norm: expected number of channels in input to be divisible by num_groups, but "
         r"got input of shape \(2, 4, 5\) and num_groups=3"),
        (lambda: F.group_norm(nc.zeros(2, 4, 5), 2, nc.ones(3)), RuntimeError,
         r"group_norm: expected weight to be a vector of size equal to the number of channels"),
        (lambda: F.group_norm(nc.zeros(4), 2), RuntimeError,
         r"group_norm: expected at least 2 dimensions for input tensor but received 1"),
        (lambda: F.group_norm(nc.zeros(2, 4, dtype=nc.float64), 2, nc.ones(4)), TypeError,
         r"group_norm: expected one dtype, but input is float64 and weight is float32"),
        (lambda: nn.GroupNorm(3, 4), ValueError,
         r"num_channels \(4\) must be divisible by num_groups \(3\)"),
        (lambda: F.instance_norm(nc.zeros(2, 3, 1)), ValueError,
         r"instance_norm: expected more than 1 spatial element when training, got input size "
         r"\(2, 3, 1\)"),
        (lambda: F.instance_norm(nc.zeros(2, 3, 4), use_input_stats=False), ValueError,
         r"instance_norm: running_mean and running_var are required"),
        (lambda: F.instance_norm(nc.zeros(2, 3, 4), nc.zeros(2)), ValueError,
         r"instance_norm: running_mean of shape \(2,\) does not match 3 channels"),
        (lambda: nn.InstanceNorm2d(3)(nc.zeros(2, 3)), ValueError,
         r"InstanceNorm2d: expected 3D or 4D input \(got 2D input"),
        (lambda: F.local_response_norm(nc.zeros(2, 3), 2), ValueError,
         r"local_response_norm: expected 3D or higher dimensionality input \(got 2 dimensions"),
    ],
)
def test_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
