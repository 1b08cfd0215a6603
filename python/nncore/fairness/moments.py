"""Constraint moments of the reductions approach (Agarwal et al., 2018), as fairlearn's.

A parity constraint compares, for each event ``e`` (all samples for demographic parity; each
label for equalized odds; ``y = 1`` for true positive rate parity) and each group ``g``, the
mean prediction over ``(e, g)`` with the mean over ``e``: ``gamma[+, e, g] = E[h | e, g] -
E[h | e]`` and ``gamma[-, e, g]`` its negative, each bounded by ``difference_bound``. Both are
linear in the predictions: ``gamma = -U^T h / n`` with a fixed ``(n, K)`` matrix ``U``, and the
cost-sensitive reweighting of the samples for Lagrange multipliers ``lambda`` is ``U lambda``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.fairness._common import binary_labels, groups

__all__ = ["DemographicParity", "EqualizedOdds", "ErrorRate", "FalsePositiveRateParity",
           "TruePositiveRateParity", "UtilityParity"]


class ErrorRate:
    """Misclassification error ``P(h(X) != Y)`` as the objective."""

    def load_data(self, y: np.ndarray) -> None:
        self.y = y

    def gamma(self, pred: np.ndarray) -> float:
        return float(np.abs(self.y - pred).mean())

    def signed_weights(self) -> np.ndarray:
        # Cost of predicting 0 minus cost of predicting 1, per sample: +1 for y=1, -1 for y=0.
        return 2.0 * self.y - 1.0


class UtilityParity:
    """Parity of the mean prediction between groups within each event.

    Args:
        difference_bound: the allowed gap of each group to its event's mean (default 0.01).
    """

    short_name = "UtilityParity"

    def __init__(self, *, difference_bound: float | None = None) -> None:
        eps = 0.01 if difference_bound is None else difference_bound
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 <= eps <= 1:
            raise ValueError(f"{type(self).__name__}: difference_bound must be a number in "
                             f"[0, 1], got {difference_bound!r}")
        self.eps = float(eps)

    def events(self, y: np.ndarray) -> np.ndarray:
        """The event of each sample (-1: in no event)."""
        raise NotImplementedError

    def load_data(self, y: Any, sensitive_features: Any) -> None:
        """Build ``U`` and the constraint index for labels ``y`` and groups."""
        op = type(self).__name__
        self.y = binary_labels(op, y)
        n = self.n = len(self.y)
        self.group_index, self.group_keys = groups(op, sensitive_features, n)
        event = self.events(self.y)
        pairs = sorted({(int(e), int(g)) for e, g in zip(event, self.group_index) if e >= 0})
        self.pairs = pairs
        self.index = [(s, e, self.group_keys[g]) for s in "+-" for e, g in pairs]
        in_event = {e: event == e for e, _ in pairs}
        p_event = {e: m.mean() for e, m in in_event.items()}
        self.prob_event = p_event
        self.prob_group_event = {}
        plus, minus = [], []
        for e, g in pairs:
            sel_e = in_event[e].astype(np.float64)
            sel_eg = sel_e * (self.group_index == g)
            p_eg = sel_eg.mean()
            self.prob_group_event[(e, g)] = p_eg
            plus.append(sel_e / p_event[e] - sel_eg / p_eg)
            minus.append(-sel_e / p_event[e] + sel_eg / p_eg)
        self.U = np.stack(plus + minus, axis=1)

    def gamma(self, pred: np.ndarray) -> np.ndarray:
        """Constraint values ``(K,)`` of predictions ``pred`` ``(n,)``."""
        return -(self.U.T @ pred) / self.n

    def bound(self) -> np.ndarray:
        return np.full(len(self.index), self.eps)

    def signed_weights(self, lam: np.ndarray) -> np.ndarray:
        return self.U @ lam

    def project_lambda(self, lam: np.ndarray) -> np.ndarray:
        """Multipliers with at most one of ``+``/``-`` positive per constraint and the groups'
        weighted median removed per event (the same or a higher Lagrangian for every ``h``)."""
        k = len(self.pairs)
        signed = lam[:k] - lam[k:]
        probs = np.array([self.prob_group_event[p] / self.prob_event[p[0]] for p in self.pairs])
        events = np.array([e for e, _ in self.pairs])
        for e in dict.fromkeys(events.tolist()):
            rows = np.flatnonzero(events == e)
            prob = probs[rows]
            normalized = signed[rows] / prob
            order = np.argsort(normalized, kind="stable")
            median = np.searchsorted(np.cumsum(prob[order]), prob.sum() / 2)
            signed[rows] = signed[rows] - prob * normalized[order[median]]
        return np.concatenate([np.clip(signed, 0, None), np.clip(-signed, 0, None)])


class DemographicParity(UtilityParity):
    """``P(h = 1 | A = a) = P(h = 1)`` for every group (one event: all samples)."""

    short_name = "DemographicParity"

    def events(self, y: np.ndarray) -> np.ndarray:
        return np.zeros(len(y), dtype=np.int64)


class EqualizedOdds(UtilityParity):
    """``P(h = 1 | A = a, Y = y) = P(h = 1 | Y = y)`` for every group and label."""

    short_name = "EqualizedOdds"

    def events(self, y: np.ndarray) -> np.ndarray:
        return y.astype(np.int64)


class TruePositiveRateParity(UtilityParity):
    """Equal opportunity: ``P(h = 1 | A = a, Y = 1) = P(h = 1 | Y = 1)``."""

    short_name = "TruePositiveRateParity"

    def events(self, y: np.ndarray) -> np.ndarray:
        return np.where(y == 1, 1, -1)


class FalsePositiveRateParity(UtilityParity):
    """``P(h = 1 | A = a, Y = 0) = P(h = 1 | Y = 0)``."""

    short_name = "FalsePositiveRateParity"

    def events(self, y: np.ndarray) -> np.ndarray:
        return np.where(y == 0, 0, -1)


MOMENTS = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
           "equal_opportunity": TruePositiveRateParity,
           "true_positive_rate_parity": TruePositiveRateParity,
           "false_positive_rate_parity": FalsePositiveRateParity}
