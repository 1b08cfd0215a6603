"""torch.optim as a drop-in: signatures, PyTorch's state_dict format both ways, param groups,
closures, hooks, the implementation switches (fused/foreach), and LBFGS iterate for iterate."""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng, torch
from nncore import optim
from nncore.nn import Parameter
from nncore.optim import lr_scheduler

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
              "RAdam", "ASGD", "Rprop", "LBFGS", "SparseAdam"]
SCHEDULERS = [n for n in lr_scheduler.__all__ if not n.startswith("_")]


def _signature(obj):
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


@pytest.mark.parametrize("name", OPTIMIZERS + [f"lr_scheduler.{n}" for n in SCHEDULERS])
def test_signature_equals_torch(name):
    pytest.importorskip("torch")
    ours, theirs = optim, torch.optim
    for part in name.split("."):
        ours, theirs = getattr(ours, part), getattr(theirs, part)
    assert _signature(ours) == _signature(theirs)


@pytest.mark.parametrize("method", ["step", "zero_grad", "state_dict", "load_state_dict",
                                    "add_param_group", "register_step_pre_hook",
                                    "register_step_post_hook", "register_state_dict_pre_hook",
                                    "register_load_state_dict_post_hook"])
def test_optimizer_methods_equal_torch(method):
    pytest.importorskip("torch")
    assert _signature(getattr(optim.Optimizer, method)) == \
        _signature(getattr(torch.optim.Optimizer, method))


def _params(rng, shapes=((4, 3), (3,), (2, 5)), dtype=np.float32):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _run(opt_factory, init, grads, module=optim):
    if module is optim:
        params = [Parameter(a.copy(), dtype=a.dtype) for a in init]
    else:
        params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = opt_factory(module, params)
    for step in grads:
        for p, g in zip(params, step):
            p.grad = nc.tensor(g) if module is optim else torch.tensor(g)
        opt.step()
    return params, opt


def test_nanogpt_fused_adamw():
    """nanoGPT passes fused=True when torch.optim.AdamW's signature has it."""
    rng, seed = fresh_rng()
    assert "fused" in inspect.signature(optim.AdamW).parameters
    init = _params(rng)
    grads = [_params(rng) for _ in range(4)]

    def groups(m, ps, **kw):
        return m.AdamW([{"params": ps[:2], "weight_decay": 0.1},
                        {"params": ps[2:], "weight_decay": 0.0}], lr=6e-4, betas=(0.9, 0.95),
                       **kw)

    fused, _ = _run(lambda m, ps: groups(m, ps, fused=True), init, grads)
    plain, _ = _run(lambda m, ps: groups(m, ps, foreach=False), init, grads)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), f"seed {seed}")
    if torch is not None:
        theirs, _ = _run(lambda m, ps: groups(m, ps, fused=True), init, grads, torch.optim)
        for a, b in zip(fused, theirs):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=f"seed {seed}")


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda p: optim.Adam(p, fused=True, foreach=True), RuntimeError,
     "`fused` and `foreach` cannot be `True` together"),
    (lambda p: optim.SGD(p, differentiable=True), NotImplementedError,
     "differentiable=True .* not supported"),
    (lambda p: optim.NAdam(p, capturable=True), NotImplementedError,
     "capturable=True \\(CUDA graph capture\\)"),
    (lambda p: optim.SGD([{"params": p, "capturable": True}]), NotImplementedError,
     "capturable"),
    (lambda p: optim.SparseAdam(p), NotImplementedError, "sparse gradients"),
    (lambda p: optim.LBFGS([{"params": p[:1]}, {"params": p[1:]}]), ValueError,
     "doesn't support per-parameter options"),
    (lambda p: optim.SGD([("w", p[0]), p[1]]), ValueError, "Some param names are missing"),
    (lambda p: optim.SGD([{"params": [("w", p[0])]}, {"params": [p[1]]}]), ValueError,
     "should be with/without names"),
])
def test_switches_and_unsupported_options(make, error, match):
    with pytest.raises(error, match=match):
        make([Parameter(np.ones(2)), Parameter(np.ones(3))])


@pytest.mark.parametrize("name", ["Adafactor", "Muon", "swa_utils"])
def test_missing_torch_names_raise_not_implemented(name):
    with pytest.raises(NotImplementedError, match=f"torch.optim.{name}"):
        getattr(optim, name)
    assert not hasattr(optim, name)


