"""Drop-in losses: every loss functional (each reduction, weights, ignore_index, label
smoothing, class-probability and N-d targets) against float64 finite differences and PyTorch;
the loss modules against torch.nn; signatures against PyTorch's; argument errors and warnings."""

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
REDUCTIONS = ("mean", "sum", "none")


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _signs(r, shape):
    return r.choice([-1.0, 1.0], size=shape)


def _spec(name, make, kwargs=None, grad_args=None, call=None, tag=""):
    """A loss spec: ``call(module, *arrays, **kwargs)`` runs the loss from F or torch's F."""
    call = call or (lambda mod, *a, **k: getattr(mod, name)(*a, **k))
    kwargs = kwargs or {}
    return OpSpec(name, lambda *a, **k: call(F, *a, **k), make, None,
                  (lambda *a, **k: call(TF, *a, **k)) if torch else None, kwargs,
                  grad_args=grad_args, torch_rtol=1e-4, id=f"{name}{tag}-{kwargs}")


def _loss_specs() -> list[OpSpec]:
    specs = []
    for red in REDUCTIONS:
        def two(r):
            return [r.standard_normal((3, 5)), r.standard_normal((3, 5))]

        def odd(r):
            return [r.standard_normal((17,)), r.standard_normal((17,))]

        # NOTE: kl_div's 'mean' warns (as PyTorch); it is tested on its own below.
        kl_red = "batchmean" if red == "mean" else red
        specs += [
            _spec("smooth_l1_loss", two, dict(reduction=red)),
            _spec("smooth_l1_loss", odd, dict(reduction=red, beta=0.4)),
            _spec("smooth_l1_loss", two, dict(reduction=red, beta=0.0)),
            _spec("huber_loss", two, dict(reduction=red, delta=0.6)),
            _spec("huber_loss", lambda r: [r.standard_normal((2, 3, 1)),
                                           r.standard_normal((2, 3, 1)), r.random((2, 3, 1))],
                  dict(reduction=red), grad_args=(0, 1),
                  call=lambda m, x, t, w, **k: m.huber_loss(x, t, weight=w, **k), tag="-weight"),
            _spec("mse_loss", lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                                         r.random((4, 3))],
                  dict(reduction=red), grad_args=(0, 1),
                  call=lambda m, x, t, w, **k: m.mse_loss(x, t, weight=w, **k), tag="-weight"),
            _spec("l1_loss", lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                                        r.random((4, 3))],
                  dict(reduction=red), grad_args=(0, 1),
                  call=lambda m, x, t, w, **k: m.l1_loss(x, t, weight=w, **k), tag="-weight"),
            _spec("binary_cross_entropy",
                  lambda r: [_sigmoid(r.standard_normal((4, 3))), r.random((4, 3))],
                  dict(reduction=red)),
            _spec("binary_cross_entropy",
                  lambda r: [_sigmoid(r.standard_normal((2, 3, 5))), r.random((2, 3, 5)),
                             r.random(5)],
                  dict(reduction=red), grad_args=(0, 1),
                  call=lambda m, x, t, w, **k: m.binary_cross_entropy(x, t, w, **k),
                  tag="-weight"),
            _spec("kl_div", lambda r: [np.log(r.dirichlet(np.ones(5), 3)),
                                       r.dirichlet(np.ones(5), 3)], dict(reduction=kl_red)),
            _spec("kl_div", lambda r: [np.log(r.dirichlet(np.ones(4), 2)),
                                       np.log(r.dirichlet(np.ones(4), 2))],
                  dict(reduction=kl_red, log_target=True)),
            _spec("margin_ranking_loss", lambda r: [r.standard_normal(7), r.standard_normal(7),
                                                    _signs(r, 7)],
                  dict(reduction=red, margin=0.3), grad_args=(0, 1)),
            _spec("hinge_embedding_loss", lambda r: [np.abs(r.standard_normal((3, 4))),
                                                     _signs(r, (3, 4))],
                  dict(reduction=red, margin=1.5), grad_args=(0,)),
            _spec("soft_margin_loss", lambda r: [r.standard_normal((3, 4)), _signs(r, (3, 4))],
                  dict(reduction=red), grad_args=(0,)),
            _spec("multilabel_soft_margin_loss",
                  lambda r: [r.standard_normal((3, 4)), r.integers(0, 2, (3, 4)) * 1.0,
                             r.random(4)],
                  dict(reduction=red), grad_args=(0,),
                  call=lambda m, x, t, w, **k: m.multilabel_soft_margin_loss(x, t, w, **k)),
            _spec("cosine_embedding_loss", lambda r: [r.standard_normal((5, 3)),
                                                      r.standard_normal((5, 3)), _signs(r, 5)],
                  dict(reduction=red, margin=0.2), grad_args=(0, 1)),
            _spec("triplet_margin_loss", lambda r: [r.standard_normal((4, 3)) for _ in range(3)],
                  dict(reduction=red, margin=2.0)),
            _spec("triplet_margin_loss", lambda r: [r.standard_normal((4, 3)) for _ in range(3)],
                  dict(reduction=red, margin=1.5, p=1, swap=True)),
            _spec("gaussian_nll_loss", lambda r: [r.standard_normal((3, 4)),
                                                  r.standard_normal((3, 4)),
                                                  r.random((3, 4)) + 0.2],
                  dict(reduction=red, full=True)),
            _spec("gaussian_nll_loss", lambda r: [r.standard_normal((3, 4)),
                                                  r.standard_normal((3, 4)), r.random(3) + 0.2],
                  dict(reduction=red), tag="-var-one-dim-fewer"),
            _spec("gaussian_nll_loss", lambda r: [r.standard_normal((3, 4)),
                                                  r.standard_normal((3, 4)),
                                                  r.random((3, 1)) + 0.2],
                  dict(reduction=red), tag="-homoscedastic"),
            # NOTE: Stirling's term jumps at t = 1, so the differentiated targets are drawn
            # from a continuous range (never within the finite-difference step of 1).
            _spec("poisson_nll_loss", lambda r: [r.standard_normal((3, 4)),
                                                 r.random((3, 4)) * 4],
                  dict(reduction=red, full=True)),
            _spec("poisson_nll_loss", lambda r: [r.random((3, 4)) + 0.1,
                                                 r.poisson(2.0, (3, 4)) * 1.0],
                  dict(reduction=red, log_input=False)),
        ]
    specs += [
        _spec("kl_div", lambda r: [np.log(r.dirichlet(np.ones(5), 3)), r.dirichlet(np.ones(5), 3)],
              dict(reduction="batchmean")),
        _spec("triplet_margin_loss", lambda r: [r.standard_normal(3) for _ in range(3)],
              dict(margin=3.0, p=3), tag="-unbatched"),
        _spec("gaussian_nll_loss", lambda r: [r.standard_normal((3, 4)),
                                              r.standard_normal((3, 4))],
              dict(reduction="sum"), call=lambda m, x, t, **k: m.gaussian_nll_loss(x, t, 0.7, **k),
              tag="-float-var"),
    ]
    return specs


