"""The optim family: fused native steps against their NumPy references and torch.optim, state_dict
round trips, gradient clipping, and argument errors. (Schedules: test_lr_scheduler.py; the
Optimizer API, LBFGS and PyTorch state dicts: test_optim_dropin.py.)"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng, torch
from nncore import _C, optim
from nncore.nn import Parameter
from nncore.nn.utils import clip_grad_norm_, clip_grad_value_
from nncore.optim import lr_scheduler

# Odd shapes; the last is large enough for the OpenMP path of every kernel.
SHAPES = [(1,), (3,), (17, 5), (2, 3, 4), (4, 1), (97, 211)]
NO_GRAD = 3  # this param never gets a gradient
SOMETIMES = 1  # this param gets a gradient on even steps only
STEPS = 8  # RAdam rectifies from its sixth step on

CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.05, momentum=0.5, nesterov=True, maximize=True)),
    (optim.SGD, dict(lr=0.1, weight_decay=0.2, maximize=True)),
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.02, amsgrad=True, weight_decay=0.05)),
    (optim.Adam, dict(lr=0.01, betas=(0.3, 0.6), maximize=True)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, eps=1e-3)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    (optim.RMSprop, dict(lr=0.01, centered=True, alpha=0.3)),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5, maximize=True, eps=1e-4)),
    (optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.2, weight_decay=0.1)),
    (optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3, maximize=True)),
    (optim.Adadelta, dict(lr=1.0)),
    (optim.Adadelta, dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1)),
    (optim.Adadelta, dict(lr=2.0, rho=0.95, maximize=True, weight_decay=0.05)),
    (optim.Adamax, dict(lr=0.01)),
    (optim.Adamax, dict(lr=0.02, betas=(0.5, 0.8), eps=1e-3, weight_decay=0.1)),
    (optim.Adamax, dict(lr=0.01, weight_decay=0.05, maximize=True)),
    (optim.NAdam, dict(lr=0.01)),
    (optim.NAdam, dict(lr=0.02, betas=(0.6, 0.7), momentum_decay=0.1, weight_decay=0.1)),
    (optim.NAdam, dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True, maximize=True)),
    (optim.NAdam, dict(lr=0.01, eps=1e-3, momentum_decay=0.0)),
    (optim.RAdam, dict(lr=0.01)),
    (optim.RAdam, dict(lr=0.02, betas=(0.7, 0.8), eps=1e-3, weight_decay=0.1)),
    (optim.RAdam, dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True, maximize=True)),
    (optim.ASGD, dict(lr=0.05)),
    (optim.ASGD, dict(lr=0.05, lambd=0.1, alpha=0.5, t0=2.0, weight_decay=0.1)),
    (optim.ASGD, dict(lr=0.02, t0=0.0, maximize=True)),
    (optim.Rprop, dict(lr=0.01)),
    (optim.Rprop, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.08))),
    (optim.Rprop, dict(lr=0.02, maximize=True)),
]
CASE_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for cls, kw in CASES]
DTYPES = [np.float32, np.float64]
# The native kernels these cases exercise (tests/test_coverage.py checks none is left out).
NATIVE_STEPS = sorted({cls._kernel.__name__ for cls, _ in CASES})


def _tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _state_tol(expected, tol):
    """Moment buffers can grow to ~20 (RMSprop's momentum of g / sqrt(avg g^2)): compare them
    relative to their own scale."""
    return dict(rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(expected)))))


def _problem(rng, dtype):
    """Initial values and per-step gradients (None where a param gets no gradient)."""
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[None if i == NO_GRAD or (i == SOMETIMES and t % 2) else
              rng.standard_normal(s).astype(dtype) for i, s in enumerate(SHAPES)]
             for t in range(STEPS)]
    return init, grads


def _groups(params, kwargs):
    """Two param groups; the second overrides the learning rate."""
    half = len(params) // 2
    return [{"params": params[:half]}, {"params": params[half:], "lr": kwargs["lr"] * 0.5}]


def _run_nncore(cls, kwargs, init, grads):
    params = [Parameter(a.copy(), dtype=a.dtype) for a in init]
    opt = cls(_groups(params, kwargs), **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else nc.Tensor(g, dtype=g.dtype)
        opt.step()
    return params, opt


def _reference_class(cls):
    """``cls`` with its step running the NumPy ``_step_reference`` instead of the native one."""
    return type(f"{cls.__name__}Reference", (cls,),
                {"_kernel": staticmethod(cls._step_reference)})


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=CASE_IDS)
def test_native_step_matches_reference(cls, kwargs, dtype):
    rng, seed = fresh_rng()
    init, grads = _problem(rng, dtype)
    native, native_opt = _run_nncore(cls, kwargs, init, grads)
    ref, ref_opt = _run_nncore(_reference_class(cls), kwargs, init, grads)
    for i, (a, b) in enumerate(zip(native, ref)):
        assert a.data.dtype == dtype and a.data.shape == SHAPES[i]
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-6,
                                   err_msg=f"{cls.__name__} param {i} (seed {seed})")
        for key, value in native_opt.state[a].items():
            expected = ref_opt.state[b][key]
            np.testing.assert_allclose(value, expected, **_state_tol(expected, 1e-6),
                                       err_msg=f"{cls.__name__} state {key} of {i} (seed {seed})")
    assert float(native_opt.state[native[NO_GRAD]].get("step", 0)) == 0
    np.testing.assert_array_equal(native[NO_GRAD].data, init[NO_GRAD])


def _torch_optimizer(cls, kwargs, params):
    name = cls.__name__
    kw = dict(kwargs)
    return getattr(torch.optim, name)(_groups(params, kw), foreach=False, **kw)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=CASE_IDS)
def test_matches_torch_after_five_steps(cls, kwargs, dtype):
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    init, grads = _problem(rng, dtype)
    params, opt = _run_nncore(cls, kwargs, init, grads)
    t_params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    t_opt = _torch_optimizer(cls, kwargs, t_params)
    for step_grads in grads:
        for p, g in zip(t_params, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        t_opt.step()
    tol = _tol(dtype)
    t_state = t_opt.state_dict()["state"]
    ours = opt.state_dict()["state"]
    assert sorted(ours) == sorted(t_state)
    for i, (p, tp) in enumerate(zip(params, t_params)):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **tol,
                                   err_msg=f"{cls.__name__} param {i} vs torch (seed {seed})")
    for i, t_st in t_state.items():
        assert set(ours[i]) == set(t_st), f"state keys of param {i}"
        for key, value in t_st.items():
            expected = value.detach().numpy()
            np.testing.assert_allclose(ours[i][key], expected,
                                       **_state_tol(expected, tol["rtol"]),
                                       err_msg=f"{cls.__name__} state {key} of {i} (seed {seed})")


@pytest.mark.parametrize(("cls", "kwargs"), CASES[1::2], ids=CASE_IDS[1::2])
def test_state_dict_round_trip_continues_identically(cls, kwargs):
    rng, seed = fresh_rng()
    init, grads = _problem(rng, np.float64)
    params, opt = _run_nncore(cls, kwargs, init, grads[:3])
    saved = copy.deepcopy(opt.state_dict())
    clones = [Parameter(p.detach().numpy().copy(), dtype=p.dtype) for p in params]
    other = cls(_groups(clones, {**kwargs, "lr": 0.5}), **{**kwargs, "lr": 0.5})
    other.load_state_dict(saved)
    assert [g["lr"] for g in other.param_groups] == [g["lr"] for g in opt.param_groups]
    for arrays in saved["state"].values():  # loading copied the arrays
        for value in arrays.values():
            if isinstance(value, nc.Tensor):
                value.numpy()[...] = np.nan
    for step_grads in grads[3:]:
        for p, q, g in zip(params, clones, step_grads):
            p.grad = q.grad = None if g is None else nc.Tensor(g, dtype=g.dtype)
        opt.step()
        other.step()
    for i, (p, q) in enumerate(zip(params, clones)):
        np.testing.assert_array_equal(p.data, q.data, err_msg=f"param {i} (seed {seed})")


def test_state_dict_indices_and_load_errors():
    a, b, c = (Parameter(np.ones(n)) for n in (2, 3, 4))
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (a, c):
        p.grad = nc.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sorted(sd["state"]) == [0, 2]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="2 parameter groups, the optimizer has 1"):
        optim.SGD([a, b, c], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameter group 0 has 2 params in the state dict, 1"):
        optim.SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1).load_state_dict(sd)


def test_grads_converted_and_mixed_dtypes():
    """float64 or non-contiguous gradients are used as contiguous arrays of the param dtype, and a
    group mixing float32 and float64 params updates both."""
    rng, seed = fresh_rng()
    shapes = [(3, 5), (4, 2), (7,)]
    dtypes = [np.float32, np.float64, np.float32]
    init = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    grads = [rng.standard_normal(s[::-1]).T for s in shapes[:2]] + [rng.standard_normal(7)]
    params = [Parameter(a.copy(), dtype=a.dtype) for a in init]
    for p, g in zip(params, grads):
        p.grad = nc.Tensor(g, dtype=np.float64)
    optim.Adam(params, lr=0.1, weight_decay=0.1).step()
    for p, a, g in zip(params, init, grads):
        expected = [a.copy()]
        g = np.ascontiguousarray(g, dtype=a.dtype)
        optim.Adam._step_reference(expected, [g], [np.zeros_like(a)], [np.zeros_like(a)], [],
                                   [1.0], 0.1, 0.9, 0.999, 1e-8, 0.1, False, False, False)
        assert p.data.dtype == a.dtype
        np.testing.assert_allclose(p.data, expected[0], rtol=1e-6, atol=1e-6,
                                   err_msg=f"seed {seed}")


def test_threads_do_not_change_results():
    rng, _ = fresh_rng()
    p0 = rng.standard_normal((300, 301))
    g = rng.standard_normal(p0.shape)
    results = []
    before = nc.get_num_threads()
    try:
        for n in (1, 2):
            nc.set_num_threads(n)
            p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
            _C.adam_step([p], [g], [m], [v], [], [1.0], 0.1, 0.9, 0.999, 1e-8, 0.0, False,
                         False, False)
            results.append(p)
    finally:
        nc.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


def test_zero_grad_add_param_group_and_closure():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    shared = np.full(3, 2.0, dtype=np.float32)
    a.grad = nc.Tensor(shared)
    opt = optim.Adagrad([a], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, 0.0)
    np.testing.assert_array_equal(shared, 2.0)  # not zeroed in place
    opt.zero_grad()
    assert a.grad is None
    opt.add_param_group({"params": b, "lr": 1.0})
    assert opt.param_groups[1]["lr_decay"] == 0.0 and opt.param_groups[1]["lr"] == 1.0

    def closure():
        loss = (a * a).sum() + (b * b).sum()
        loss.backward()
        return loss

    with nc.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    # Adagrad's first step moves every element by lr * sign(grad).
    np.testing.assert_allclose(a.data, 0.9, rtol=1e-6)
    np.testing.assert_allclose(b.data, 0.0, atol=1e-6)


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "match"), [
    (lambda p: optim.SGD(p, lr=-0.1), "SGD: invalid learning rate -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "SGD: invalid momentum"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), "invalid learning rate -1.0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "invalid beta parameter at index 1"),
    (lambda p: optim.AdamW(p, eps=-1e-8), "AdamW: invalid epsilon value"),
    (lambda p: optim.Adam(p, weight_decay=-1), "invalid weight_decay"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "RMSprop: invalid alpha"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Adagrad: invalid lr_decay"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Adadelta: invalid rho value 1.5"),
    (lambda p: optim.Adadelta(p, eps=-1.0), "Adadelta: invalid epsilon value"),
    (lambda p: optim.Adamax(p, betas=(0.9, 1.0)), "Adamax: invalid beta parameter at index 1"),
    (lambda p: optim.NAdam(p, momentum_decay=-0.1), "NAdam: invalid momentum_decay"),
    (lambda p: optim.RAdam(p, lr=-1.0), "RAdam: invalid learning rate"),
    (lambda p: optim.ASGD(p, weight_decay=-1.0), "ASGD: invalid weight_decay"),
    (lambda p: optim.Rprop(p, etas=(1.2, 0.5)), r"Rprop: invalid eta values 1.2, 0.5"),
    (lambda p: optim.LBFGS(p, lr=-1.0), "LBFGS: invalid learning rate"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([{"params": p}, {"params": p[:1]}], lr=0.1),
     "more than one parameter group"),
    (lambda p: lr_scheduler.ReduceLROnPlateau(optim.SGD(p, lr=0.1), factor=1.0),
     "factor should be < 1.0"),
    (lambda p: lr_scheduler.ReduceLROnPlateau(optim.SGD(p, lr=0.1), mode="avg"),
     "mode 'avg' is unknown"),
])
def test_bad_hyperparameters_raise_value_error(make, match):
    params = [Parameter(np.ones(2)), Parameter(np.ones(3))]
    with pytest.raises(ValueError, match=match):
        make(params)


def test_bad_params_raise_type_error():
    p = Parameter(np.ones(2))
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, got a Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collection"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors, but one of the params is"):
        optim.SGD([p, np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="float32/float64 Tensors, got int64"):
        optim.SGD([nc.tensor(np.arange(3))], lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)


def test_gradient_shape_mismatch_raises():
    p = Parameter(np.ones((2, 3)))
    p.grad = nc.ones(3, 2)
    with pytest.raises(ValueError, match=r"gradient of shape \(3, 2\) does not match its "
                                         r"parameter of shape \(2, 3\)"):
        optim.SGD([p], lr=0.1).step()


def _f32(*shape):
    return np.ones(shape, dtype=np.float32)


def _read_only(a):
    a.flags.writeable = False
    return a


def _sgd(params, grads, bufs=(), fresh=(), lr=0.1, momentum=0.0, dampening=0.0, nesterov=False):
    _C.sgd_step(list(params), list(grads), list(bufs), list(fresh), lr, momentum, dampening, 0.0,
                nesterov, False)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: _sgd([_f32(3), _f32(2)], [_f32(3), np.ones(2)]), TypeError,
     r"\[sgd_step\] grads\[1\]: expected float32, got float64 with shape \(2,\)"),
    (lambda: _sgd([_f32(3), _f32(2)], [_f32(3), _f32(2, 1)]), ValueError,
     r"\[sgd_step\] grads\[1\]: expected shape \(2,\) like params\[1\], got \(2, 1\)"),
    (lambda: _sgd([_f32(3)], [_f32(3), _f32(3)]), ValueError,
     r"grads: expected 1 arrays \(one per param\), got 2"),
    (lambda: _sgd([np.ones(3, dtype=np.int64)], [np.ones(3, dtype=np.int64)]), TypeError,
     r"params\[0\]: expected float32 or float64, got int64"),
    (lambda: _sgd([_f32(3, 4).T], [_f32(4, 3)]), ValueError,
     r"params\[0\]: expected a C-contiguous array"),
    (lambda: _sgd([_read_only(_f32(3))], [_f32(3)]), ValueError,
     r"params\[0\]: array is read-only"),
    (lambda: _sgd([_f32(3)], [[1.0, 2.0, 3.0]]), TypeError,
     r"grads\[0\]: expected a NumPy array, got list"),
    (lambda: _sgd([_f32(3)], [_f32(3)], bufs=[_f32(3)]), ValueError,
     r"momentum_buffers: expected an empty list when momentum is off, got 1"),
    (lambda: _sgd([_f32(3)], [_f32(3)], bufs=[_f32(3)], fresh=[], momentum=0.9), ValueError,
     r"fresh_buffers: expected 1 flags"),
    (lambda: _sgd([_f32(3)], [_f32(3)], lr=-1.0), ValueError, r"\[sgd_step\] invalid lr: -1"),
    (lambda: _sgd([_f32(3)], [_f32(3)], bufs=[_f32(3)], fresh=[True], momentum=0.9,
                  dampening=0.5, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda: _C.adam_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(2)], [], [1.0], 0.1, 0.9,
                          0.999, 1e-8, 0.0, False, False, False), ValueError,
     r"\[adam_step\] exp_avg_sqs\[0\]: expected shape \(3,\) like params\[0\], got \(2,\)"),
    (lambda: _C.adam_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], [], [1.0], 0.1, 1.0,
                          0.999, 1e-8, 0.0, False, False, False), ValueError,
     r"invalid beta1: 1 \(expected in \[0, 1\)\)"),
    (lambda: _C.adam_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], [], [0.0], 0.1, 0.9,
                          0.999, 1e-8, 0.0, False, False, False), ValueError,
     r"steps\[0\]: expected a step count >= 1"),
    (lambda: _C.adam_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], [], [1.0], 0.1, 0.9,
                          0.999, 1e-8, 0.0, True, False, False), ValueError,
     r"max_exp_avg_sqs: expected 1 arrays"),
    (lambda: _C.rmsprop_step([_f32(3)], [_f32(3)], [np.ones(3)], [], [], 0.1, 0.99, 1e-8, 0.0,
                             0.0, False, False), TypeError,
     r"\[rmsprop_step\] square_avgs\[0\]: expected float32, got float64"),
    (lambda: _C.rmsprop_step([_f32(3)], [_f32(3)], [_f32(3)], [], [], 0.1, 0.99, 1e-8, 0.0,
                             0.0, True, False), ValueError, r"grad_avgs: expected 1 arrays"),
    (lambda: _C.adagrad_step([_f32(3)], [_f32(3)], [_f32(3)], [1.0, 2.0], 0.1, 0.0, 0.0, 1e-10,
                             False), ValueError, r"\[adagrad_step\] steps: expected 1 step"),
    (lambda: _C.adadelta_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(2)], 1.0, 0.9, 1e-6, 0.0,
                              False), ValueError,
     r"\[adadelta_step\] acc_deltas\[0\]: expected shape \(3,\) like params\[0\]"),
    (lambda: _C.adadelta_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], 1.0, 1.5, 1e-6, 0.0,
                              False), ValueError, r"invalid rho: 1.5"),
    (lambda: _C.adamax_step([_f32(3)], [_f32(3)], [_f32(3)], [np.ones(3)], [1.0], 0.1, 0.9,
                            0.999, 1e-8, 0.0, False), TypeError,
     r"\[adamax_step\] exp_infs\[0\]: expected float32, got float64"),
    (lambda: _C.nadam_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], [], [1.0], 0.1, 0.9,
                           0.999, 1e-8, 0.0, 4e-3, False, False), ValueError,
     r"\[nadam_step\] mu_products: expected 1 values"),
    (lambda: _C.radam_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], [0.5], 0.1, 0.9, 0.999,
                           1e-8, 0.0, False, False), ValueError,
     r"\[radam_step\] steps\[0\]: expected a step count >= 1"),
    (lambda: _C.asgd_step([_f32(3)], [_f32(3)], [_f32(3)], [0.1], [], 1e-4, 0.0, False),
     ValueError, r"\[asgd_step\] etas, mus: expected 1 values each"),
    (lambda: _C.rprop_step([_f32(3)], [_f32(3)], [_f32(3)], [_read_only(_f32(3))], 0.5, 1.2,
                           1e-6, 50.0, False), ValueError,
     r"\[rprop_step\] step_sizes\[0\]: array is read-only"),
    (lambda: _C.rprop_step([_f32(3)], [_f32(3)], [_f32(3)], [_f32(3)], 1.5, 1.2, 1e-6, 50.0,
                           False), ValueError, r"invalid eta values: 1.5, 1.2"),
])
def test_native_step_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_native_step_checks_everything_before_updating():
    params = [_f32(3), _f32(2)]
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        _sgd(params, [_f32(3), np.ones(2)])
    np.testing.assert_array_equal(params[0], 1.0)


# ---- gradient utilities ----------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (1,), (17,)]]
    params = [Parameter(np.zeros(g.shape)) for g in grads] + [Parameter(np.zeros(2))]
    for p, g in zip(params, grads):
        p.grad = nc.Tensor(g)
    t_params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, g in zip(t_params, grads):
        p.grad = torch.tensor(g)
    total = clip_grad_norm_(params, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type, foreach=False)
    assert isinstance(total, nc.Tensor) and total.dtype == np.float32
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-6, err_msg=f"seed {seed}")
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-6, atol=1e-7,
                                   err_msg=f"seed {seed}")
    assert params[-1].grad is None


def test_clip_grad_leaves_shared_arrays_alone():
    shared = np.array([3.0, 4.0], dtype=np.float32)
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    a.grad, b.grad = nc.Tensor(shared), nc.Tensor(shared)
    total = clip_grad_norm_([a, b], 1.0)
    assert total.item() == pytest.approx(math.sqrt(50.0))
    np.testing.assert_array_equal(shared, [3.0, 4.0])
    np.testing.assert_allclose(a.grad.data, shared / (math.sqrt(50) + 1e-6), rtol=1e-6)
    b.grad = nc.Tensor(shared)
    clip_grad_value_(b, 3.5)
    np.testing.assert_array_equal(b.grad.data, [3.0, 3.5])
    np.testing.assert_array_equal(shared, [3.0, 4.0])
    assert clip_grad_norm_([Parameter(np.zeros(1))], 1.0).item() == 0.0
    with pytest.raises(RuntimeError, match="non-finite"):
        a.grad = nc.Tensor([np.inf, 1.0])
        clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    a.grad = nc.Tensor([2.0, -3.0])
    clip_grad_value_(a, -1.0)  # PyTorch's clamp_min_(1) then clamp_max_(-1): every element -1
    np.testing.assert_array_equal(a.grad.data, [-1.0, -1.0])


def test_clip_grad_value_matches_torch():
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    g = rng.standard_normal((5, 3)).astype(np.float32)
    p, tp = Parameter(np.zeros((5, 3))), torch.zeros(5, 3, requires_grad=True)
    p.grad, tp.grad = nc.Tensor(g), torch.tensor(g)
    clip_grad_value_([p], 0.7)
    torch.nn.utils.clip_grad_value_([tp], 0.7, foreach=False)
    np.testing.assert_array_equal(p.grad.data, tp.grad.numpy(), err_msg=f"seed {seed}")


def test_l1_penalty_value_and_gradient():
    rng, seed = fresh_rng()
    arrays = [rng.standard_normal(s) for s in [(3, 4), (5,)]]
    params = [Parameter(a, dtype=np.float64) for a in arrays]
    penalty = nc.functional.l1_penalty(params, weight=0.3)
    assert penalty.shape == ()
    assert penalty.item() == pytest.approx(0.3 * sum(np.abs(a).sum() for a in arrays))
    penalty.backward()
    for p, a in zip(params, arrays):
        np.testing.assert_allclose(p.grad.data, 0.3 * np.sign(a), err_msg=f"seed {seed}")
    assert nc.functional.l1_penalty([]).item() == 0.0
    with pytest.raises(TypeError, match=r"l1_penalty: params\[1\] must be a Tensor"):
        nc.functional.l1_penalty([params[0], np.ones(3)])
