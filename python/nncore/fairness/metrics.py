"""Group fairness of binary classifiers: per-group metrics and disparity measures.

Fairlearn's definitions and names. Labels and predictions are binary (0/1 or bool, 1 the
positive/favourable outcome). ``sensitive_features`` is one array ``(N,)``, several as a
mapping ``{name: (N,)}`` or an array ``(N, k)``; with several, groups are their intersections,
keyed by tuples. A rate whose denominator is empty in a group (no positives for the true
positive rate, say) is 0, as in fairlearn. Differences are ``max - min`` over groups
(``method="between_groups"``) or the largest gap to the overall value (``"to_overall"``);
ratios are ``min / max`` (or the smallest ``group / overall`` ratio, either way round), and 1.0
when every group is at 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nncore.tensor import Tensor

__all__ = [
    "GroupMetrics", "demographic_parity_difference", "demographic_parity_ratio",
    "disparate_impact", "equal_opportunity_difference", "equal_opportunity_ratio",
    "equalized_odds_difference", "equalized_odds_ratio", "group_metrics",
]

METRICS = ("count", "selection_rate", "accuracy", "precision", "recall",
           "false_positive_rate", "false_negative_rate")


def _np(x: Any) -> np.ndarray:
    return x._array if isinstance(x, Tensor) else np.asarray(x)


def _binary(op: str, name: str, y: Any) -> np.ndarray:
    arr = _np(y)
    if arr.ndim != 1:
        raise ValueError(f"{op}: {name} must be a 1-D label vector, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{op}: {name} is empty")
    if arr.dtype == bool:
        return arr
    values = np.unique(arr)
    if arr.dtype.kind not in "iuf" or not np.isin(values, (0, 1)).all():
        shown = values[:10].tolist()
        raise ValueError(f"{op}: {name} must hold binary labels 0/1, got values {shown}"
                         f"{' ...' if len(values) > 10 else ''}")
    return arr == 1


def _groups(op: str, sensitive_features: Any, n: int) -> tuple[np.ndarray, list[Any], list[str]]:
    """Group index per sample, the group keys (values or tuples), and the feature names."""
    if isinstance(sensitive_features, Mapping):
        names = [str(k) for k in sensitive_features]
        columns = [_np(v) for v in sensitive_features.values()]
    else:
        arr = _np(sensitive_features)
        if arr.ndim == 2:
            names = [f"sensitive_feature_{i}" for i in range(arr.shape[1])]
            columns = [arr[:, i] for i in range(arr.shape[1])]
        else:
            names, columns = ["sensitive_feature_0"], [arr]
    if not columns:
        raise ValueError(f"{op}: sensitive_features is empty")
    for name, col in zip(names, columns):
        if col.ndim != 1 or len(col) != n:
            raise ValueError(f"{op}: sensitive feature {name!r} has shape {col.shape}, expected "
                             f"({n},) to match the {n} labels")
    codes, keys = [], []
    for col in columns:
        uniq, inv = np.unique(col, return_inverse=True)
        codes.append(inv.reshape(-1))
        keys.append(uniq.tolist())
    combined = np.stack(codes, axis=1)
    present, index = np.unique(combined, axis=0, return_inverse=True)
    group_keys = [keys[0][row[0]] if len(keys) == 1 else
                  tuple(keys[j][c] for j, c in enumerate(row)) for row in present]
    return index.reshape(-1), group_keys, names


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _table(t: np.ndarray, p: np.ndarray, index: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Every metric for each of ``k`` groups (arrays ``(k,)``)."""
    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=mask.astype(np.float64), minlength=k)

    n = np.bincount(index, minlength=k).astype(np.float64)
    tp, fp, fn, tn = count(t & p), count(~t & p), count(t & ~p), count(~t & ~p)
    return {
        "count": n, "selection_rate": _rate(tp + fp, n), "accuracy": _rate(tp + tn, n),
        "precision": _rate(tp, tp + fp), "recall": _rate(tp, tp + fn),
        "false_positive_rate": _rate(fp, fp + tn), "false_negative_rate": _rate(fn, fn + tp),
    }


