"""The norm family: batch_norm and layer_norm against NumPy, finite differences and PyTorch;
the layers against torch.nn."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import nn

# ==== batch_norm ===============================================================================

_RM = np.array([0.3, -0.2, 0.1])
_RV = np.array([0.5, 1.5, 2.0])


def _bn_ref(x, w=None, b=None, training=True, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = _RM, _RV
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


def _bn(training, affine):
    def fn(x, *wb):
        rm = None if training else nc.tensor(_RM.copy(), dtype=x.dtype)
        rv = None if training else nc.tensor(_RV.copy(), dtype=x.dtype)
        return F.batch_norm(x, rm, rv, *(wb if affine else ()), training=training)

    def ref(x, *wb):
        return _bn_ref(x, *wb, training=training)

    def tfn(x, *wb):
        rm = None if training else torch.tensor(_RM, dtype=x.dtype)
        rv = None if training else torch.tensor(_RV, dtype=x.dtype)
        return torch.nn.functional.batch_norm(x, rm, rv, *wb, training=training)

    return fn, ref, tfn if torch else None


def _bn_spec(shape, training, affine):
    def make(rng):
        x = rng.standard_normal(shape) * 2 + 0.5
        return [x, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])] if affine else [x]

    fn, ref, tfn = _bn(training, affine)
    tag = f"{'train' if training else 'eval'}-{'affine' if affine else 'plain'}-{shape}"
    return OpSpec("batch_norm", fn, make, ref, tfn, torch_rtol=1e-4, id=f"batch_norm-{tag}")


BATCH_NORM_SPECS = [
    _bn_spec((4, 3), True, True),
    _bn_spec((5, 3, 4), True, False),
    _bn_spec((2, 3, 3, 5), True, True),
    _bn_spec((1, 3, 2, 3), True, True),
    _bn_spec((3, 3, 2, 3), False, True),
    _bn_spec((2, 3), False, False),
]


@pytest.mark.parametrize("spec", BATCH_NORM_SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_running_statistics_update_in_place() -> None:
    x = np.random.default_rng(0).standard_normal((6, 3, 2, 2)) * 3 + 1
    rm, rv = nc.tensor(np.zeros(3)), nc.tensor(np.ones(3))
    rm_arr = rm.numpy()
    F.batch_norm(nc.tensor(x), rm, rv, training=True, momentum=0.25)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    assert rm.numpy() is rm_arr
    np.testing.assert_allclose(rm.detach().numpy(), 0.25 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.detach().numpy(), 0.75 + 0.25 * var, rtol=1e-5)


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize(("name", "shape", "kwargs"), [
    ("BatchNorm2d", (4, 3, 5, 2), {}),
    ("BatchNorm2d", (2, 3, 3, 3), dict(momentum=None)),
    ("BatchNorm1d", (6, 3), dict(affine=False)),
    ("BatchNorm1d", (4, 3, 5), dict(eps=1e-3, momentum=0.3)),
    ("BatchNorm2d", (2, 3, 2, 2), dict(track_running_stats=False)),
])
def test_layer_train_eval_matches_torch(name, shape, kwargs) -> None:
    ours, theirs = getattr(nn, name)(3, **kwargs), getattr(torch.nn, name)(3, **kwargs)
    assert repr(ours) == repr(theirs)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in
                            ours.state_dict().items()})
    rng = np.random.default_rng(0)
    if ours.affine:
        ours.weight.data[...] = rng.standard_normal(3)
        ours.bias.data[...] = rng.standard_normal(3)
        theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in
                                ours.state_dict().items()})
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        xo, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        g = rng.standard_normal(shape).astype(np.float32)
        yo.backward(g)
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k], v, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{k} after step {step}")
    if ours.affine:
        for (n, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4,
                                       err_msg=n)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.batch_norm(nc.zeros(4), None, None, training=True),
         r"batch_norm: expected input \(N, C, \*\) of at least 2 dimensions, got shape \(4,\)"),
        (lambda: F.batch_norm(nc.zeros(4, 3), nc.zeros(2), nc.ones(2)),
         r"batch_norm: running_mean of shape \(2,\) does not match 3 channels of input shape "
         r"\(4, 3\)"),
        (lambda: F.batch_norm(nc.zeros(4, 3), None, None),
         r"batch_norm: running_mean and running_var are required when not training"),
        (lambda: F.batch_norm(nc.zeros(1, 3), None, None, training=True),
         r"batch_norm: expected more than 1 value per channel when training, got input of shape "
         r"\(1, 3\)"),
        (lambda: nn.BatchNorm2d(3)(nc.zeros(2, 3, 4)),
         r"BatchNorm2d: expected 4D input \(got 3D input of shape \(2, 3, 4\)\)"),
        (lambda: nn.BatchNorm1d(3)(nc.zeros(2, 3, 4, 4)),
         r"BatchNorm1d: expected 2D or 3D input \(got 4D input"),
    ],
)
def test_batch_norm_bad_input(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_batch_norm_native_boundary_errors() -> None:
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[batch_norm\] x: expected 3-D \(N, C, L\)"):
        nc._C.batch_norm_forward(x[0], None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"\[batch_norm\] weight: expected shape \(3,\), got "
                                         r"\(2,\)"):
        nc._C.batch_norm_forward(x, np.ones(2, np.float32), None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"\[batch_norm\] running_mean and running_var are "
                                         r"required in eval mode"):
        nc._C.batch_norm_forward(x, None, None, None, None, False, 0.1, 1e-5)
    with pytest.raises(TypeError, match=r"\[batch_norm\] running_var: expected float32, got "
                                        r"float64"):
        nc._C.batch_norm_forward(x, None, None, np.zeros(3, np.float32), np.ones(3), True, 0.1,
                                 1e-5)


# ==== end batch_norm ===========================================================================


# ==== layer_norm ==================================================================================


def _layer_norm_ref(x, *params, normalized_shape, eps=1e-5, has_weight=True):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    params = list(params)
    if has_weight and params:
        y = y * params.pop(0)
    if params:
        y = y + params.pop(0)
    return y


def _ln(has_weight=True):
    def fn(x, *params, normalized_shape, eps=1e-5):
        w = params[0] if has_weight and params else None
        b = params[-1] if len(params) == 2 or (params and not has_weight) else None
        return F.layer_norm(x, normalized_shape, w, b, eps)

    def ref(x, *params, normalized_shape, eps=1e-5):
        return _layer_norm_ref(x, *params, normalized_shape=normalized_shape, eps=eps,
                               has_weight=has_weight)

    def oracle(x, *params, normalized_shape, eps=1e-5):
        w = params[0] if has_weight and params else None
        b = params[-1] if len(params) == 2 or (params and not has_weight) else None
        return torch.nn.functional.layer_norm(x, normalized_shape, w, b, eps)

    return fn, ref, oracle if torch else None


def _ln_inputs(x_shape, norm_shape, params):
    def make(rng):
        out = [rng.standard_normal(x_shape) * 2 + 0.5]
        out += [rng.standard_normal(norm_shape) for _ in range(params)]
        return out
    return make


def _ln_spec(x_shape, norm_shape, params, id, has_weight=True, eps=1e-5):
    fn, ref, oracle = _ln(has_weight)
    return OpSpec("layer_norm", fn, _ln_inputs(x_shape, norm_shape, params), ref, oracle,
                  kwargs={"normalized_shape": norm_shape, "eps": eps}, torch_rtol=1e-4, id=id)


LAYER_NORM_SPECS = [
    _ln_spec((5, 7), (7,), 2, "layer_norm-affine"),
    _ln_spec((2, 3, 4), (3, 4), 2, "layer_norm-2-dims"),
    _ln_spec((3, 17), (17,), 0, "layer_norm-no-affine"),
    _ln_spec((4, 5), (5,), 1, "layer_norm-weight-only"),
    _ln_spec((4, 5), (5,), 1, "layer_norm-bias-only", has_weight=False),
    _ln_spec((1, 1), (1,), 2, "layer_norm-1x1"),
    _ln_spec((3,), (3,), 2, "layer_norm-1d", eps=0.1),
    _ln_spec((2, 40), (40,), 2, "layer_norm-lanes-and-tail"),
]


@pytest.mark.parametrize("spec", LAYER_NORM_SPECS, ids=str)
def test_layer_norm_op(spec: OpSpec) -> None:
    check_op(spec)


@pytest.mark.parametrize(("elementwise_affine", "bias"), [(True, True), (True, False),
                                                          (False, True)])
def test_layer_norm_layer_vs_torch(elementwise_affine: bool, bias: bool) -> None:
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    ours = nn.LayerNorm((3, 6), eps=1e-4, elementwise_affine=elementwise_affine, bias=bias)
    theirs = torch.nn.LayerNorm((3, 6), eps=1e-4, elementwise_affine=elementwise_affine,
                                bias=bias)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for p in ours.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in
                            ours.state_dict().items()})
    x = rng.standard_normal((4, 3, 6)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xn, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(xn).backward(g)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours(xn).detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4,
                               err_msg=f"seed {seed}")
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def test_layer_norm_same_result_for_one_and_two_threads() -> None:
    threads = nc.get_num_threads()
    rng, _ = fresh_rng()
    x = rng.standard_normal((300, 130)).astype(np.float32)
    results = []
    try:
        for n in (1, 2):
            nc.set_num_threads(n)
            layer = nn.LayerNorm(130)
            xn = nc.tensor(x, requires_grad=True)
            y = layer(xn)
            y.backward(x)
            results.append([y.detach().numpy(), xn.grad.numpy(), layer.weight.grad.numpy(),
                            layer.bias.grad.numpy()])
    finally:
        nc.set_num_threads(threads)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_layer_norm_bad_input() -> None:
    x = nc.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"layer_norm: input of shape \(2, 3, 4\) does not end "
                                         r"with normalized_shape \(3,\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"layer_norm: weight of shape \(3,\) does not match "
                                         r"normalized_shape \(4,\)"):
        F.layer_norm(x, 4, nc.ones(3))
    with pytest.raises(TypeError, match="layer_norm: expected one dtype"):
        F.layer_norm(x, 4, nc.ones(4).double())
    with pytest.raises(TypeError, match="layer_norm: input must be float32 or float64"):
        F.layer_norm(nc.tensor([[1, 2]]), 2)
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape must be non-empty"):
        nn.LayerNorm(())


def test_layer_norm_native_boundary_errors() -> None:
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[layer_norm\] weight: expected shape \(3,\)"):
        nc._C.layer_norm_forward(x, np.ones(4, np.float32), None, 1e-5)
    with pytest.raises(TypeError, match=r"\[layer_norm\] weight: expected float32"):
        nc._C.layer_norm_forward(x, np.ones(3), None, 1e-5)
    with pytest.raises(ValueError, match=r"\[layer_norm\] x: expected 2-D"):
        nc._C.layer_norm_forward(np.zeros(3, np.float32), None, None, 1e-5)
    with pytest.raises(ValueError, match=r"\[layer_norm\] mean, rstd: expected shape \(2,\)"):
        nc._C.layer_norm_backward(x, x, None, np.zeros(3, np.float32), np.zeros(2, np.float32))



# add_layer_norm: layer_norm of input + residual, the gradient of the sum going to both.


def _add_ln_fn(x, r, *params, normalized_shape, eps=1e-5):
    w, b = (params + (None, None))[:2]
    return F.add_layer_norm(x, r, normalized_shape, w, b, eps)


def _add_ln_ref(x, r, *params, normalized_shape, eps=1e-5):
    return _layer_norm_ref(x + r, *params, normalized_shape=normalized_shape, eps=eps)


def _add_ln_torch(x, r, *params, normalized_shape, eps=1e-5):
    w, b = (params + (None, None))[:2]
    return torch.nn.functional.layer_norm(x + r, normalized_shape, w, b, eps)


def _add_ln_spec(x_shape, norm_shape, params, id):
    def make(rng):
        return [rng.standard_normal(x_shape) * 2 + 0.5, rng.standard_normal(x_shape)] + [
            rng.standard_normal(norm_shape) for _ in range(params)]
    return OpSpec("add_layer_norm", _add_ln_fn, make, _add_ln_ref,
                  _add_ln_torch if torch else None, kwargs={"normalized_shape": norm_shape},
                  torch_rtol=1e-4, id=id)


ADD_LAYER_NORM_SPECS = [
    _add_ln_spec((5, 7), (7,), 2, "add_layer_norm-affine"),
    _add_ln_spec((2, 3, 4), (3, 4), 1, "add_layer_norm-2-dims-weight-only"),
    _add_ln_spec((3, 17), (17,), 0, "add_layer_norm-no-affine"),
    _add_ln_spec((1, 1), (1,), 2, "add_layer_norm-1x1"),
    _add_ln_spec((2, 40), (40,), 2, "add_layer_norm-lanes-and-tail"),
]


@pytest.mark.parametrize("spec", ADD_LAYER_NORM_SPECS, ids=str)
def test_add_layer_norm_op(spec: OpSpec) -> None:
    check_op(spec)


def test_add_layer_norm_is_add_then_layer_norm_bitwise() -> None:
    rng = np.random.default_rng(0)
    x, r = (rng.standard_normal((9, 33)).astype(np.float32) for _ in range(2))
    w, b = (rng.standard_normal(33).astype(np.float32) for _ in range(2))
    g = rng.standard_normal((9, 33)).astype(np.float32)
    fused = [nc.tensor(a, requires_grad=True) for a in (x, r, w, b)]
    plain = [nc.tensor(a, requires_grad=True) for a in (x, r, w, b)]
    y1 = F.add_layer_norm(fused[0], fused[1], 33, fused[2], fused[3])
    y2 = F.layer_norm(plain[0] + plain[1], 33, plain[2], plain[3])
    np.testing.assert_array_equal(y1.detach().numpy(), y2.detach().numpy())
    y1.backward(g)
    y2.backward(g)
    for a, c in zip(fused, plain):
        np.testing.assert_array_equal(a.grad.numpy(), c.grad.numpy())


def test_add_layer_norm_errors() -> None:
    x = nc.zeros(2, 3)
    with pytest.raises(ValueError, match=r"add_layer_norm: residual \(2, 1\) float32 does not "
                                         r"match input \(2, 3\) float32"):
        F.add_layer_norm(x, nc.zeros(2, 1), 3)
    with pytest.raises(ValueError, match=r"add_layer_norm: input of shape \(2, 3\) does not end"):
        F.add_layer_norm(x, x, 4)
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[add_layer_norm\] residual: expected the shape of x"):
        nc._C.add_layer_norm_forward(a, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[add_layer_norm\] mean, rstd: expected shape"):
        nc._C.add_layer_norm_backward(a, a, None, np.zeros(3, np.float32),
                                      np.zeros(2, np.float32))
    # A bad sum is named as the binding's argument, not as layer_norm's x.
    stats = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match=r"\[add_layer_norm\] sum: expected 2-D"):
        nc._C.add_layer_norm_backward(a.reshape(6), a.reshape(6), None, stats, stats)
    with pytest.raises(ValueError, match=r"\[add_layer_norm\] sum: expected a C-contiguous"):
        nc._C.add_layer_norm_backward(a, np.zeros((3, 2), np.float32).T, None, stats, stats)
    with pytest.raises(TypeError, match=r"\[add_layer_norm\] sum: expected float32 or"):
        nc._C.add_layer_norm_backward(a, np.zeros((2, 3), np.int64), None, stats, stats)

# ==== end layer_norm ==============================================================================

SPECS = BATCH_NORM_SPECS + LAYER_NORM_SPECS + ADD_LAYER_NORM_SPECS
