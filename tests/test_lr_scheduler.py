"""Learning-rate schedules: the rates (and cycled momenta) step for step equal to
torch.optim.lr_scheduler's, state_dict resumes (also through a training checkpoint), PyTorch's
warnings and errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from harness import torch
from nncore import optim
from nncore.nn import Parameter
from nncore.optim import lr_scheduler
from nncore.train.checkpoint import load_checkpoint, save_checkpoint


def _metric(epoch):
    return [5, 4, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2.5, 1][epoch % 15] + (epoch // 15) * 0.1


class _Halving:
    """A callable object: LambdaLR's state_dict saves its __dict__."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


def _sgd(m, params, **kw):
    return m.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1,
                 momentum=0.9, **kw)


def _adam(m, params):
    return m.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], lr=0.01)


def _seq(m, opt):
    s = m.lr_scheduler
    return s.SequentialLR(opt, [s.LinearLR(opt, start_factor=0.1, total_iters=4),
                                s.CosineAnnealingLR(opt, T_max=10, eta_min=0.001),
                                s.ExponentialLR(opt, gamma=0.8)], milestones=[4, 14])


def _chain(m, opt):
    s = m.lr_scheduler
    return s.ChainedScheduler([s.ConstantLR(opt, factor=0.5, total_iters=3),
                               s.ExponentialLR(opt, gamma=0.9),
                               s.MultiStepLR(opt, milestones=[5, 9], gamma=0.5)])


def _nested(m, opt):
    s = m.lr_scheduler
    inner = s.ChainedScheduler([s.ExponentialLR(opt, gamma=0.95),
                                s.StepLR(opt, step_size=3, gamma=0.7)])
    # NOTE: PyTorch itself warns here (the chain's initial step steps its members a second time
    # before any optimizer step); nncore does the same.
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        return s.SequentialLR(opt, [inner, s.ConstantLR(opt, factor=0.25, total_iters=5)],
                              milestones=[6])


def _named(name, **kw):
    return lambda m, opt: getattr(m.lr_scheduler, name)(opt, **kw)


