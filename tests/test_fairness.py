"""nncore.fairness against fairlearn's MetricFrame and disparity metrics on random data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from harness import fresh_rng
from nncore import fairness

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    flm = pytest.importorskip("fairlearn.metrics")
    skm = pytest.importorskip("sklearn.metrics")
    pd = pytest.importorskip("pandas")


def _data(n: int, groups: int, rng):
    y_true = rng.integers(0, 2, n)
    # Group-dependent selection, so the disparities are not all near zero.
    g = rng.integers(0, groups, n)
    y_pred = (rng.random(n) < 0.2 + 0.6 * (g / max(groups - 1, 1)) * 0.5 + 0.3 * y_true)
    return y_true, y_pred.astype(np.int64), g


def _ref_metrics():
    def fpr(t, p):
        return flm.false_positive_rate(t, p, pos_label=1)

    def fnr(t, p):
        return flm.false_negative_rate(t, p, pos_label=1)

    return {
        "count": flm.count,
        "selection_rate": lambda t, p: flm.selection_rate(t, p, pos_label=1),
        "accuracy": skm.accuracy_score,
        "precision": lambda t, p: skm.precision_score(t, p, zero_division=0),
        "recall": lambda t, p: skm.recall_score(t, p, zero_division=0),
        "false_positive_rate": fpr,
        "false_negative_rate": fnr,
    }


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("n,groups", [(7, 2), (300, 3), (1000, 5)])
def test_group_metrics_match_metricframe(n, groups):
    rng, seed = fresh_rng()
    y_true, y_pred, g = _data(n, groups, rng)
    ours = fairness.group_metrics(y_true, y_pred, g)
    ref = _quiet(flm.MetricFrame, metrics=_ref_metrics(), y_true=y_true, y_pred=y_pred,
                 sensitive_features=g)
    for metric in fairness.METRICS:
        assert ours.overall[metric] == pytest.approx(float(ref.overall[metric]), abs=1e-12)
        for group, row in ours.by_group.items():
            assert row[metric] == pytest.approx(float(ref.by_group[metric][group]), abs=1e-12), \
                f"seed {seed}: {metric} of group {group}"
    assert set(ours.by_group) == set(np.unique(g).tolist())
    assert ours.difference("recall") == pytest.approx(
        float(_quiet(ref.difference)["recall"]), abs=1e-12)


def test_several_sensitive_features_are_intersections():
    rng, seed = fresh_rng()
    y_true, y_pred, g = _data(600, 3, rng)
    sex = rng.choice(["f", "m"], 600)
    ours = fairness.group_metrics(y_true, y_pred, {"race": g, "sex": sex})
    frame = pd.DataFrame({"race": g, "sex": sex})
    ref = _quiet(flm.MetricFrame, metrics=_ref_metrics(), y_true=y_true, y_pred=y_pred,
                 sensitive_features=frame)
    assert ours.sensitive_feature_names == ["race", "sex"]
    for (race, s), row in ours.by_group.items():
        for metric in fairness.METRICS:
            assert row[metric] == pytest.approx(float(ref.by_group[metric][(race, s)]),
                                                abs=1e-12), f"seed {seed}"
    two_d = fairness.group_metrics(y_true, y_pred, np.stack([g, g % 2], axis=1))
    assert all(isinstance(k, tuple) and len(k) == 2 for k in two_d.by_group)


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
@pytest.mark.parametrize("groups", [2, 4])
def test_disparities_match_fairlearn(method, groups):
    rng, seed = fresh_rng()
    y_true, y_pred, g = _data(800, groups, rng)
    kw = {"sensitive_features": g, "method": method}
    pairs = [
        (fairness.demographic_parity_difference, flm.demographic_parity_difference),
        (fairness.demographic_parity_ratio, flm.demographic_parity_ratio),
        (fairness.equalized_odds_difference, flm.equalized_odds_difference),
        (fairness.equalized_odds_ratio, flm.equalized_odds_ratio),
        (fairness.equal_opportunity_difference, flm.equal_opportunity_difference),
        (fairness.equal_opportunity_ratio, flm.equal_opportunity_ratio),
    ]
    for ours, ref in pairs:
        assert ours(y_true, y_pred, **kw) == pytest.approx(
            float(_quiet(ref, y_true, y_pred, **kw)), abs=1e-12), f"{ours.__name__} seed {seed}"
    for agg in ("worst_case", "mean"):
        for ours, ref in pairs[2:4]:
            assert ours(y_true, y_pred, agg=agg, **kw) == pytest.approx(
                float(_quiet(ref, y_true, y_pred, agg=agg, **kw)), abs=1e-12)


def test_disparate_impact():
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0, 1, 0])
    group = np.array(["a"] * 4 + ["b"] * 6)
    # Selection rates: a 3/4, b 2/6.
    assert fairness.disparate_impact(y_pred, sensitive_features=group, privileged="a") == \
        pytest.approx((2 / 6) / (3 / 4))
    assert fairness.disparate_impact(y_pred, sensitive_features=group) == pytest.approx(
        fairness.demographic_parity_ratio(y_pred, y_pred, sensitive_features=group))
    assert fairness.disparate_impact(np.zeros(10, int), sensitive_features=group,
                                     privileged="a") == 1.0


def test_bad_input():
    y = np.array([0, 1, 1, 0])
    msg = r"demographic_parity_difference: sensitive feature 'sensitive_feature_0' has shape"
    with pytest.raises(ValueError, match=msg + r" \(3,\), expected \(4,\)"):
        fairness.demographic_parity_difference(y, y, sensitive_features=np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"group_metrics: sensitive feature 'sex' has shape"):
        fairness.group_metrics(y, y, {"sex": np.zeros(5)})
    with pytest.raises(ValueError, match=r"equalized_odds_difference: y_true must hold binary "
                                         r"labels 0/1, got values \[0, 1, 2\]"):
        fairness.equalized_odds_difference(np.array([0, 1, 2, 0]), y,
                                           sensitive_features=np.zeros(4))
    with pytest.raises(ValueError, match=r"group_metrics: y_pred must hold binary labels"):
        fairness.group_metrics(y, np.array([0.5, 1, 1, 0]), np.zeros(4))
    with pytest.raises(ValueError, match=r"group_metrics: y_true \(4,\) and y_pred \(3,\)"):
        fairness.group_metrics(y, y[:3], np.zeros(4))
    with pytest.raises(ValueError, match="equalized_odds_ratio: agg"):
        fairness.equalized_odds_ratio(y, y, sensitive_features=np.zeros(4), agg="max")
    with pytest.raises(ValueError, match="disparate_impact: privileged group 'z'"):
        fairness.disparate_impact(y, sensitive_features=np.array(list("abab")), privileged="z")
    assert fairness.group_metrics(y.astype(bool), y, np.zeros(4)).overall["accuracy"] == 1.0
