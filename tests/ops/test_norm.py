"""The norm family: batch_norm and layer_norm against NumPy, finite differences and PyTorch;
the layers against torch.nn."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import nn

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
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in
                            ours.state_dict().items()})
    x = rng.standard_normal((4, 3, 6)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xn, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(xn).backward(g)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours(xn).numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
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
            results.append([y.numpy(), xn.grad.numpy(), layer.weight.grad.numpy(),
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


# ==== end layer_norm ==============================================================================

SPECS = LAYER_NORM_SPECS