# ---- state_dict -------------------------------------------------------------------------------

STATEFUL = [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adadelta", dict(lr=0.5)),
    ("Adamax", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01)),
    ("ASGD", dict(lr=0.05, t0=2.0)),
    ("Rprop", dict(lr=0.05)),
]


def _two_groups(name, kw):
    def make(module, params):
        return getattr(module, name)([{"params": params[:1]},
                                      {"params": params[1:], "lr": kw["lr"] / 2}], **kw)
    return make


def test_state_dict_is_pytorchs_format():
    ps = [Parameter(np.ones(3)), Parameter(np.ones(2)), Parameter(np.ones(4))]
    opt = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}], lr=0.1)
    for p in ps[1:]:
        p.grad = nc.ones(p.shape, dtype=nc.float64)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sorted(sd["state"]) == [1, 2]
    assert all(isinstance(v, nc.Tensor) for v in sd["state"][1].values())
    assert sd["state"][1]["step"].item() == 1.0
    # The tensors share memory with the live state, as PyTorch's do.
    assert np.shares_memory(sd["state"][2]["exp_avg"].numpy(), opt.state[ps[2]]["exp_avg"])
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    if torch is not None:
        t_ps = [torch.ones(n, dtype=torch.float64, requires_grad=True) for n in (3, 2, 4)]
        t_opt = torch.optim.Adam([{"params": t_ps[:2]}, {"params": t_ps[2:], "lr": 0.5}],
                                 lr=0.1)
        for p in t_ps[1:]:
            p.grad = torch.ones_like(p)
        t_opt.step()
        t_sd = t_opt.state_dict()
        assert sd["param_groups"] == t_sd["param_groups"]
        assert {k: set(v) for k, v in sd["state"].items()} == \
            {k: set(v) for k, v in t_sd["state"].items()}


@pytest.mark.parametrize(("name", "kw"), STATEFUL, ids=[n for n, _ in STATEFUL])
def test_loads_torch_state_dict_and_continues_like_torch(name, kw):
    """A state dict saved by torch.optim (torch tensors) loads and the two continue alike."""
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    init = _params(rng, dtype=np.float64)
    grads = [_params(rng, dtype=np.float64) for _ in range(8)]
    make = _two_groups(name, kw)
    t_params, t_opt = _run(make, init, grads[:4], torch.optim)
    params = [Parameter(p.detach().numpy().copy(), dtype=np.float64) for p in t_params]
    opt = make(optim, params)
    opt.load_state_dict(t_opt.state_dict())
    assert opt.param_groups[1]["lr"] == kw["lr"] / 2
    for step in grads[4:]:
        for p, tp, g in zip(params, t_params, step):
            p.grad, tp.grad = nc.tensor(g), torch.tensor(g)
        opt.step()
        t_opt.step()
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=f"{name} (seed {seed})")


@pytest.mark.parametrize(("name", "kw"), STATEFUL, ids=[n for n, _ in STATEFUL])
def test_older_numpy_state_dict_loads(name, kw):
    """nncore's earlier format (NumPy arrays, a float64 step) still loads, and a round trip
    through copies continues bit for bit."""
    rng, seed = fresh_rng()
    init = _params(rng)
    grads = [_params(rng) for _ in range(6)]
    make = _two_groups(name, kw)
    params, opt = _run(make, init, grads[:3])
    old = copy.deepcopy(opt.state_dict())
    old["state"] = {i: {k: v.numpy() if isinstance(v, nc.Tensor) else v for k, v in s.items()}
                    for i, s in old["state"].items()}
    clones = [Parameter(p.detach().numpy().copy(), dtype=p.dtype) for p in params]
    other = make(optim, clones)
    other.load_state_dict(old)
    for step in grads[3:]:
        for p, q, g in zip(params, clones, step):
            p.grad = q.grad = nc.tensor(g)
        opt.step()
        other.step()
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), f"seed {seed}")


def test_load_state_dict_fills_keys_missing_from_old_checkpoints():
    p = Parameter(np.ones(2))
    opt = optim.Adam([p], lr=0.1)
    sd = opt.state_dict()
    for key in ("foreach", "fused", "capturable", "differentiable"):
        del sd["param_groups"][0][key]
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["fused"] is None and opt.param_groups[0]["capturable"] is False


