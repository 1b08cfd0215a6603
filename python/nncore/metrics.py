"""Classification and regression metrics with scikit-learn's semantics, on arrays or Tensors.

Classification metrics take label vectors ``(N,)`` (integers, or anything NumPy can sort), not
logits or probabilities: pass ``logits.argmax(1)`` for a classifier's predictions. The class set
is the sorted union of the labels in ``y_true`` and ``y_pred``. Results are Python floats (NumPy
arrays for ``average=None`` and ``confusion_matrix``). Where a ratio is 0/0 (a class never
predicted, or absent), ``zero_division`` (0, 1 or NaN) is returned for it, without a warning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore.tensor import Tensor

__all__ = [
    "accuracy", "confusion_matrix", "f1", "mae", "mse", "precision", "r2", "recall", "rmse",
]

_AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _np(x: Any) -> np.ndarray:
    return x._array if isinstance(x, Tensor) else np.asarray(x)


def _labels_pair(name: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _np(y_true), _np(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(
            f"{name}: expected 1-D label vectors, got y_true {t.shape} and y_pred {p.shape} "
            f"(for logits (N, C) pass logits.argmax(1))"
        )
    if t.shape != p.shape:
        raise ValueError(f"{name}: y_true {t.shape} and y_pred {p.shape} differ in length")
    if t.size == 0:
        raise ValueError(f"{name}: empty inputs")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of labels predicted exactly.

    Args:
        y_true: true labels ``(N,)``.
        y_pred: predicted labels ``(N,)``.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    t, p = _labels_pair("accuracy", y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: Any, y_pred: Any, labels: Any = None,
                     normalize: str | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true label ``labels[i]`` predicted as ``labels[j]``.

    Args:
        y_true: true labels ``(N,)``.
        y_pred: predicted labels ``(N,)``.
        labels: class order (samples with other labels are ignored); default the sorted union.
        normalize: None (counts), ``"true"`` (rows sum to 1), ``"pred"`` (columns) or ``"all"``.

    Shape:
        ``(K, K)`` for K labels: int64 counts, float64 when normalized.

    Returns:
        The confusion matrix.
    """
    t, p = _labels_pair("confusion_matrix", y_true, y_pred)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"confusion_matrix: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}"
        )
    labels = np.union1d(t, p) if labels is None else _np(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"confusion_matrix: labels must be a non-empty 1-D list, got {labels!r}")
    k = labels.size
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]

    def index(y: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(sorted_labels, y), 0, k - 1)
        return np.where(sorted_labels[pos] == y, order[pos], -1)

    ti, pi = index(t), index(p)
    if not (ti >= 0).any():
        raise ValueError(f"confusion_matrix: none of labels {labels.tolist()} occurs in y_true")
    keep = (ti >= 0) & (pi >= 0)
    cm = np.bincount(ti[keep] * k + pi[keep], minlength=k * k).reshape(k, k).astype(np.int64)
    if normalize is None:
        return cm
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(num.shape, zero_division, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _prf(name: str, y_true: Any, y_pred: Any, average: str | None, pos_label: Any,
         zero_division: float) -> tuple[np.ndarray, ...]:
    """(per-class or pooled) tp, fp, fn and support, and the weights for ``average``."""
    if average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")
    if not (zero_division in (0, 1) or (isinstance(zero_division, float)
                                         and math.isnan(zero_division))):
        raise ValueError(f"{name}: zero_division must be 0, 1 or nan, got {zero_division!r}")
    t, p = _labels_pair(name, y_true, y_pred)
    present = np.union1d(t, p)
    if average == "binary":
        if present.size > 2:
            raise ValueError(
                f"{name}: average='binary' needs at most 2 classes, got {present.size} "
                f"({present.tolist()}); choose average='macro', 'micro' or 'weighted'"
            )
        if present.size == 2 and pos_label not in present:
            raise ValueError(
                f"{name}: pos_label={pos_label!r} is not a label in {present.tolist()}"
            )
        labels = np.asarray([pos_label])
    else:
        labels = present
    cm_t = t[:, None] == labels[None, :]
    cm_p = p[:, None] == labels[None, :]
    tp = (cm_t & cm_p).sum(axis=0)
    fp = (~cm_t & cm_p).sum(axis=0)
    fn = (cm_t & ~cm_p).sum(axis=0)
    support = cm_t.sum(axis=0)
    if average == "micro":
        tp, fp, fn, support = tp.sum(keepdims=True), fp.sum(keepdims=True), \
            fn.sum(keepdims=True), support.sum(keepdims=True)
    return tp, fp, fn, support


def _average(scores: np.ndarray, support: np.ndarray, average: str | None) -> Any:
    if average is None:
        return scores
    # NOTE: as scikit-learn, classes scored NaN (zero_division=nan) are left out of the average.
    keep = ~np.isnan(scores)
    if not keep.any():
        return math.nan
    scores, support = scores[keep], support[keep]
    if average == "weighted":
        return float(np.average(scores, weights=support)) if support.sum() else 0.0
    return float(np.mean(scores))


def precision(y_true: Any, y_pred: Any, average: str | None = "binary", pos_label: Any = 1,
              zero_division: float = 0.0) -> Any:
    """Precision ``tp / (tp + fp)``.

    Args:
        y_true: true labels ``(N,)``.
        y_pred: predicted labels ``(N,)``.
        average: ``"binary"`` (the ``pos_label`` class only; at most 2 classes), ``"macro"``
            (unweighted mean over classes), ``"micro"`` (global counts), ``"weighted"`` (mean
            weighted by support) or None (per-class array, classes in sorted order).
        pos_label: the positive class for ``"binary"``.
        zero_division: value for a 0/0 ratio: 0, 1 or ``float("nan")``.

    Returns:
        A float, or a float64 array ``(K,)`` for ``average=None``.
    """
    tp, fp, _, support = _prf("precision", y_true, y_pred, average, pos_label, zero_division)
    return _average(_divide(tp, tp + fp, zero_division), support, average)


def recall(y_true: Any, y_pred: Any, average: str | None = "binary", pos_label: Any = 1,
           zero_division: float = 0.0) -> Any:
    """Recall ``tp / (tp + fn)``. Arguments and return as ``precision``."""
    tp, _, fn, support = _prf("recall", y_true, y_pred, average, pos_label, zero_division)
    return _average(_divide(tp, tp + fn, zero_division), support, average)


def f1(y_true: Any, y_pred: Any, average: str | None = "binary", pos_label: Any = 1,
       zero_division: float = 0.0) -> Any:
    """F1 score ``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall.

    Arguments and return as ``precision``.
    """
    tp, fp, fn, support = _prf("f1", y_true, y_pred, average, pos_label, zero_division)
    return _average(_divide(2 * tp, 2 * tp + fp + fn, zero_division), support, average)


def _targets_pair(name: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = _np(y_true).astype(np.float64)
    p = _np(y_pred).astype(np.float64)
    if t.ndim not in (1, 2) or p.ndim not in (1, 2):
        raise ValueError(
            f"{name}: expected targets (N,) or (N, T), got y_true {t.shape} and y_pred {p.shape}"
        )
    t, p = t.reshape(len(t), -1), p.reshape(len(p), -1)
    if t.shape != p.shape:
        raise ValueError(f"{name}: y_true {_np(y_true).shape} and y_pred {_np(y_pred).shape} "
                         f"do not match")
    if t.shape[0] == 0:
        raise ValueError(f"{name}: empty inputs")
    return t, p


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error, averaged over samples and then over outputs.

    Args:
        y_true: targets ``(N,)`` or ``(N, T)``.
        y_pred: predictions of the same shape (``(N,)`` and ``(N, 1)`` are interchangeable).

    Returns:
        The error as a float.
    """
    t, p = _targets_pair("mae", y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error. Arguments as ``mae``."""
    t, p = _targets_pair("mse", y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error, per output then averaged over outputs. Arguments as ``mae``."""
    t, p = _targets_pair("rmse", y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged over outputs.

    A constant target gives 1.0 when predicted exactly and 0.0 otherwise (scikit-learn's
    ``force_finite``). Arguments as ``mae``.
    """
    t, p = _targets_pair("r2", y_true, y_pred)
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    scores = np.where(ss_tot != 0, 1 - ss_res / np.where(ss_tot != 0, ss_tot, 1),
                      np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(scores))
