"""nncore.metrics against scikit-learn on random labels and targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore import metrics

skm = pytest.importorskip("sklearn.metrics")

CLASSIFIERS = {
    "precision": (metrics.precision, skm.precision_score),
    "recall": (metrics.recall, skm.recall_score),
    "f1": (metrics.f1, skm.f1_score),
}


def _labels(n: int, k: int, k_pred: int | None = None):
    rng, seed = fresh_rng()
    y_true = rng.integers(0, k, n)
    # Predictions right about half the time, else random (possibly classes absent in y_true).
    noise = rng.integers(0, k_pred or k, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, noise)
    return y_true, y_pred, seed


def _same(ours, ref, seed):
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12, err_msg=f"seed {seed}")


# sklearn (the oracle, not nncore) warns when one sample gives a single label.
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@pytest.mark.parametrize("n", [1, 3, 17, 200])
@pytest.mark.parametrize("k", [2, 3, 7])
def test_accuracy_and_confusion_matrix(n, k):
    y_true, y_pred, seed = _labels(n, k)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    _same(metrics.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred), seed)
    for norm in ("true", "pred", "all"):
        _same(metrics.confusion_matrix(y_true, y_pred, normalize=norm),
              skm.confusion_matrix(y_true, y_pred, normalize=norm), seed)
    # Reordered, one never seen, others dropped (one must occur in y_true, as sklearn requires).
    labels = [k + 3, int(y_true[0])] + ([k - 1] if y_true[0] != k - 1 else [])
    _same(metrics.confusion_matrix(y_true, y_pred, labels=labels),
          skm.confusion_matrix(y_true, y_pred, labels=labels), seed)


@pytest.mark.parametrize("name", list(CLASSIFIERS))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("n,k,k_pred", [(1, 3, None), (17, 3, None), (200, 5, 7), (40, 6, 2)])
@pytest.mark.parametrize("zero_division", [0.0, 1.0, math.nan])
def test_multiclass_scores_match_sklearn(name, average, n, k, k_pred, zero_division):
    ours, ref = CLASSIFIERS[name]
    y_true, y_pred, seed = _labels(n, k, k_pred)
    _same(ours(y_true, y_pred, average=average, zero_division=zero_division),
          ref(y_true, y_pred, average=average, zero_division=zero_division), seed)


@pytest.mark.parametrize("name", list(CLASSIFIERS))
@pytest.mark.parametrize("pos_label", [0, 1])
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_binary_scores_match_sklearn(name, pos_label, zero_division):
    ours, ref = CLASSIFIERS[name]
    for n in (1, 3, 17, 100):
        y_true, y_pred, seed = _labels(n, 2)
        _same(ours(y_true, y_pred, pos_label=pos_label, zero_division=zero_division),
              ref(y_true, y_pred, pos_label=pos_label, zero_division=zero_division), seed)
    # Positive class never predicted / never present: the zero_division value.
    y_true, y_pred = np.array([0, 0, 1]), np.array([0, 0, 0])
    _same(ours(y_true, y_pred, zero_division=zero_division),
          ref(y_true, y_pred, zero_division=zero_division), 0)
    y_true = np.array([0, 0, 0])
    _same(ours(y_true, y_pred, zero_division=zero_division),
          ref(y_true, y_pred, zero_division=zero_division), 0)


def test_string_labels_and_tensors():
    y_true = np.array(["cat", "dog", "dog", "bird", "cat"])
    y_pred = np.array(["cat", "cat", "dog", "bird", "dog"])
    _same(metrics.f1(y_true, y_pred, average="macro"),
          skm.f1_score(y_true, y_pred, average="macro"), 0)
    _same(metrics.precision(y_true[:3], y_pred[:3], pos_label="dog"),
          skm.precision_score(y_true[:3], y_pred[:3], pos_label="dog"), 0)
    t, p = nc.tensor(np.array([0, 1, 1, 2])), nc.tensor(np.array([0, 1, 2, 2]))
    assert metrics.accuracy(t, p) == 0.75
    _same(metrics.recall(t, p, average="weighted"),
          skm.recall_score(t.detach().numpy(), p.detach().numpy(), average="weighted"), 0)


@pytest.mark.parametrize("shape", [(1,), (3,), (17,), (17, 1), (23, 3)])
def test_regression_metrics_match_sklearn(shape):
    rng, seed = fresh_rng()
    y_true = rng.standard_normal(shape)
    y_pred = y_true + 0.3 * rng.standard_normal(shape)
    _same(metrics.mae(y_true, y_pred), skm.mean_absolute_error(y_true, y_pred), seed)
    _same(metrics.mse(y_true, y_pred), skm.mean_squared_error(y_true, y_pred), seed)
    _same(metrics.rmse(y_true, y_pred), skm.root_mean_squared_error(y_true, y_pred), seed)
    if shape[0] > 1:  # R^2 is undefined on one sample (sklearn warns and returns nan)
        _same(metrics.r2(y_true, y_pred), skm.r2_score(y_true, y_pred), seed)
    # The float32 oracle is the float64 MSE of the float32-rounded values: rounding the inputs
    # alone moves a one-sample error of ~1e-3 by far more than any tolerance on the arithmetic.
    true32, pred32 = y_true.astype(np.float32), y_pred.astype(np.float32)
    ours = metrics.mse(nc.tensor(true32), nc.tensor(pred32))
    expected = skm.mean_squared_error(true32.astype(np.float64), pred32.astype(np.float64))
    assert ours == pytest.approx(expected, rel=1e-5), seed


def test_r2_constant_target():
    y = np.full(5, 2.0)
    assert metrics.r2(y, y) == skm.r2_score(y, y) == 1.0
    assert metrics.r2(y, y + 1) == skm.r2_score(y, y + 1) == 0.0
    assert metrics.r2(np.arange(4.0), np.zeros((4, 1))) == pytest.approx(
        skm.r2_score(np.arange(4.0), np.zeros(4)))


def test_metric_errors():
    with pytest.raises(ValueError, match=r"accuracy: expected 1-D label vectors.*argmax"):
        metrics.accuracy(np.zeros(4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"accuracy: y_true \(4,\) and y_pred \(3,\)"):
        metrics.accuracy(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="f1: average='binary' needs at most 2 classes"):
        metrics.f1([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="precision: pos_label=2 is not a label"):
        metrics.precision([0, 1], [1, 1], pos_label=2)
    with pytest.raises(ValueError, match="recall: average must be one of"):
        metrics.recall([0, 1], [1, 1], average="samples")
    with pytest.raises(ValueError, match="f1: zero_division must be 0, 1 or nan"):
        metrics.f1([0, 1], [1, 1], zero_division="warn")
    with pytest.raises(ValueError, match=r"mse: y_true \(4,\) and y_pred \(4, 2\) do not match"):
        metrics.mse(np.zeros(4), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"confusion_matrix: none of labels \[5\] occurs"):
        metrics.confusion_matrix([0, 1], [5, 5], labels=[5])
    with pytest.raises(ValueError, match="confusion_matrix: normalize must be"):
        metrics.confusion_matrix([0], [0], normalize="rows")
