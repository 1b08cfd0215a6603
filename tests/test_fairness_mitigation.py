"""Bias mitigation: reweighing, the fairness penalty and exponentiated gradient, end to end on
nncore models (planted bias, biased breast cancer), and against fairlearn and PyTorch."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import nncore
from fairness_data import DATASETS, module_fn, tensors, train_kwargs
from nncore import fairness, nn, optim
from nncore.fairness import (
    ExponentiatedGradient,
    FairnessPenalty,
    NNClassifier,
    reweighing,
    reweighing_sampler,
)
from nncore.train import fit
from nncore.utils.data import DataLoader, TensorDataset, WeightedRandomSampler


@functools.cache
def _baseline(name: str):
    """The unmitigated model of a data set (trained once)."""
    (xt, yt, _), _, _ = DATASETS[name]()
    return NNClassifier(module_fn(xt.shape[1]), **train_kwargs(xt.shape[1])).fit(xt, yt)


def heldout(name: str, include_val: bool = True):
    """(x, y, a) the mitigated model never trained on: validation and test splits together
    (the in-processing methods do not use the validation split), or test only."""
    _, val, test = DATASETS[name]()
    if not include_val:
        return test
    return tuple(np.concatenate([v, t]) for v, t in zip(val, test))


def check_cut(name: str, constraint: str, after: np.ndarray, max_cost: float,
              include_val: bool = True) -> dict:
    """The target gap on held-out data is at most half the baseline's, and accuracy drops by
    at most ``max_cost``. Returns the audit record (numbers for the closing note)."""
    x, y, a = heldout(name, include_val)
    before = _baseline(name).predict(x)
    rec = fairness.audit_mitigation("test", y, before, after, a, constraint=constraint)
    metric = rec["target_metric"]
    g0, g1 = rec["before"][metric], rec["after"][metric]
    assert g0 > 0.2, f"{name}: the planted bias should show ({metric} {g0:.3f})"
    assert g1 <= 0.5 * g0, f"{name}: {metric} {g0:.3f} -> {g1:.3f}, not cut by half"
    assert rec["accuracy_cost"] <= max_cost, \
        f"{name}: accuracy cost {rec['accuracy_cost']:.3f} > {max_cost}"
    print(f"{name} {metric}: {g0:.3f} -> {g1:.3f}, accuracy {rec['before']['accuracy']:.3f} "
          f"-> {rec['after']['accuracy']:.3f}")
    return rec


# ---- reweighing ----
def test_reweighing_makes_the_label_independent_of_the_group():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, 500)
    y = (rng.random(500) < 0.2 + 0.3 * a).astype(np.int64)
    w = reweighing(y, a)
    assert w.sum() == pytest.approx(500)
    overall = np.average(y, weights=w)
    for g in range(3):
        assert np.average(y[a == g], weights=w[a == g]) == pytest.approx(overall, abs=1e-12)
    # The Kamiran & Calders formula cell by cell: P(a) P(y) / P(a, y).
    i = 7
    expected = (a == a[i]).mean() * (y == y[i]).mean() / ((a == a[i]) & (y == y[i])).mean()
    assert w[i] == pytest.approx(expected)
    base = rng.random(500) + 0.5
    wb = reweighing(y, {"a": a}, sample_weight=base)
    assert wb.sum() == pytest.approx(base.sum())
    for g in range(3):
        m = a == g
        assert np.average(y[m], weights=wb[m]) == pytest.approx(np.average(y, weights=wb))


def test_reweighing_sampler_is_a_seeded_weighted_random_sampler():
    rng = np.random.default_rng(0)
    a, y = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    s1 = reweighing_sampler(y, a, generator=nncore.Generator().manual_seed(5))
    s2 = reweighing_sampler(y, a, generator=nncore.Generator().manual_seed(5))
    assert isinstance(s1, WeightedRandomSampler) and len(s1) == 300
    assert list(s1) == list(s2)
    np.testing.assert_allclose(s1.weights, reweighing(y, a))


@pytest.mark.parametrize("name", ["synthetic", "cancer"])
def test_reweighing_as_loss_weights_and_as_sampler_cut_the_parity_gap(name):
    (xt, yt, at), _, _ = DATASETS[name]()
    xs = heldout(name)[0]
    d = xt.shape[1]
    clf = NNClassifier(module_fn(d), **train_kwargs(d)).fit(
        xt, yt, sample_weight=reweighing(yt, at))
    check_cut(name, "demographic_parity", clf.predict(xs), max_cost=0.05)
    nncore.manual_seed(0)
    model = module_fn(d)()
    x, yf = tensors(xt, yt.astype(np.float32))
    loader = DataLoader(TensorDataset(x, yf), batch_size=64, sampler=reweighing_sampler(
        yt, at, generator=nncore.Generator().manual_seed(0)))

    def loss(out, y):
        return nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y)

    fit(model, loss, optim.Adam(model.parameters(), lr=0.01), loader, epochs=15, metrics=[],
        progress=False)
    check_cut(name, "demographic_parity", fairness.predict_labels(model, xs), max_cost=0.05)


# ---- per-sample loss weights, as PyTorch ----
@pytest.mark.parametrize("n,c", [(1, 3), (17, 2), (6, 5)])
def test_weighted_per_sample_losses_match_torch(n, c):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n * 10 + c)
    logits = rng.normal(size=(n, c))
    target = rng.integers(0, c, n)
    w = rng.random(n)
    cw = rng.random(c) + 0.5
    x = nncore.tensor(logits, requires_grad=True)
    xt = torch.tensor(logits, requires_grad=True)
    ours = (nn.CrossEntropyLoss(weight=nncore.tensor(cw), reduction="none")(
        x, nncore.tensor(target)) * nncore.tensor(w)).mean()
    ref = (torch.nn.CrossEntropyLoss(weight=torch.tensor(cw), reduction="none")(
        xt, torch.tensor(target)) * torch.tensor(w)).mean()
    ours.backward()
    ref.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    z = rng.normal(size=(n, 1))
    t = rng.integers(0, 2, (n, 1)).astype(np.float64)
    pw = np.array([2.5])
    zb, zt = nncore.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    ours = (nn.BCEWithLogitsLoss(pos_weight=nncore.tensor(pw), reduction="none")(
        zb, nncore.tensor(t))[:, 0] * nncore.tensor(w)).sum()
    ref = (torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw), reduction="none")(
        zt, torch.tensor(t))[:, 0] * torch.tensor(w)).sum()
    ours.backward()
    ref.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(zb.grad.numpy(), zt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_fit_with_weight_batches_equals_the_hand_written_weighted_loss():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = rng.integers(0, 2, 40).astype(np.float32)
    w = (rng.random(40) * 2).astype(np.float32)

    def run(weighted_batches: bool) -> np.ndarray:
        nncore.manual_seed(0)
        model = nn.Linear(3, 1)
        opt = optim.SGD(model.parameters(), lr=0.1)
        bce = nn.BCEWithLogitsLoss(reduction="none")
        if weighted_batches:
            data = TensorDataset(*tensors(x, y, w))
            fit(model, lambda o, t: bce(o.reshape(-1), t), opt, DataLoader(data, batch_size=40),
                epochs=3, metrics=[], progress=False)
        else:
            xt, yt, wt = tensors(x, y, w)
            for _ in range(3):
                loss = (bce(model(xt).reshape(-1), yt) * wt).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return model.weight.detach().numpy().copy()

    np.testing.assert_array_equal(run(True), run(False))


def test_fit_weight_batches_refuse_bad_weights_and_scalar_losses():
    x, y = tensors(np.ones((4, 2), np.float32), np.ones(4, np.float32))
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    bce = nn.BCEWithLogitsLoss(reduction="none")

    def loss(o, t):
        return bce(o.reshape(-1), t)

    for bad, msg in ((np.array([1, -1, 1, 1], np.float32), "finite and non-negative"),
                     (np.array([1, np.nan, 1, 1], np.float32), "finite and non-negative"),
                     (np.ones(3, np.float32), "do not match")):
        with pytest.raises(ValueError, match=msg):
            fit(model, loss, opt, [(x, y, nncore.from_numpy(bad))], progress=False, metrics=[])
    with pytest.raises(ValueError, match="reduction='none'"):
        fit(model, lambda o, t: nn.functional.binary_cross_entropy_with_logits(
            o.reshape(-1), t), opt, [(x, y, y)], progress=False, metrics=[])


# ---- the differentiable penalty ----
def _torch_gap(torch, logits, y, a, constraint):
    p = torch.sigmoid(logits)
    gaps = []
    for rows in ([np.ones(len(y), bool)] if constraint == "demographic_parity" else
                 [y == 1, y == 0]):
        means = torch.stack([p[torch.tensor(rows & (a == g))].mean() for g in np.unique(a)
                             if (rows & (a == g)).any()])
        gaps.append(means.max() - means.min())
    return gaps[0] if len(gaps) == 1 else torch.maximum(gaps[0], gaps[1])


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
@pytest.mark.parametrize("n", [5, 17])
def test_penalty_forward_and_backward_match_torch(constraint, n):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    z = rng.normal(size=n)
    a = np.arange(n) % 3
    y = (np.arange(n) // 3) % 2
    zt = torch.tensor(z, requires_grad=True)
    ref = _torch_gap(torch, zt, y, a, constraint)
    ref.backward()
    x = nncore.tensor(z, requires_grad=True)
    ours = fairness.fairness_gap(constraint, x, y, a)
    ours.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), zt.grad.numpy(), atol=1e-12)
    # Central differences in float64 through the real backward.
    eps, num = 1e-6, np.zeros(n)
    for i in range(n):
        hi, lo = z.copy(), z.copy()
        hi[i] += eps
        lo[i] -= eps
        num[i] = (fairness.fairness_gap(constraint, nncore.tensor(hi), y, a).item() -
                  fairness.fairness_gap(constraint, nncore.tensor(lo), y, a).item()) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("name", ["synthetic", "cancer"])
@pytest.mark.parametrize("constraint,weight,cost", [("demographic_parity", 3.0, 0.1),
                                                    ("equalized_odds", 6.0, 0.12)])
def test_penalty_training_cuts_its_gap(name, constraint, weight, cost):
    (xt, yt, at), _, _ = DATASETS[name]()
    xs = heldout(name)[0]
    nncore.manual_seed(0)
    model = module_fn(xt.shape[1])()
    loader = DataLoader(TensorDataset(*tensors(xt, yt.astype(np.float32), at)),
                        batch_size=len(yt), shuffle=True,
                        generator=nncore.Generator().manual_seed(0))
    penalty = FairnessPenalty(nn.BCEWithLogitsLoss(), constraint, weight=weight)
    fit(model, penalty, optim.Adam(model.parameters(), lr=0.03), loader, epochs=150,
        metrics=[], progress=False)
    assert penalty.last_gap is not None
    check_cut(name, constraint, fairness.predict_labels(model, xs), max_cost=cost)


def test_penalty_bad_input():
    z = nncore.tensor(np.zeros(4))
    with pytest.raises(ValueError, match="sensitive_features has 3 entries but there are 4"):
        fairness.demographic_parity_gap(z, [0, 1, 0])
    with pytest.raises(ValueError, match="binary labels"):
        fairness.equalized_odds_gap(z, [0, 2, 1, 0], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="input must be binary scores"):
        fairness.demographic_parity_gap(nncore.zeros(4, 3), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        FairnessPenalty(nn.BCEWithLogitsLoss(), weight=-1.0)
    with pytest.raises(ValueError, match="constraint must be one of"):
        FairnessPenalty(nn.BCEWithLogitsLoss(), "parity")
    # One group in a batch: nothing to compare, the gap is zero (and differentiable).
    x = nncore.tensor(np.ones(4), requires_grad=True)
    gap = fairness.demographic_parity_gap(x, [1, 1, 1, 1])
    gap.backward()
    assert gap.item() == 0.0 and np.all(x.grad.numpy() == 0)


# ---- exponentiated gradient ----
@pytest.mark.parametrize("name", ["synthetic", "cancer"])
@pytest.mark.parametrize("constraint,cost", [("demographic_parity", 0.1),
                                             ("equalized_odds", 0.1)])
def test_exponentiated_gradient_on_nncore_models_cuts_its_gap(name, constraint, cost):
    (xt, yt, at), _, _ = DATASETS[name]()
    xs = heldout(name)[0]
    est = NNClassifier(module_fn(xt.shape[1]), epochs=60, lr=0.05)
    eg = ExponentiatedGradient(est, constraint, max_iter=15).fit(xt, yt, sensitive_features=at)
    assert np.isclose(eg.weights_.sum(), 1) and all(
        isinstance(p, NNClassifier) or hasattr(p, "value") for p in eg.predictors_)
    check_cut(name, constraint, eg.predict(xs, random_state=0), max_cost=cost)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
def test_exponentiated_gradient_matches_fairlearn_with_the_same_oracle(constraint):
    red = pytest.importorskip("fairlearn.reductions")
    from sklearn.linear_model import LogisticRegression

    (xt, yt, at), _, _ = DATASETS["synthetic"](seed=2, n=400)
    moment = {"demographic_parity": red.DemographicParity,
              "equalized_odds": red.EqualizedOdds,
              "true_positive_rate_parity": red.TruePositiveRateParity}[constraint]
    ref = _quiet(red.ExponentiatedGradient(LogisticRegression(), moment(), max_iter=12).fit,
                 xt, yt, sensitive_features=at)
    ours = ExponentiatedGradient(LogisticRegression(), constraint, max_iter=12).fit(
        xt, yt, sensitive_features=at)
    assert ours.best_iter_ == ref.best_iter_ and ours.n_oracle_calls_ == ref.n_oracle_calls_
    np.testing.assert_allclose(ours.predict_proba(xt), _quiet(ref._pmf_predict, xt)[:, 1],
                               atol=1e-9)
    np.testing.assert_array_equal(ours.predict(xt, random_state=4),
                                  _quiet(ref.predict, xt, random_state=4))


def test_moments_match_fairlearn():
    red = pytest.importorskip("fairlearn.reductions")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(8)
    y, a = rng.integers(0, 2, 60), rng.integers(0, 3, 60)
    pred = rng.integers(0, 2, 60).astype(np.float64)
    for ours, ref in ((fairness.moments.DemographicParity(), red.DemographicParity()),
                      (fairness.moments.EqualizedOdds(), red.EqualizedOdds()),
                      (fairness.moments.TruePositiveRateParity(),
                       red.TruePositiveRateParity())):
        ours.load_data(y, a)
        _quiet(ref.load_data, np.zeros((60, 1)), pd.Series(y), sensitive_features=a)
        np.testing.assert_allclose(ours.gamma(pred),
                                   ref.gamma(lambda X: pred).to_numpy(), atol=1e-12)
        lam = rng.random(len(ours.index))
        lam_s = pd.Series(lam, index=ref.index)
        np.testing.assert_allclose(ours.signed_weights(lam),
                                   ref.signed_weights(lam_s).to_numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.project_lambda(lam),
                                   ref.project_lambda(lam_s).to_numpy(), atol=1e-12)


def test_exponentiated_gradient_bad_input():
    est = NNClassifier(module_fn(2), epochs=1)
    x = np.zeros((6, 2), np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="sensitive_features has 5 entries but there are 6"):
        ExponentiatedGradient(est, "demographic_parity").fit(x, y, sensitive_features=[0] * 5)
    with pytest.raises(ValueError, match="only one group"):
        ExponentiatedGradient(est, "demographic_parity").fit(x, y, sensitive_features=[1] * 6)
    with pytest.raises(ValueError, match="binary labels"):
        ExponentiatedGradient(est, "equalized_odds").fit(x, y * 2, sensitive_features=y)
    with pytest.raises(ValueError, match="constraints must be one of"):
        ExponentiatedGradient(est, "fairness")
    with pytest.raises(TypeError, match="needs fit"):
        ExponentiatedGradient(object(), "demographic_parity")
    for bad, msg in (([1, -1, 1, 1, 1, 1], "negative"), ([1, np.nan, 1, 1, 1, 1], "NaN")):
        with pytest.raises(ValueError, match=msg):
            est.fit(x, y, sample_weight=np.array(bad, dtype=np.float64))
        with pytest.raises(ValueError, match=msg):
            reweighing(y, [0, 1] * 3, sample_weight=np.array(bad, dtype=np.float64))
    with pytest.raises(ValueError, match="only one group"):
        reweighing(y, np.zeros(6))
    with pytest.raises(ValueError, match="sensitive_features has 4 entries but there are 6"):
        reweighing(y, np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        reweighing(y, np.array([0, 1, np.nan, 0, 1, 0]))


def test_penalty_takes_sample_weights_and_fit_validates_weighted_batches():
    (xt, yt, at), (xv, yv, av), _ = DATASETS["synthetic"]()
    w = reweighing(yt, at).astype(np.float32)
    loss = FairnessPenalty(nn.BCEWithLogitsLoss(reduction="none"), weight=1.0)
    nncore.manual_seed(0)
    model = module_fn(4)()
    train = DataLoader(TensorDataset(*tensors(xt, yt.astype(np.float32), at, w)), batch_size=200)
    val = DataLoader(TensorDataset(*tensors(xv, yv.astype(np.float32), av)), batch_size=300)
    hist = fit(model, loss, optim.Adam(model.parameters(), lr=0.03), train, val_loader=val,
               epochs=2, metrics=[], progress=False)
    assert np.isfinite(hist.history["val_loss"]).all()
    # The weighted task loss is the mean of weight * per-sample loss, as written by hand.
    out = model(nncore.from_numpy(xt))
    bce = nn.BCEWithLogitsLoss(reduction="none")(out.reshape(-1), nncore.from_numpy(
        yt.astype(np.float32)))
    expected = (bce * nncore.from_numpy(w)).mean() + fairness.demographic_parity_gap(out, at)
    got = loss(out, nncore.from_numpy(yt.astype(np.float32)), at, w)
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction='none'"):
        FairnessPenalty(nn.BCEWithLogitsLoss())(out, nncore.from_numpy(
            yt.astype(np.float32)), at, w)