# (id, optimizer maker, scheduler maker, steps)
SCHEDULES = [
    ("StepLR", _sgd, _named("StepLR", step_size=7, gamma=0.5), 30),
    ("MultiStepLR", _sgd, _named("MultiStepLR", milestones=[3, 8, 8, 20], gamma=0.3), 30),
    ("ExponentialLR", _sgd, _named("ExponentialLR", gamma=0.9), 30),
    ("CosineAnnealingLR", _sgd, _named("CosineAnnealingLR", T_max=10, eta_min=0.001), 45),
    ("CosineAnnealingLR-7", _adam, _named("CosineAnnealingLR", T_max=7), 30),
    ("LambdaLR", _sgd, _named("LambdaLR", lr_lambda=lambda e: 1.0 / (1 + e)), 30),
    ("LambdaLR-list", _sgd, _named("LambdaLR", lr_lambda=[lambda e: 0.95 ** e, _Halving(4)]),
     30),
    ("MultiplicativeLR", _sgd, _named("MultiplicativeLR", lr_lambda=lambda e: 0.9 + 0.01 * e),
     20),
    ("ConstantLR", _sgd, _named("ConstantLR"), 12),
    ("ConstantLR-0.5", _sgd, _named("ConstantLR", factor=0.5, total_iters=3), 12),
    ("LinearLR", _sgd, _named("LinearLR"), 12),
    ("LinearLR-down", _adam, _named("LinearLR", start_factor=1.0, end_factor=0.05,
                                    total_iters=9), 15),
    ("PolynomialLR", _sgd, _named("PolynomialLR"), 10),
    ("PolynomialLR-2", _sgd, _named("PolynomialLR", total_iters=8, power=2.0), 12),
    ("CosineAnnealingWarmRestarts", _sgd, _named("CosineAnnealingWarmRestarts", T_0=5), 23),
    ("CosineAnnealingWarmRestarts-mult", _sgd,
     _named("CosineAnnealingWarmRestarts", T_0=3, T_mult=2, eta_min=0.01), 40),
    ("CyclicLR", _sgd, _named("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4), 30),
    ("CyclicLR-triangular2", _sgd, _named("CyclicLR", base_lr=[0.01, 0.02], max_lr=[0.1, 0.3],
                                          step_size_up=3, step_size_down=5,
                                          mode="triangular2", base_momentum=0.7), 40),
    ("CyclicLR-exp_range", _adam, _named("CyclicLR", base_lr=0.001, max_lr=0.01,
                                         step_size_up=5, mode="exp_range", gamma=0.97), 30),
    ("CyclicLR-scale_fn", _sgd, _named("CyclicLR", base_lr=0.01, max_lr=0.05, step_size_up=2,
                                       scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations",
                                       cycle_momentum=False), 20),
    ("OneCycleLR", _sgd, _named("OneCycleLR", max_lr=0.5, total_steps=25), 25),
    ("OneCycleLR-linear", _adam, _named("OneCycleLR", max_lr=[0.01, 0.05], epochs=3,
                                        steps_per_epoch=7, pct_start=0.4,
                                        anneal_strategy="linear", div_factor=10.0), 21),
    ("OneCycleLR-three", _sgd, _named("OneCycleLR", max_lr=1.0, total_steps=30,
                                      three_phase=True, base_momentum=0.8,
                                      final_div_factor=100.0), 30),
    ("SequentialLR", _sgd, _seq, 25),
    ("ChainedScheduler", _sgd, _chain, 15),
    ("SequentialLR-nested", _adam, _nested, 15),
    ("ReduceLROnPlateau", _sgd, _named("ReduceLROnPlateau", factor=0.5, patience=2, cooldown=1,
                                       min_lr=0.004), 30),
    ("ReduceLROnPlateau-max", _sgd, _named("ReduceLROnPlateau", mode="max", factor=0.2,
                                           patience=1, threshold=0.5, threshold_mode="abs",
                                           min_lr=[0.0, 0.02]), 30),
]
IDS = [s[0] for s in SCHEDULES]


def _step(sched, epoch):
    if type(sched).__name__ == "ReduceLROnPlateau":
        sched.step(_metric(epoch))
    else:
        sched.step()


def _hyper(opt):
    """What a schedule sets: the rate and the momentum (or Adam's beta1) of every group."""
    return [(g["lr"], g.get("momentum"), g.get("betas", (None,))[0]) for g in opt.param_groups]


def _make(make_opt, make_sched, module, params):
    opt = make_opt(module, params)
    return opt, make_sched(module, opt)


@pytest.mark.parametrize(("make_opt", "make_sched", "steps"), [s[1:] for s in SCHEDULES],
                         ids=IDS)
def test_sequence_equals_torch(make_opt, make_sched, steps):
    pytest.importorskip("torch")
    opt, sched = _make(make_opt, make_sched, optim, [Parameter(np.ones(2)),
                                                     Parameter(np.ones(3))])
    t_opt, t_sched = _make(make_opt, make_sched, torch.optim,
                           [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)])
    assert sched.get_last_lr() == t_sched.get_last_lr()
    assert _hyper(opt) == _hyper(t_opt)
    for epoch in range(steps):
        opt.step()
        t_opt.step()
        _step(sched, epoch)
        _step(t_sched, epoch)
        # The same float operations in the same order: equal, not just close.
        assert sched.get_last_lr() == t_sched.get_last_lr(), epoch
        assert _hyper(opt) == _hyper(t_opt), epoch
        assert getattr(sched, "last_epoch", None) == getattr(t_sched, "last_epoch", None)


@pytest.mark.parametrize(("make_opt", "make_sched", "steps"), [s[1:] for s in SCHEDULES],
                         ids=IDS)
def test_state_dict_resumes_identically(make_opt, make_sched, steps):
    def fresh():
        return _make(make_opt, make_sched, optim, [Parameter(np.ones(2)), Parameter(np.ones(3))])

    opt, sched = fresh()
    half = steps // 2
    for epoch in range(half):
        opt.step()
        _step(sched, epoch)
    assert "optimizer" not in sched.state_dict()
    opt2, sched2 = fresh()
    sched2.load_state_dict(copy.deepcopy(sched.state_dict()))
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for epoch in range(half, steps):
        opt.step()
        opt2.step()
        _step(sched, epoch)
        _step(sched2, epoch)
        assert sched2.get_last_lr() == sched.get_last_lr(), epoch
        assert _hyper(opt2) == _hyper(opt), epoch


@pytest.mark.parametrize(("make_opt", "make_sched", "steps"),
                         [s[1:] for s in SCHEDULES if "Lambda" not in s[0]
                          and "scale_fn" not in s[0] and "Multiplicative" not in s[0]],
                         ids=[i for i in IDS if "Lambda" not in i and "scale_fn" not in i
                              and "Multiplicative" not in i])
def test_checkpoint_round_trip(tmp_path, make_opt, make_sched, steps):
    """Every schedule's state is made of values a checkpoint holds (no functions)."""
    from nncore import nn

    def fresh():
        model = nn.Linear(2, 1)
        opt = make_opt(optim, list(model.parameters()))
        return model, opt, make_sched(optim, opt)

    model, opt, sched = fresh()
    for epoch in range(steps // 2):
        opt.step()
        _step(sched, epoch)
    save_checkpoint(tmp_path / "s.ckpt", model, opt, sched, epoch=1)
    model2, opt2, sched2 = fresh()
    load_checkpoint(tmp_path / "s.ckpt", model2, opt2, sched2)
    for epoch in range(steps // 2, steps):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            _step(s, epoch)
        assert sched2.get_last_lr() == sched.get_last_lr(), epoch


def test_normal_use_gives_no_warning():
    """optimizer.step() then scheduler.step(): silent (pytest turns any warning into an error)."""
    p = Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    scheds = [lr_scheduler.StepLR(opt, 2), lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10),
              lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3)]
    for _ in range(5):
        opt.zero_grad()
        p.grad = p.detach() * 2
        opt.step()
        for s in scheds:
            s.step()
    scheds[-1].step(7.5)  # fractional epochs are SGDR's documented use, not deprecated


def _order_warning(module):
    p = Parameter(np.ones(2)) if module is optim else torch.ones(2, requires_grad=True)
    opt = module.SGD([p], lr=0.1)
    sched = module.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before "
                                         r"`optimizer.step\(\)`") as record:
        sched.step()
    sched.step()  # warned once only
    opt.step()
    return sched.get_last_lr(), len(record)