def test_load_state_dict_rejects_mismatched_state():
    p = Parameter(np.ones(3))
    opt = optim.Adam([p])
    p.grad = nc.ones(3, dtype=nc.float64)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = np.ones(4)
    with pytest.raises(ValueError, match=r"state 'exp_avg' has shape \(4,\), its parameter has "
                                         r"shape \(3,\)"):
        optim.Adam([Parameter(np.ones(3))]).load_state_dict(sd)


# ---- groups, closures, hooks ------------------------------------------------------------------


def test_param_group_edits_take_effect_like_torch():
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    init = _params(rng, dtype=np.float64)
    grads = [_params(rng, dtype=np.float64) for _ in range(6)]
    results = []
    for module in (optim, torch.optim):
        params = [Parameter(a.copy()) if module is optim else torch.tensor(a.copy(),
                                                                           requires_grad=True)
                  for a in init]
        opt = module.Adam(params, lr=0.01)
        for i, step in enumerate(grads):
            if i == 3:
                for g in opt.param_groups:
                    g["lr"] = 0.05
                    g["betas"] = (0.5, 0.9)
            for p, g in zip(params, step):
                p.grad = nc.tensor(g) if module is optim else torch.tensor(g)
            opt.step()
        results.append([p.detach().numpy() for p in params])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"seed {seed}")


def test_add_param_group_and_zero_grad():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    group = {"params": b, "lr": 1.0}
    opt.add_param_group(group)
    assert opt.param_groups[1] is group  # completed in place, as PyTorch does
    assert group["momentum"] == 0.9 and group["params"] == [b] and group["fused"] is None
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    a.grad = nc.ones(3, dtype=nc.float64)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), 0.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_named_parameters():
    lin = nc.nn.Linear(3, 2)
    opt = optim.AdamW(lin.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "SparseAdam"])
def test_step_returns_closure_loss_with_grad_enabled(name):
    w = Parameter(np.array([1.0, -2.0, 0.5]))
    opt = getattr(optim, name)([w], lr=0.01)
    seen = []

    def closure():
        opt.zero_grad()
        seen.append(nc.is_grad_enabled())
        loss = (w * w).sum()
        loss.backward()
        return loss

    with nc.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, nc.Tensor) and loss.item() == pytest.approx(5.25)
    assert seen and all(seen)
    assert float((w * w).sum()) < 5.25
    if name != "LBFGS":
        assert opt.step() is None


def test_step_hooks():
    w = Parameter(np.ones(2))
    opt = optim.SGD([w], lr=0.5)
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kw: calls.append(("pre", args, kw)))
    post = opt.register_step_post_hook(lambda o, args, kw: calls.append(("post", o is opt)))
    glob = optim.optimizer.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("g"))
    w.grad = nc.ones(2, dtype=nc.float64)
    try:
        opt.step()
    finally:
        glob.remove()
    assert calls == ["g", ("pre", (), {}), ("post", True)]
    pre.remove()
    post.remove()
    calls.clear()
    opt.step()
    assert calls == []
    np.testing.assert_array_equal(w.detach().numpy(), 0.0)

    def replace_closure(o, args, kwargs):
        return (), {"closure": lambda: 7.0}

    opt.register_step_pre_hook(replace_closure)
    assert opt.step() == 7.0
    opt.register_step_pre_hook(lambda o, a, k: "bad")
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()


def test_state_dict_hooks():
    w = Parameter(np.ones(2))
    opt = optim.SGD([w], lr=0.5)
    seen = []
    opt.register_state_dict_pre_hook(lambda o: seen.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o, sd: {k: v for k, v in sd.items()
                                                         if k != "extra"})
    opt.register_load_state_dict_post_hook(lambda o: seen.append("loaded"))
    sd = opt.state_dict()
    assert sd["extra"] == 1 and seen == ["pre"]
    opt.load_state_dict(sd)
    assert seen == ["pre", "loaded"]