@pytest.mark.parametrize("spec", _loss_specs(), ids=str)
def test_loss(spec: OpSpec) -> None:
    check_op(spec)


def _class_specs() -> list[OpSpec]:
    """cross_entropy/nll_loss as nanoGPT and vision scripts call them: ignore_index=-1, N-d
    inputs, class-probability targets, label smoothing, class weights."""
    def idx_targets(shape, classes, ignore=None):
        def make(r):
            t = r.integers(0, classes, shape)
            if ignore is not None:
                t.reshape(-1)[:: 3] = ignore
            return t
        return make

    specs = []
    for red in REDUCTIONS:
        for shape, ignore, smooth, weight in [((6, 5), -1, 0.0, False), ((2, 4, 3, 2), -1, 0.1,
                                                                          True),
                                              ((3, 4, 5), 2, 0.0, True), ((4,), -100, 0.3, False)]:
            t_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
            c = shape[1] if len(shape) > 1 else shape[0]
            tgt = idx_targets(t_shape, c, ignore if len(shape) > 1 else None)

            def make(r, shape=shape, c=c, tgt=tgt, weight=weight):
                return [r.standard_normal(shape), tgt(r)] + ([r.random(c) + 0.5] if weight
                                                             else [])

            def call(m, x, t, *w, ignore=ignore, smooth=smooth, **k):
                return m.cross_entropy(x, t, *w, ignore_index=ignore, label_smoothing=smooth,
                                       **k)

            specs.append(_spec("cross_entropy", make, dict(reduction=red), grad_args=(0,),
                               call=call, tag=f"-{shape}-ignore{ignore}-ls{smooth}-w{weight}"))

            def call_nll(m, x, t, *w, ignore=ignore, **k):
                return m.nll_loss(x, t, *w, ignore_index=ignore, **k)

            specs.append(_spec("nll_loss", make, dict(reduction=red), grad_args=(0,),
                               call=call_nll, tag=f"-{shape}-ignore{ignore}-w{weight}"))
        for shape, smooth in [((4, 3), 0.0), ((2, 3, 2, 2), 0.2)]:
            def make_p(r, shape=shape):
                p = r.random(shape)
                return [r.standard_normal(shape), p / p.sum(axis=1, keepdims=True)]

            specs.append(_spec("cross_entropy", make_p,
                               dict(reduction=red, label_smoothing=smooth),
                               tag=f"-probabilities-{shape}"))
    return specs


