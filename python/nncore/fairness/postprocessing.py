"""Post-processing mitigation: per-group (randomised) thresholds, as fairlearn's
``ThresholdOptimizer`` (Hardt, Price & Srebro, 2016).

For each group, every threshold on the model's score gives a point (constraint metric x,
objective y): selection rate or true positive rate against accuracy for the simple constraints,
false against true positive rate (the ROC curve) for equalized odds. Randomising between two
thresholds reaches any point on the upper convex hull of these points, so each group's curve is
its hull, read on a grid of x values. For a simple constraint every group takes the same x and
the x maximising the group-weighted objective wins; for equalized odds the groups' ROC hulls are
overlapped (the lowest true positive rate at each false positive rate), the most accurate point
of the overlap is chosen, and a group above it mixes in a constant prediction (``p_ignore``) to
come down to it. At prediction time each sample's group gives the probability of a positive
prediction; ``predict`` draws from it (so it is randomised where the solution mixes two
thresholds), ``predict_proba`` returns it.

The fitted thresholds are kept as the module's extra state, so ``state_dict`` (and
``nncore.save``) stores them with the wrapped model's weights.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nncore.autograd import no_grad
from nncore.fairness._common import as_numpy, binary_labels, check_random_state, groups
from nncore.nn.module import Module
from nncore.tensor import Tensor

__all__ = ["ThresholdOptimizer", "tradeoff_curve"]

SIMPLE_CONSTRAINTS = {
    "demographic_parity": "selection_rate", "selection_rate_parity": "selection_rate",
    "true_positive_rate_parity": "true_positive_rate",
    "equal_opportunity": "true_positive_rate",
    "false_positive_rate_parity": "false_positive_rate",
    "false_negative_rate_parity": "false_negative_rate",
    "true_negative_rate_parity": "true_negative_rate",
}
OBJECTIVES = ("accuracy_score", "balanced_accuracy_score", "selection_rate",
              "true_positive_rate", "true_negative_rate")
EO_OBJECTIVES = ("accuracy_score", "balanced_accuracy_score")


def _metric(name: str, tp: Any, fp: Any, tn: Any, fn: Any) -> Any:
    """A rate from confusion counts (arrays); the denominators are never zero here."""
    pos, neg = tp + fn, tn + fp
    if name == "selection_rate":
        return (tp + fp) / (pos + neg)
    if name == "true_positive_rate":
        return tp / pos
    if name == "false_negative_rate":
        return fn / pos
    if name == "false_positive_rate":
        return fp / neg
    if name == "true_negative_rate":
        return tn / neg
    if name == "accuracy_score":
        return (tp + tn) / (pos + neg)
    return 0.5 * tp / pos + 0.5 * tn / neg   # balanced_accuracy_score


def _points(scores: np.ndarray, y: np.ndarray, flip: bool, x_metric: str, y_metric: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, threshold, operator) of every distinct threshold (operator 1: ``s > t``, 0:
    ``s < t``), in fairlearn's order before sorting."""
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], y[order]
    n_pos = int(lab.sum())
    n_neg = len(lab) - n_pos
    uniq, first = np.unique(-s, return_index=True)
    values = -uniq                                    # distinct scores, descending
    ends = np.append(first[1:], len(s))               # one past each run of equal scores
    tp = np.concatenate([[0], np.cumsum(lab)[ends - 1]]).astype(np.float64)
    fp = np.concatenate([[0], ends]) - tp
    nxt = np.append(values[1:], -np.inf)
    thresholds = np.concatenate([[np.inf], (values + nxt) / 2])
    cols = [(tp, fp, n_neg - fp, n_pos - tp, 1)]
    if flip:
        cols.append((n_pos - tp, n_neg - fp, fp, tp, 0))
    xs, ys, ops = [], [], []
    for tp_, fp_, tn_, fn_, op in cols:
        xs.append(_metric(x_metric, tp_, fp_, tn_, fn_))
        ys.append(_metric(y_metric, tp_, fp_, tn_, fn_))
        ops.append(np.full(len(tp_), op))
    # Interleave '>' and '<' per threshold, as they are generated one threshold at a time.
    x = np.stack(xs, 1).reshape(-1)
    yv = np.stack(ys, 1).reshape(-1)
    thr = np.repeat(thresholds, len(cols))
    op = np.stack(ops, 1).reshape(-1)
    return x, yv, thr, op