class GroupMetrics:
    """Metrics overall and per sensitive group (fairlearn's ``MetricFrame`` for the usual
    binary metrics).

    Attributes:
        overall: ``{metric: value}`` over all samples.
        by_group: ``{group: {metric: value}}``; groups are values, or tuples with several
            sensitive features.
        sensitive_feature_names: the features' names.
    """

    def __init__(self, overall: dict[str, float], by_group: dict[Any, dict[str, float]],
                 names: list[str]) -> None:
        self.overall, self.by_group, self.sensitive_feature_names = overall, by_group, names

    def _values(self, metric: str) -> np.ndarray:
        if metric not in METRICS:
            raise ValueError(f"GroupMetrics: unknown metric {metric!r}; one of {METRICS}")
        return np.array([g[metric] for g in self.by_group.values()])

    def group_min(self, metric: str) -> float:
        return float(self._values(metric).min())

    def group_max(self, metric: str) -> float:
        return float(self._values(metric).max())

    def difference(self, metric: str, method: str = "between_groups") -> float:
        """Largest gap of ``metric`` between groups, or between a group and the overall."""
        v = self._values(metric)
        if method == "between_groups":
            return float(v.max() - v.min())
        if method == "to_overall":
            return float(np.abs(v - self.overall[metric]).max())
        raise ValueError(f"difference: method must be 'between_groups' or 'to_overall', "
                         f"got {method!r}")

    def ratio(self, metric: str, method: str = "between_groups") -> float:
        """Smallest ratio of ``metric`` between groups (min / max), or to the overall."""
        v = self._values(metric)
        if method == "between_groups":
            top = v.max()
            return 1.0 if top == 0 else float(v.min() / top)
        if method == "to_overall":
            o = self.overall[metric]
            pairs = np.stack([np.broadcast_to(o, v.shape), v])
            lo, hi = pairs.min(axis=0), pairs.max(axis=0)
            return float(np.where(hi == 0, 1.0, lo / np.where(hi == 0, 1, hi)).min())
        raise ValueError(f"ratio: method must be 'between_groups' or 'to_overall', got {method!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: groups as strings."""
        return {"sensitive_features": self.sensitive_feature_names, "overall": self.overall,
                "by_group": {str(g): m for g, m in self.by_group.items()}}

    def __repr__(self) -> str:
        head = f"{'group':>20} " + " ".join(f"{m[:14]:>14}" for m in METRICS)
        rows = [f"{str(g):>20} " + " ".join(f"{v[m]:>14.4g}" for m in METRICS)
                for g, v in self.by_group.items()]
        return "\n".join([head, *rows])


def group_metrics(y_true: Any, y_pred: Any, sensitive_features: Any,
                  op: str = "group_metrics") -> GroupMetrics:
    """Selection rate, accuracy, precision, recall, false positive and negative rates and the
    count, overall and for each group.

    Args:
        y_true: true binary labels ``(N,)``.
        y_pred: predicted binary labels ``(N,)``.
        sensitive_features: ``(N,)``, ``(N, k)`` or ``{name: (N,)}``.

    Returns:
        A ``GroupMetrics``.
    """
    t = _binary(op, "y_true", y_true)
    p = _binary(op, "y_pred", y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{op}: y_true {t.shape} and y_pred {p.shape} differ in length")
    index, keys, names = _groups(op, sensitive_features, len(t))
    per = _table(t, p, index, len(keys))
    whole = _table(t, p, np.zeros(len(t), dtype=np.int64), 1)
    overall = {m: float(whole[m][0]) for m in METRICS}
    by_group = {key: {m: float(per[m][i]) for m in METRICS} for i, key in enumerate(keys)}
    return GroupMetrics(overall, by_group, names)


def demographic_parity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                  method: str = "between_groups") -> float:
    """Largest gap in selection rate ``P(y_pred = 1 | group)`` (0 is parity)."""
    gm = group_metrics(y_true, y_pred, sensitive_features, "demographic_parity_difference")
    return gm.difference("selection_rate", method)


def demographic_parity_ratio(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                             method: str = "between_groups") -> float:
    """Smallest ratio of selection rates (1 is parity)."""
    gm = group_metrics(y_true, y_pred, sensitive_features, "demographic_parity_ratio")
    return gm.ratio("selection_rate", method)


def _eo_agg(op: str, agg: str, a: float, b: float, worst: Any) -> float:
    if agg == "worst_case":
        return float(worst(a, b))
    if agg == "mean":
        return (a + b) / 2
    raise ValueError(f"{op}: agg must be 'worst_case' or 'mean', got {agg!r}")


def equalized_odds_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                              method: str = "between_groups", agg: str = "worst_case") -> float:
    """The larger (``agg="worst_case"``) or mean of the true and false positive rate gaps."""
    op = "equalized_odds_difference"
    gm = group_metrics(y_true, y_pred, sensitive_features, op)
    return _eo_agg(op, agg, gm.difference("recall", method),
                   gm.difference("false_positive_rate", method), max)


def equalized_odds_ratio(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                         method: str = "between_groups", agg: str = "worst_case") -> float:
    """The smaller (or mean) of the true and false positive rate ratios."""
    op = "equalized_odds_ratio"
    gm = group_metrics(y_true, y_pred, sensitive_features, op)
    return _eo_agg(op, agg, gm.ratio("recall", method),
                   gm.ratio("false_positive_rate", method), min)


def equal_opportunity_difference(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                                 method: str = "between_groups") -> float:
    """Largest gap in true positive rate (recall) between groups."""
    gm = group_metrics(y_true, y_pred, sensitive_features, "equal_opportunity_difference")
    return gm.difference("recall", method)


def equal_opportunity_ratio(y_true: Any, y_pred: Any, *, sensitive_features: Any,
                            method: str = "between_groups") -> float:
    """Smallest ratio of true positive rates between groups."""
    gm = group_metrics(y_true, y_pred, sensitive_features, "equal_opportunity_ratio")
    return gm.ratio("recall", method)


def disparate_impact(y_pred: Any, *, sensitive_features: Any, privileged: Any = None) -> float:
    """Selection rate of the unprivileged over the privileged (the "80% rule" compares it
    with 0.8).

    Args:
        y_pred: predicted binary labels ``(N,)``.
        sensitive_features: ``(N,)`` (or several; groups are then tuples).
        privileged: the privileged group's value; the ratio is then the lowest selection rate
            among the other groups over the privileged one's. None: ``min / max`` over groups.

    Returns:
        The ratio (``inf`` when the privileged group is never selected but another is).
    """
    op = "disparate_impact"
    p = _binary(op, "y_pred", y_pred)
    gm = group_metrics(p, p, sensitive_features, op)
    if privileged is None:
        return gm.ratio("selection_rate")
    if privileged not in gm.by_group:
        raise ValueError(f"{op}: privileged group {privileged!r} is not among the groups "
                         f"{list(gm.by_group)}")
    rates = {g: m["selection_rate"] for g, m in gm.by_group.items()}
    ref = rates.pop(privileged)
    if not rates:
        raise ValueError(f"{op}: only the privileged group {privileged!r} is present")
    low = min(rates.values())
    if ref == 0:
        return 1.0 if low == 0 else float("inf")
    return low / ref