@pytest.mark.parametrize("spec", _class_specs(), ids=str)
def test_class_losses(spec: OpSpec) -> None:
    check_op(spec)


def test_nanogpt_cross_entropy_call() -> None:
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    logits = rng.standard_normal((2, 9, 11)).astype(np.float32)
    targets = rng.integers(0, 11, (2, 9))
    targets[1, 4:] = -1
    x = nc.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x.view(-1, x.size(-1)), nc.tensor(targets).view(-1), ignore_index=-1)
    tx = torch.tensor(logits, requires_grad=True)
    tloss = TF.cross_entropy(tx.view(-1, tx.size(-1)), torch.tensor(targets).view(-1),
                             ignore_index=-1)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6, err_msg=f"seed {seed}")
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_kl_div_mean_warns_and_matches_torch() -> None:
    pytest.importorskip("torch")
    rng, _ = fresh_rng()
    x, t = np.log(rng.dirichlet(np.ones(4), 3)), rng.dirichlet(np.ones(4), 3)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        ours = F.kl_div(nc.tensor(x), nc.tensor(t)).item()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = TF.kl_div(torch.tensor(x), torch.tensor(t)).item()
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_target_size_mismatch_broadcasts_with_torch_warning() -> None:
    pytest.importorskip("torch")
    rng, _ = fresh_rng()
    x, t = rng.standard_normal((3, 4)), rng.standard_normal(4)
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        xn = nc.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        with pytest.warns(UserWarning, match=r"Using a target size \(\(4,\)\) that is different "
                                             r"to the input size \(\(3, 4\)\)"):
            out = getattr(F, name)(xn, nc.tensor(t))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tout = getattr(TF, name)(xt, torch.tensor(t))
        out.backward()
        tout.backward()
        np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12, err_msg=name)


def test_legacy_size_average_flags() -> None:
    rng, _ = fresh_rng()
    x, t = nc.tensor(rng.standard_normal(5)), nc.tensor(rng.standard_normal(5))
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        a = F.smooth_l1_loss(x, t, size_average=False)
    assert a.item() == pytest.approx(F.smooth_l1_loss(x, t, reduction="sum").item())
    with pytest.warns(UserWarning, match="please use reduction='none' instead"):
        assert F.mse_loss(x, t, reduce=False).shape == (5,)
    with pytest.warns(UserWarning):
        assert nn.KLDivLoss(reduce=False).reduction == "none"


