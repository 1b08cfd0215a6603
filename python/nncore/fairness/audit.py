"""The audit trail of a bias mitigation: which method ran, the metrics before and after on
held-out data, the accuracy cost and the share of each gap removed.

``audit_mitigation`` compares two prediction vectors; ``MitigationAudit`` holds the held-out
data and the unmitigated baseline, evaluates the mitigated model (``fit(..., mitigation=...)``
does it at the end of training) and writes ``mitigation.json`` into a run directory, which the
model card (``report.model_card(mitigation=...)``) and ``nncore report`` show side by side.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nncore.fairness._common import as_numpy, binary_labels, groups
from nncore.fairness.metrics import group_metrics
from nncore.train.runs import plain_json as _plain
from nncore.train.runs import write_mitigation_record as write_record

__all__ = ["GAP_METRICS", "MitigationAudit", "audit_mitigation", "fairness_summary",
           "predict_labels"]

GAP_METRICS = ("demographic_parity_difference", "equalized_odds_difference",
               "equal_opportunity_difference")
TARGETS = {"demographic_parity": "demographic_parity_difference",
           "equalized_odds": "equalized_odds_difference",
           "equal_opportunity": "equal_opportunity_difference",
           "true_positive_rate_parity": "equal_opportunity_difference"}


def fairness_summary(y_true: Any, y_pred: Any, sensitive_features: Any) -> dict[str, Any]:
    """Accuracy, the three gaps, disparate impact and per-group selection rate/TPR/FPR.

    Returns:
        A JSON-ready dict (groups as strings).
    """
    gm = group_metrics(y_true, y_pred, sensitive_features, "fairness_summary")
    out: dict[str, Any] = {
        "accuracy": gm.overall["accuracy"],
        "selection_rate": gm.overall["selection_rate"],
        "demographic_parity_difference": gm.difference("selection_rate"),
        "equalized_odds_difference": max(gm.difference("recall"),
                                         gm.difference("false_positive_rate")),
        "equal_opportunity_difference": gm.difference("recall"),
        "disparate_impact": gm.ratio("selection_rate"),
    }
    out["by_group"] = {str(g): {"count": int(m["count"]), "selection_rate": m["selection_rate"],
                                "true_positive_rate": m["recall"],
                                "false_positive_rate": m["false_positive_rate"],
                                "accuracy": m["accuracy"]} for g, m in gm.by_group.items()}
    return out


def audit_mitigation(method: str, y_true: Any, y_pred_before: Any, y_pred_after: Any,
                     sensitive_features: Any, *, constraint: str | None = None,
                     params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compare predictions before and after a mitigation on the same held-out samples.

    Args:
        method: the mitigation's name (``"reweighing"``, ``"fairness_penalty"``,
            ``"exponentiated_gradient"``, ``"threshold_optimizer"``, ...).
        y_true: binary labels ``(N,)``.
        y_pred_before, y_pred_after: 0/1 predictions of the unmitigated and mitigated models.
        sensitive_features: the group of each sample (two groups or more).
        constraint: the targeted criterion (``"demographic_parity"``, ``"equalized_odds"``,
            ``"equal_opportunity"``) or None.
        params: the method's settings, recorded as given (JSON-ready values).

    Returns:
        ``{"method", "constraint", "target_metric", "params", "samples", "before", "after",
        "accuracy_cost", "gap_reduction"}``; ``accuracy_cost`` is before minus after accuracy,
        ``gap_reduction[m]`` is ``1 - after / before`` (None when the gap was already 0).
    """
    op = "audit_mitigation"
    if not isinstance(method, str) or not method:
        raise ValueError(f"{op}: method must be a non-empty string, got {method!r}")
    if constraint is not None and constraint not in TARGETS:
        raise ValueError(f"{op}: constraint must be one of {sorted(TARGETS)} or None, got "
                         f"{constraint!r}")
    t = binary_labels(op, y_true)
    before = binary_labels(op, y_pred_before, len(t))
    after = binary_labels(op, y_pred_after, len(t))
    groups(op, sensitive_features, len(t))
    b = fairness_summary(t, before, sensitive_features)
    a = fairness_summary(t, after, sensitive_features)
    reduction = {m: (None if b[m] == 0 else 1.0 - a[m] / b[m]) for m in GAP_METRICS}
    return {"method": method, "constraint": constraint,
            "target_metric": TARGETS.get(constraint) if constraint else None,
            "params": _plain(params or {}), "samples": len(t), "before": b, "after": a,
            "accuracy_cost": b["accuracy"] - a["accuracy"], "gap_reduction": reduction}


def predict_labels(model: Any, X: Any) -> np.ndarray:
    """0/1 predictions of a binary nncore classifier: ``logit > 0`` for ``(N,)``/``(N, 1)``
    outputs, ``argmax`` for ``(N, 2)``. The model is run in eval mode without gradients."""
    from nncore.autograd import no_grad
    from nncore.tensor import Tensor

    was = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            out = as_numpy(model(X if isinstance(X, Tensor) else Tensor._wrap(np.asarray(X))))
    finally:
        if was is not None:
            model.train(was)
    if out.ndim == 2 and out.shape[1] == 2:
        return out.argmax(1).astype(np.int64)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1:
        raise ValueError(f"predict_labels: a binary classifier's output must be (N,), (N, 1) "
                         f"or (N, 2), got shape {out.shape}")
    return (out > 0).astype(np.int64)


class MitigationAudit:
    """Held-out data and an unmitigated baseline, to audit a mitigated model.

    Args:
        method: the mitigation's name.
        X: held-out inputs; y: their binary labels; sensitive_features: their groups.
        baseline: the unmitigated model's 0/1 predictions on ``X``, or that model (a binary
            classifier, see ``predict_labels``).
        constraint: the targeted criterion (see ``audit_mitigation``).
        params: the method's settings.

    Attributes:
        record: the ``audit_mitigation`` dict once ``evaluate`` ran, else None.
    """

    def __init__(self, method: str, X: Any, y: Any, sensitive_features: Any, *,
                 baseline: Any, constraint: str | None = None,
                 params: dict[str, Any] | None = None) -> None:
        op = "MitigationAudit"
        self.y = binary_labels(op, y)
        n = len(self.y)
        if len(as_numpy(X)) != n:
            raise ValueError(f"{op}: X has {len(as_numpy(X))} samples but y has {n}")
        groups(op, sensitive_features, n)
        self.X, self.sensitive_features = X, sensitive_features
        before = baseline if not callable(baseline) else predict_labels(baseline, X)
        self.before = binary_labels(op, before, n)
        if constraint is not None and constraint not in TARGETS:
            raise ValueError(f"{op}: constraint must be one of {sorted(TARGETS)} or None, got "
                             f"{constraint!r}")
        self.method, self.constraint, self.params = method, constraint, params
        self.record: dict[str, Any] | None = None

    def evaluate(self, mitigated: Any) -> dict[str, Any]:
        """Audit ``mitigated``: a model (``predict_labels``) or its 0/1 predictions on ``X``."""
        after = predict_labels(mitigated, self.X) if callable(mitigated) else mitigated
        self.record = audit_mitigation(self.method, self.y, self.before, after,
                                       self.sensitive_features, constraint=self.constraint,
                                       params=self.params)
        return self.record

    def save(self, run_dir: str | os.PathLike) -> str:
        """Write ``mitigation.json`` into ``run_dir`` (after ``evaluate``); returns its path."""
        if self.record is None:
            raise RuntimeError("MitigationAudit.save: call evaluate first")
        return write_record(run_dir, self.record)