def test_step_is_an_inplace_update():
    """As in PyTorch, a graph saved before the step cannot be differentiated after it."""
    w = Parameter(np.ones(3))
    y = (w * w).sum()
    opt = optim.Adam([w], lr=0.1)
    w.grad = nc.ones(3, dtype=nc.float64)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_deepcopy_and_pickle():
    """A copied optimizer holds copies of the params with their state and continues exactly as
    the original does."""
    rng, seed = fresh_rng()
    init = _params(rng)
    grads = [_params(rng) for _ in range(4)]
    params, opt = _run(lambda m, ps: m.NAdam(ps, lr=0.01), init, grads[:2])
    twins = [copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))]
    for o in [opt, *twins]:
        ps = o.param_groups[0]["params"]
        assert len(o.state) == len(ps) and all(p in o.state for p in ps)
        for step in grads[2:]:
            for q, g in zip(ps, step):
                q.grad = nc.tensor(g)
            o.step()
    for twin in twins:
        for p, q in zip(params, twin.param_groups[0]["params"]):
            assert q is not p
            np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy(), f"seed {seed}")


# ---- LBFGS ------------------------------------------------------------------------------------


def _rosenbrock(x, w, v, c):
    """Rosenbrock in x plus a quartic least squares in w: loss and gradients in NumPy, so both
    libraries see bit-identical gradients and only the optimizers differ."""
    a = x[1:] - x[:-1] ** 2
    gx = np.zeros_like(x)
    gx[1:] += 200 * a
    gx[:-1] += -400 * a * x[:-1] - 2 * (1 - x[:-1])
    r = w @ v - c
    loss = (100 * a ** 2 + (1 - x[:-1]) ** 2).sum() + (r ** 2).sum() + 0.1 * (w ** 4).sum()
    return loss, gx, 2 * np.outer(r, v) + 0.4 * w ** 3


def _logistic(x, b, a, y):
    """Regularised logistic regression (convex): loss and gradients."""
    z = a @ x + b[0]
    s = 1 / (1 + np.exp(y * z))
    dz = -y * s / len(y)
    loss = np.logaddexp(0, -y * z).sum() / len(y) + 0.05 * (x @ x) + 0.1 * (x ** 4).sum()
    return loss, a.T @ dz + 0.1 * x + 0.4 * x ** 3, np.array([dz.sum()])


def _lbfgs_run(module, problem, init, kw, steps):
    if module is optim:
        params = [Parameter(a.copy()) for a in init]
        wrap = nc.tensor
    else:
        params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        wrap = torch.tensor
    opt = module.LBFGS(params, **kw)

    def closure():
        loss, *grads = problem(*[p.detach().numpy() for p in params])
        for p, g in zip(params, grads):
            p.grad = wrap(g)
        return loss

    history = []
    for _ in range(steps):
        loss = opt.step(closure)
        history.append([float(loss)] + [p.detach().numpy().copy() for p in params])
    st = opt.state[params[0]]
    return history, (st["func_evals"], st["n_iter"]), opt, params


# (problem, options, outer steps). Rosenbrock is ill-conditioned: the last-bit differences of
# the two libraries' dot products (BLAS summation orders) grow with the iterations, so its
# runs stay short; across 40 seeds the iterates agreed to 2e-12 relative.
LBFGS_CASES = [
    ("rosenbrock", dict(max_iter=10), 1),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=10), 1),
    ("rosenbrock", dict(history_size=3, lr=0.5, max_iter=7), 2),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", history_size=2, max_iter=15), 1),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", lr=0.001, max_iter=5), 2),  # extrapolates
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=6, max_eval=8), 2),
    ("logistic", dict(max_iter=4), 5),
    ("logistic", dict(line_search_fn="strong_wolfe", history_size=2, max_iter=6), 5),
    ("logistic", dict(line_search_fn="strong_wolfe", tolerance_grad=1e-3), 3),
    ("logistic", dict(line_search_fn="strong_wolfe", lr=0.01, max_iter=5), 3),
]


def _lbfgs_problem(name, rng):
    if name == "rosenbrock":
        v, c = rng.standard_normal(2), rng.standard_normal(3)
        init = [rng.uniform(-1.5, 1.5, 6), rng.standard_normal((3, 2))]
        return (lambda x, w: _rosenbrock(x, w, v, c)), init
    a, y = rng.standard_normal((30, 5)), (rng.random(30) < 0.5) * 2.0 - 1
    return (lambda x, b: _logistic(x, b, a, y)), [rng.standard_normal(5), np.array([0.3])]