_MODULES = [
    ("SmoothL1Loss", dict(beta=0.5), ["x", "t"]),
    ("HuberLoss", dict(delta=0.7, reduction="sum"), ["x", "t"]),
    ("BCELoss", {}, ["p", "q"]),
    ("KLDivLoss", dict(reduction="batchmean"), ["logp", "q"]),
    ("KLDivLoss", dict(reduction="sum", log_target=True), ["logp", "logp"]),
    ("GaussianNLLLoss", dict(full=True, eps=1e-3), ["x", "t", "var"]),
    ("PoissonNLLLoss", dict(reduction="none"), ["x", "count"]),
    ("TripletMarginLoss", dict(margin=1.3, p=1.0, swap=True), ["x", "t", "x2"]),
    ("CosineEmbeddingLoss", dict(margin=0.1), ["x", "t", "sign"]),
    ("MarginRankingLoss", dict(margin=0.2), ["x1", "t1", "sign"]),
    ("HingeEmbeddingLoss", dict(margin=2.0), ["absx", "signs"]),
    ("SoftMarginLoss", {}, ["x", "signs"]),  # PyTorch: no gradient for its target
    ("MultiLabelSoftMarginLoss", dict(reduction="sum"), ["x", "bits"]),
    ("MSELoss", {}, ["x", "t"]),
    ("L1Loss", {}, ["x", "t"]),
]


@pytest.mark.parametrize(("name", "kwargs", "inputs"), _MODULES)
def test_loss_module_matches_torch(name, kwargs, inputs) -> None:
    pytest.importorskip("torch")
    r, _ = fresh_rng()
    p = r.dirichlet(np.ones(4), 3)
    make = {"x": r.standard_normal((3, 4)), "t": r.standard_normal((3, 4)),
            "x2": r.standard_normal((3, 4)), "p": _sigmoid(r.standard_normal((3, 4))),
            "q": p, "logp": np.log(r.dirichlet(np.ones(4), 3)), "var": r.random((3, 4)) + 0.1,
            "count": r.poisson(3.0, (3, 4)) * 1.0, "sign": _signs(r, 3),
            "x1": r.standard_normal(3), "t1": r.standard_normal(3),
            "absx": np.abs(r.standard_normal((3, 4))), "signs": _signs(r, (3, 4)),
            "bits": r.integers(0, 2, (3, 4)) * 1.0}
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    grad_args = (0,) if name == "SoftMarginLoss" else None
    compare_module(ours, theirs, [make[k] for k in inputs], grad_args=grad_args)


def test_weighted_loss_modules_keep_weight_buffers() -> None:
    pytest.importorskip("torch")
    w = np.array([0.5, 1.0, 2.0, 1.5])
    for name in ("BCELoss", "MultiLabelSoftMarginLoss"):
        ours = getattr(nn, name)(weight=nc.tensor(w))
        theirs = getattr(torch.nn, name)(weight=torch.tensor(w))
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        r, _ = fresh_rng()
        x = _sigmoid(r.standard_normal((3, 4))) if name == "BCELoss" else r.standard_normal((3, 4))
        compare_module(ours, theirs, [x, r.integers(0, 2, (3, 4)) * 1.0])


_FUNCTIONALS = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss",
                "binary_cross_entropy_with_logits", "smooth_l1_loss", "huber_loss",
                "binary_cross_entropy", "kl_div", "soft_margin_loss",
                "multilabel_soft_margin_loss", "margin_ranking_loss", "hinge_embedding_loss",
                "cosine_embedding_loss", "triplet_margin_loss", "gaussian_nll_loss",
                "poisson_nll_loss"]