def _upper_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Indices of the upper convex hull of points sorted by (x, y) (monotone chain)."""
    keep: list[int] = []
    for i in range(len(x)):
        while len(keep) >= 2:
            a, b = keep[-2], keep[-1]
            if (y[b] - y[a]) * (x[i] - x[a]) <= (y[i] - y[a]) * (x[b] - x[a]):
                keep.pop()
            else:
                break
        keep.append(i)
    return keep


def tradeoff_curve(scores: Any, y: Any, grid: np.ndarray, flip: bool = False,
                   x_metric: str = "false_positive_rate",
                   y_metric: str = "true_positive_rate") -> dict[str, np.ndarray]:
    """One group's achievable (x, y) trade-off on ``grid``: the upper convex hull of its
    threshold points, interpolated.

    Args:
        scores: the group's scores ``(n,)``. y: its binary labels (both classes present).
        grid: increasing x values in [0, 1].
        flip: also consider ``score < threshold`` rules.
        x_metric, y_metric: rate names (``selection_rate``, ``true_positive_rate``, ...).

    Returns:
        ``{"x", "y", "p0", "threshold0", "operator0", "p1", "threshold1", "operator1"}``: at
        each grid point, use rule 0 with probability ``p0`` and rule 1 with ``p1``.
    """
    x, yv, thr, op = _points(np.asarray(scores, dtype=np.float64), np.asarray(y), flip,
                             x_metric, y_metric)
    order = np.lexsort((yv, x))
    x, yv, thr, op = x[order], yv[order], thr[order], op[order]
    hull = _upper_hull(x, yv)
    hx, hy, ht, ho = x[hull], yv[hull], thr[hull], op[hull]
    # Index i with hx[i] < g <= hx[i + 1] (the first grid point keeps hx[i] <= g).
    idx = np.searchsorted(hx, grid, side="right") - 1
    idx[1:] = np.where(grid[1:] == hx[idx[1:]], idx[1:] - 1, idx[1:])
    idx = np.clip(idx, 0, len(hx) - 2) if len(hx) > 1 else np.zeros_like(idx)
    nxt = np.minimum(idx + 1, len(hx) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p0 = np.where(nxt == idx, 1.0, (hx[nxt] - grid) / (hx[nxt] - hx[idx]))
    p1 = 1.0 - p0
    return {"x": grid, "y": p0 * hy[idx] + p1 * hy[nxt], "p0": p0, "threshold0": ht[idx],
            "operator0": ho[idx], "p1": p1, "threshold1": ht[nxt], "operator1": ho[nxt]}


def _key(k: Any) -> Any:
    """A group key comparable after a save/load round trip (tuples come back as lists)."""
    return tuple(k) if isinstance(k, list) else k


def _apply_rule(s: np.ndarray, threshold: float, operator: int) -> np.ndarray:
    return (s > threshold) if operator == 1 else (s < threshold)


class ThresholdOptimizer(Module):
    """Per-group thresholds on a model's scores under a fairness constraint.

    Args:
        estimator: the trained nncore model (its output: logits ``(N,)``/``(N, 1)``, or class
            scores ``(N, 2)``), or any callable ``X -> scores``; None to fit and predict on
            scores given directly as ``X``.
        constraints: ``"demographic_parity"``, ``"equal_opportunity"`` (true positive rate
            parity), ``"equalized_odds"``, or fairlearn's other ``*_rate_parity`` names.
        objective: ``"accuracy_score"`` (default), ``"balanced_accuracy_score"``; the simple
            constraints also take ``"selection_rate"``, ``"true_positive_rate"``,
            ``"true_negative_rate"``.
        grid_size: the constraint value is searched on ``grid_size + 1`` points of [0, 1].
        flip: also allow ``score < threshold`` rules.
        prefit: must be True (the model is trained before; fairlearn's ``prefit=False``
            refit is not supported).
        predict_method: ``"auto"`` (the positive-class probability for ``(N, 2)`` outputs,
            the raw score otherwise), ``"predict_proba"``, or ``"decision_function"``.
        tol: must be None (fairlearn's relaxed constraints are not supported).

    ``forward(X, sensitive_features)`` returns the probability of a positive prediction per
    sample (a Tensor); ``predict`` draws the randomised 0/1 decision.
    """

    def __init__(self, estimator: Module | Callable[[Any], Any] | None = None, *,
                 constraints: str = "demographic_parity", objective: str = "accuracy_score",
                 grid_size: int = 1000, flip: bool = False, prefit: bool = True,
                 predict_method: str = "auto", tol: float | None = None) -> None:
        super().__init__()
        op = "ThresholdOptimizer"
        if not prefit:
            raise NotImplementedError(f"{op}: prefit=False (fitting the estimator inside fit) "
                                      f"is not supported; train the nncore model first")
        if tol is not None:
            raise NotImplementedError(f"{op}: fairlearn's relaxed constraints (tol) are not "
                                      f"supported")
        if constraints != "equalized_odds" and constraints not in SIMPLE_CONSTRAINTS:
            raise ValueError(f"{op}: constraints must be 'equalized_odds' or one of "
                             f"{sorted(SIMPLE_CONSTRAINTS)}, got {constraints!r}")
        allowed = EO_OBJECTIVES if constraints == "equalized_odds" else OBJECTIVES
        if objective not in allowed:
            raise ValueError(f"{op}: objective for {constraints} must be one of {allowed}, got "
                             f"{objective!r}")
        if not isinstance(grid_size, int) or isinstance(grid_size, bool) or grid_size < 1:
            raise ValueError(f"{op}: grid_size must be a positive int, got {grid_size!r}")
        if predict_method not in ("auto", "predict_proba", "decision_function"):
            raise ValueError(f"{op}: predict_method must be 'auto', 'predict_proba' or "
                             f"'decision_function', got {predict_method!r}")
        if estimator is not None and not callable(estimator):
            raise TypeError(f"{op}: estimator must be an nncore Module or a callable, got "
                            f"{type(estimator).__name__}")
        self.estimator = estimator
        self.constraints, self.objective, self.grid_size = constraints, objective, grid_size
        self.flip, self.predict_method = bool(flip), predict_method
        self.groups_: list[Any] | None = None
        self.rules_: dict[str, np.ndarray] | None = None
        self.x_best_: float | None = None
        self.y_best_: float | None = None

    # ---- scores ----
    def scores(self, X: Any) -> np.ndarray:
        """The estimator's score per sample ``(N,)`` (float64), as thresholded."""
        if self.estimator is None:
            out = as_numpy(X)
        else:
            was = getattr(self.estimator, "training", None)
            if isinstance(self.estimator, Module):
                self.estimator.eval()
            try:
                with no_grad():
                    out = self.estimator(X if isinstance(X, Tensor) or
                                         not isinstance(self.estimator, Module)
                                         else Tensor._wrap(np.asarray(X)))
            finally:
                if was is not None:
                    self.estimator.train(was)
            out = as_numpy(out)
        out = np.asarray(out, dtype=np.float64)
        if out.ndim == 2 and out.shape[1] == 2:
            if self.predict_method == "decision_function":
                return out[:, 1] - out[:, 0]
            e = np.exp(out - out.max(1, keepdims=True))
            return e[:, 1] / e.sum(1)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ValueError(f"ThresholdOptimizer: scores must be (N,), (N, 1) or (N, 2), got "
                             f"shape {out.shape}")
        if self.predict_method == "predict_proba":
            return 1.0 / (1.0 + np.exp(-out))
        return out

    # ---- fitting ----
    def fit(self, X: Any, y: Any, *, sensitive_features: Any) -> ThresholdOptimizer:
        """Choose each group's thresholds on ``(X, y)`` (a validation set).

        Args:
            X: the estimator's inputs (scores ``(N,)`` when ``estimator`` is None).
            y: binary labels ``(N,)``.
            sensitive_features: the group of each sample ``(N,)`` (two groups or more).

        Returns:
            self.

        Raises:
            ValueError: wrong lengths, one group only, non-binary labels, a group whose labels
                are all equal.
        """
        op = "ThresholdOptimizer.fit"
        s = self.scores(X)
        labels = binary_labels(op, y, len(s))
        if not np.isfinite(s).all():
            raise ValueError(f"{op}: the scores hold NaN or infinite values")
        index, keys = groups(op, sensitive_features, len(s))
        for g, key in enumerate(keys):
            yg = labels[index == g]
            if yg.min() == yg.max():
                raise ValueError(f"{op}: group {key!r} has only label {int(yg[0])}; every group "
                                 f"needs both labels")
        grid = np.linspace(0, 1, self.grid_size + 1)
        if self.constraints == "equalized_odds":
            curves = [tradeoff_curve(s[index == g], labels[index == g], grid, self.flip)
                      for g in range(len(keys))]
            rules = self._equalized_odds(curves, labels, grid)
        else:
            x_metric = SIMPLE_CONSTRAINTS[self.constraints]
            curves = [tradeoff_curve(s[index == g], labels[index == g], grid, self.flip,
                                     x_metric, self.objective) for g in range(len(keys))]
            share = np.bincount(index, minlength=len(keys)) / len(s)
            overall = sum(p * c["y"] for p, c in zip(share, curves))
            best = int(np.argmax(overall))
            self.x_best_, self.y_best_ = float(grid[best]), float(overall[best])
            rules = {k: np.array([c[k][best] for c in curves]) for k in
                     ("p0", "threshold0", "operator0", "p1", "threshold1", "operator1")}
            rules["p_ignore"] = np.zeros(len(keys))
            rules["constant"] = np.zeros(len(keys))
        self.groups_ = keys
        self.rules_ = {k: np.asarray(v, dtype=np.float64) for k, v in rules.items()}
        return self

    def _equalized_odds(self, curves: list[dict[str, np.ndarray]], labels: np.ndarray,
                        grid: np.ndarray) -> dict[str, np.ndarray]:
        n_pos = float(labels.sum())
        n_neg = len(labels) - n_pos
        y_min = np.min([c["y"] for c in curves], axis=0)
        tp, fn = n_pos * y_min, n_pos * (1 - y_min)
        fp, tn = n_neg * grid, n_neg * (1 - grid)
        objective = np.around(_metric(self.objective, tp, fp, tn, fn), 15)
        best = int(np.argmax(objective))
        self.x_best_, self.y_best_ = float(grid[best]), float(y_min[best])
        rules: dict[str, list[float]] = {k: [] for k in (
            "p0", "threshold0", "operator0", "p1", "threshold1", "operator1", "p_ignore",
            "constant")}
        for c in curves:
            for k in ("p0", "threshold0", "operator0", "p1", "threshold1", "operator1"):
                rules[k].append(c[k][best])
            yg, xg = c["y"][best], c["x"][best]
            # A group above the overlap mixes in the constant prediction x_best (a point on the
            # diagonal) to come down to the overlap's true positive rate.
            rules["p_ignore"].append(0.0 if yg == xg else (yg - self.y_best_) / (yg - xg))
            rules["constant"].append(self.x_best_)
        return {k: np.array(v) for k, v in rules.items()}

    # ---- prediction ----
    def _check_fitted(self, op: str) -> None:
        if self.rules_ is None:
            raise RuntimeError(f"{op}: this ThresholdOptimizer is not fitted yet; call fit "
                               f"first (or load_state_dict of a fitted one)")

    def predict_proba(self, X: Any, *, sensitive_features: Any) -> np.ndarray:
        """Probability of a positive decision per sample ``(N,)`` (float64)."""
        op = "ThresholdOptimizer.predict_proba"
        self._check_fitted(op)
        s = self.scores(X)
        index, keys = groups(op, sensitive_features, len(s), min_groups=1)
        known = {_key(k): g for g, k in enumerate(self.groups_)}
        unknown = [k for k in keys if _key(k) not in known]
        if unknown:
            raise ValueError(f"{op}: sensitive_features holds groups {unknown[:5]} that were "
                             f"not seen in fit (known: {self.groups_})")
        fitted = np.array([known[_key(k)] for k in keys])[index]
        r = self.rules_
        out = np.zeros(len(s))
        for g in np.unique(fitted):
            rows = fitted == g
            sg = s[rows]
            prob = (r["p0"][g] * _apply_rule(sg, r["threshold0"][g], int(r["operator0"][g])) +
                    r["p1"][g] * _apply_rule(sg, r["threshold1"][g], int(r["operator1"][g])))
            out[rows] = r["p_ignore"][g] * r["constant"][g] + (1 - r["p_ignore"][g]) * prob
        return out

    def predict(self, X: Any, *, sensitive_features: Any, random_state: Any = None
                ) -> np.ndarray:
        """Randomised 0/1 decisions ``(N,)`` (int64): 1 where ``predict_proba >= u``, ``u``
        uniform from ``random_state`` (an int seed gives fairlearn's draws)."""
        prob = self.predict_proba(X, sensitive_features=sensitive_features)
        rng = check_random_state("ThresholdOptimizer.predict", random_state)
        return (prob >= rng.rand(len(prob))).astype(np.int64)

    def forward(self, X: Any, sensitive_features: Any) -> Tensor:
        return Tensor._wrap(self.predict_proba(X, sensitive_features=sensitive_features))

    # ---- state ----
    def get_extra_state(self) -> dict[str, Any]:
        return {"constraints": self.constraints, "objective": self.objective,
                "grid_size": self.grid_size, "flip": self.flip,
                "predict_method": self.predict_method, "groups": self.groups_,
                "rules": None if self.rules_ is None else
                {k: v.tolist() for k, v in self.rules_.items()},
                "x_best": self.x_best_, "y_best": self.y_best_}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "rules" not in state:
            raise ValueError("ThresholdOptimizer: the state holds no fitted thresholds")
        for k in ("constraints", "objective", "grid_size", "flip", "predict_method"):
            setattr(self, k, state[k])
        self.groups_ = None if state["groups"] is None else list(state["groups"])
        self.rules_ = None if state["rules"] is None else {
            k: np.asarray(v, dtype=np.float64) for k, v in state["rules"].items()}
        self.x_best_, self.y_best_ = state["x_best"], state["y_best"]

    def extra_repr(self) -> str:
        fitted = "fitted" if self.rules_ is not None else "not fitted"
        return f"constraints={self.constraints!r}, objective={self.objective!r}, {fitted}"