@pytest.mark.parametrize(("problem", "kw", "steps"), LBFGS_CASES,
                         ids=[f"{p}-{i}" for i, (p, *_) in enumerate(LBFGS_CASES)])
def test_lbfgs_iterates_match_torch(problem, kw, steps):
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    fn, init = _lbfgs_problem(problem, rng)
    ours, our_counts, _, _ = _lbfgs_run(optim, fn, init, kw, steps)
    theirs, their_counts, _, _ = _lbfgs_run(torch.optim, fn, init, kw, steps)
    assert our_counts == their_counts, f"seed {seed}"
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10,
                                       err_msg=f"{problem} step {step} (seed {seed})")


def test_lbfgs_autograd_closure_matches_torch():
    """The usual closure (zero_grad, forward, backward) through nncore's autograd."""
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    x0, t = rng.standard_normal(4), rng.standard_normal(4)
    results = []
    for module, lib in ((optim, nc), (torch.optim, torch)):
        x = Parameter(x0.copy()) if lib is nc else torch.tensor(x0.copy(), requires_grad=True)
        target = lib.tensor(t)
        opt = module.LBFGS([x], line_search_fn="strong_wolfe", max_iter=10)

        def closure(opt=opt, x=x, target=target):
            opt.zero_grad()
            loss = ((x - target) ** 2).sum() + (x ** 4).sum() * 0.1 + (x[1:] * x[:-1]).sum()
            loss.backward()
            return loss

        with lib.no_grad():
            losses = [float(opt.step(closure)) for _ in range(2)]
        results.append((losses, x.detach().numpy().copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10, err_msg=f"seed {seed}")
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-8, atol=1e-10,
                               err_msg=f"seed {seed}")


def test_lbfgs_state_dict_round_trip():
    rng, seed = fresh_rng()
    fn, init = _lbfgs_problem("rosenbrock", rng)
    kw = dict(line_search_fn="strong_wolfe", history_size=4, max_iter=5)
    _, _, opt, params = _lbfgs_run(optim, fn, init, kw, 2)
    sd = copy.deepcopy(opt.state_dict())
    assert set(sd["state"]) == {0}
    assert isinstance(sd["state"][0]["old_dirs"][0], nc.Tensor)
    clones = [Parameter(p.detach().numpy().copy()) for p in params]
    other = optim.LBFGS(clones, **kw)
    other.load_state_dict(sd)
    for o, ps in ((opt, params), (other, clones)):
        def closure(ps=ps):
            loss, *grads = fn(*[p.detach().numpy() for p in ps])
            for p, g in zip(ps, grads):
                p.grad = nc.tensor(g)
            return loss
        for _ in range(2):
            o.step(closure)
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), f"seed {seed}")
    assert other.state[clones[0]]["func_evals"] == opt.state[params[0]]["func_evals"]


def test_lbfgs_bad_line_search_and_missing_closure():
    w = Parameter(np.ones(2))
    opt = optim.LBFGS([w], line_search_fn="backtracking")

    def closure():
        w.grad = nc.ones(2, dtype=nc.float64)
        return 1.0

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    with pytest.raises(RuntimeError, match="needs a closure"):
        optim.LBFGS([w]).step(None)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([w]).add_param_group({"params": [Parameter(np.ones(1))]})


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "SparseAdam"])
def test_training_checkpoint_resumes_bit_identically(tmp_path, name):
    """Every optimizer's state (scalars such as NAdam's mu_product, LBFGS's flat history)
    survives save_checkpoint / load_checkpoint."""
    from nncore.train.checkpoint import load_checkpoint, save_checkpoint

    nc.manual_seed(0)
    x = nc.randn(5, 3)
    models = [nc.nn.Linear(3, 2) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [getattr(optim, name)(m.parameters(), lr=0.01) for m in models]

    def closure(model, opt):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(2):
        opts[0].step(lambda: closure(models[0], opts[0]))
    save_checkpoint(tmp_path / "o.ckpt", models[0], opts[0], epoch=1)
    load_checkpoint(tmp_path / "o.ckpt", models[1], opts[1])
    for model, opt in zip(models, opts):
        for _ in range(2):
            opt.step(lambda model=model, opt=opt: closure(model, opt))
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