@pytest.mark.parametrize("name", _FUNCTIONALS)
def test_functional_signature_matches_torch(name: str) -> None:
    pytest.importorskip("torch")
    assert_same_signature(getattr(F, name), getattr(TF, name))


@pytest.mark.parametrize("name", [m[0] for m in _MODULES] + ["CrossEntropyLoss", "NLLLoss",
                                                             "BCEWithLogitsLoss"])
def test_module_constructor_signature_matches_torch(name: str) -> None:
    pytest.importorskip("torch")
    assert_same_signature(getattr(nn, name).__init__, getattr(torch.nn, name).__init__)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: F.smooth_l1_loss(nc.zeros(3), nc.zeros(3), beta=-1.0), RuntimeError,
         r"smooth_l1_loss does not support negative values for beta"),
        (lambda: F.huber_loss(nc.zeros(3), nc.zeros(3), delta=0.0), RuntimeError,
         r"huber_loss does not support non-positive values for delta"),
        (lambda: F.huber_loss(nc.zeros(3), nc.zeros(3), weight=nc.ones(2)), ValueError,
         r"huber_loss: weights and input must have the same size"),
        (lambda: F.mse_loss(nc.zeros(3), nc.zeros(3), weight=nc.ones(1)), ValueError,
         r"mse_loss: weights and input must have the same size"),
        (lambda: F.binary_cross_entropy(nc.tensor([0.5, 1.5]), nc.tensor([1.0, 0.0])),
         RuntimeError, r"binary_cross_entropy: all elements of input should be between 0 and 1"),
        (lambda: F.binary_cross_entropy(nc.tensor([0.5, 0.5]), nc.tensor([1.0, 2.0])),
         RuntimeError, r"all elements of target should be between 0 and 1"),
        (lambda: F.binary_cross_entropy(nc.full((2, 3), 0.5), nc.full((3,), 0.5)), ValueError,
         r"Using a target size \(\(3,\)\) that is different to the input size \(\(2, 3\)\) is "
         r"deprecated"),
        (lambda: F.kl_div(nc.zeros(3), nc.zeros(3), reduction="avg"), ValueError,
         r"kl_div: reduction must be"),
        (lambda: F.gaussian_nll_loss(nc.zeros(2, 3), nc.zeros(2, 3), -nc.ones(2, 3)), ValueError,
         r"var has negative entry/entries"),
        (lambda: F.gaussian_nll_loss(nc.zeros(2, 3), nc.zeros(2, 3), nc.ones(2, 4)), ValueError,
         r"var is of incorrect size"),
        (lambda: F.triplet_margin_loss(nc.zeros(2, 3), nc.zeros(3), nc.zeros(2, 3)),
         RuntimeError, r"triplet_margin_loss: the anchor, positive, and negative tensors are "
                       r"expected to have the same number of dimensions"),
        (lambda: F.margin_ranking_loss(nc.zeros(3), nc.zeros(3), nc.zeros(1, 3)), RuntimeError,
         r"margin_ranking_loss: all input tensors should have same dimension"),
        (lambda: F.cosine_embedding_loss(nc.zeros(2, 3), nc.zeros(2, 4), nc.ones(2)),
         RuntimeError, r"cosine_embedding_loss: input1 and input2 must be 1-D or 2-D of one "
                       r"shape"),
        (lambda: nn.TripletMarginLoss(margin=0.0), ValueError,
         r"TripletMarginLoss: expected margin to be greater than 0"),
        (lambda: F.smooth_l1_loss(nc.zeros(2, 3), nc.zeros(3, 2)), ValueError,
         r"smooth_l1_loss: target of shape \(3, 2\) does not match input of shape \(2, 3\)"),
        (lambda: F.binary_cross_entropy(nc.zeros(2), nc.zeros(2, dtype=nc.float64)), TypeError,
         r"binary_cross_entropy: expected one dtype, but input is float32, target is float64"),
    ],
)
def test_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