def test_scheduler_before_optimizer_warns_like_torch():
    pytest.importorskip("torch")
    assert _order_warning(optim) == _order_warning(torch.optim)


def test_epoch_argument_and_get_lr_warn():
    opt = optim.SGD([Parameter(np.ones(2))], lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    opt.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
        sched.step(5)  # closed form
    assert sched.get_last_lr() == [pytest.approx(0.5)]
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.warns(UserWarning, match="The epoch parameter"):
        plateau.step(1.0, epoch=3)
    assert plateau.last_epoch == 3


def test_param_group_edits_and_schedules_compose():
    """A schedule works from the group's current lr, so a manual edit carries on."""
    opt = optim.SGD([Parameter(np.ones(2))], lr=1.0)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    opt.step()
    sched.step()
    opt.param_groups[0]["lr"] = 4.0
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [2.0]
    assert opt.param_groups[0]["initial_lr"] == 1.0


def test_onecycle_past_total_steps_raises():
    opt = optim.SGD([Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="tried to step 4 times. The specified number of total "
                                         "steps is 3"):
        sched.step()


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), ValueError,
     "LinearLR: start_factor must be in"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=2.0), ValueError, "ConstantLR: factor"),
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size must be a positive"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
     "expected positive integer T_0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError,
     "T_mult >= 1"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError,
     r"either total_steps OR \(epochs AND steps_per_epoch\)"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5), ValueError,
     "pct_start"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     ValueError, "anneal_strategy must be one of"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.2, 0.3], total_steps=5), ValueError,
     "max_lr must have the same length as optimizer.param_groups"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sine"), ValueError,
     "mode 'sine' is invalid"),
    (lambda o: lr_scheduler.CyclicLR(optim.Adagrad([Parameter(np.ones(1))]), 0.01, 0.1),
     ValueError, "optimizer must support momentum or beta1"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0] * 3), ValueError,
     "expected 2 lr_lambdas, got 3"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, 0.5), TypeError, "lr_lambda should be a function"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[3]),
     ValueError, "one more than the number of milestone points"),
    (lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]), ValueError,
     "expects at least one scheduler"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(o)]), ValueError,
     "does not support `ReduceLROnPlateau`"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(
        optim.SGD([Parameter(np.ones(1))], lr=0.1), 2)], milestones=[]), ValueError,
     "to belong to the same optimizer"),
    (lambda o: lr_scheduler.StepLR(o, 2, last_epoch=4), KeyError,
     "param 'initial_lr' is not specified in param_groups\\[0\\]"),
    (lambda o: lr_scheduler.ExponentialLR(object(), 0.5), TypeError, "is not an Optimizer"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "threshold mode 'pct' is unknown"),
])
def test_bad_arguments_raise(make, error, match):
    opt = _sgd(optim, [Parameter(np.ones(2)), Parameter(np.ones(3))])
    with pytest.raises(error, match=match):
        make(opt)


def test_warm_restarts_fractional_epochs_match_torch():
    pytest.importorskip("torch")
    opt = optim.SGD([Parameter(np.ones(2))], lr=0.1)
    t_opt = torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1)
    ours = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3, eta_min=0.001)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(t_opt, T_0=2, T_mult=3,
                                                                  eta_min=0.001)
    opt.step()
    t_opt.step()
    for epoch in np.arange(0, 30, 0.37):
        ours.step(float(epoch))
        theirs.step(float(epoch))
        assert ours.get_last_lr() == theirs.get_last_lr(), epoch
        assert (ours.T_i, ours.T_cur) == (theirs.T_i, theirs.T_cur)
    with pytest.raises(ValueError, match="expected non-negative epoch"):
        ours.step(-1)
    assert math.isfinite(ours.get_last_lr()[0])
