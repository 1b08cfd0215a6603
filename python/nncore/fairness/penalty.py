"""In-processing mitigation: a differentiable fairness penalty added to the training loss.

The soft prediction of a binary classifier is ``p = sigmoid(logit)`` (or the softmax
probability of class 1). Its mean per group is a matrix product with a constant ``(N, G)``
matrix of ``1 / n_g`` entries, so the gaps below are built from differentiable nncore ops
(``sigmoid``, ``matmul``, ``max``, ``min``) and their gradients flow into the model:

- demographic parity gap: ``max_g mean(p | g) - min_g mean(p | g)``;
- equal opportunity gap: the same over the samples with ``y = 1`` (soft true positive rate);
- equalized odds gap: the larger (or mean) of the gaps over ``y = 1`` and over ``y = 0``
  (soft true and false positive rates).

A group absent from a batch (or from a label within it) is left out of that batch's gap; a
batch with fewer than two groups contributes zero. ``FairnessPenalty`` wraps a loss:
``loss(input, target) + weight * gap``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nncore.fairness._common import as_numpy, binary_labels, groups
from nncore.nn.module import Module
from nncore.tensor import Tensor

__all__ = ["CONSTRAINTS", "FairnessPenalty", "demographic_parity_gap", "equal_opportunity_gap",
           "equalized_odds_gap", "fairness_gap"]

CONSTRAINTS = ("demographic_parity", "equal_opportunity", "equalized_odds")


def _soft(op: str, input: Any, from_logits: bool) -> Tensor:
    """The positive-class probability ``(N,)`` from logits ``(N,)``, ``(N, 1)`` or ``(N, 2)``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor (the model's output), got "
                        f"{type(input).__name__}")
    if input.ndim == 2 and input.shape[1] == 2:
        return input.softmax(1)[:, 1] if from_logits else input[:, 1]
    if input.ndim == 2 and input.shape[1] == 1:
        input = input.reshape(-1)
    if input.ndim != 1:
        raise ValueError(f"{op}: input must be binary scores (N,), (N, 1) or (N, 2), got shape "
                         f"{tuple(input.shape)}")
    return input.sigmoid() if from_logits else input


def _group_gap(p: Tensor, index: np.ndarray, rows: np.ndarray) -> Tensor | None:
    """``max - min`` of the mean of ``p`` per group over the rows in the mask ``rows``; None
    when fewer than two groups have such rows."""
    g = index[rows]
    present, local = np.unique(g, return_inverse=True)
    if len(present) < 2:
        return None
    counts = np.bincount(local, minlength=len(present)).astype(np.float64)
    mat = np.zeros((len(p), len(present)), dtype=np.dtype(p.dtype))
    mat[np.flatnonzero(rows), local.reshape(-1)] = 1.0 / counts[local.reshape(-1)]
    means = p @ Tensor._wrap(mat)
    return means.max() - means.min()


def _zero(p: Tensor) -> Tensor:
    return p.sum() * 0.0


def demographic_parity_gap(input: Tensor, sensitive_features: Any, *,
                           from_logits: bool = True) -> Tensor:
    """Differentiable gap of the mean soft prediction between groups.

    Args:
        input: the model's binary scores: logits ``(N,)``/``(N, 1)``, or two-class logits
            ``(N, 2)``; probabilities with ``from_logits=False``.
        sensitive_features: ``(N,)`` group of each sample (or ``(N, k)``/a mapping).
        from_logits: apply sigmoid (softmax for two columns) first.

    Returns:
        A scalar Tensor (0 when the batch holds fewer than two groups).
    """
    op = "demographic_parity_gap"
    p = _soft(op, input, from_logits)
    index, _ = groups(op, sensitive_features, len(p), min_groups=1)
    gap = _group_gap(p, index, np.ones(len(p), dtype=bool))
    return _zero(p) if gap is None else gap


def _rate_gaps(op: str, input: Tensor, target: Any, sensitive_features: Any,
               from_logits: bool, labels: tuple[int, ...]) -> list[Tensor]:
    p = _soft(op, input, from_logits)
    y = binary_labels(op, target, len(p))
    index, _ = groups(op, sensitive_features, len(p), min_groups=1)
    gaps = [_group_gap(p, index, y == label) for label in labels]
    return [g for g in gaps if g is not None] or [_zero(p)]


def equal_opportunity_gap(input: Tensor, target: Any, sensitive_features: Any, *,
                          from_logits: bool = True) -> Tensor:
    """Differentiable gap of the soft true positive rate (mean ``p`` over ``y = 1``) between
    groups. Args as ``equalized_odds_gap``."""
    return _rate_gaps("equal_opportunity_gap", input, target, sensitive_features,
                      from_logits, (1,))[0]


def equalized_odds_gap(input: Tensor, target: Any, sensitive_features: Any, *,
                       from_logits: bool = True, agg: str = "worst_case") -> Tensor:
    """Differentiable equalized-odds gap: soft true and false positive rate gaps combined.

    Args:
        input: binary scores as in ``demographic_parity_gap``.
        target: binary labels ``(N,)`` (or ``(N, 1)``).
        sensitive_features: ``(N,)`` group of each sample.
        from_logits: apply sigmoid/softmax first.
        agg: ``"worst_case"`` (the larger gap, as fairlearn's equalized_odds_difference) or
            ``"mean"``.

    Returns:
        A scalar Tensor.
    """
    op = "equalized_odds_gap"
    if agg not in ("worst_case", "mean"):
        raise ValueError(f"{op}: agg must be 'worst_case' or 'mean', got {agg!r}")
    gaps = _rate_gaps(op, input, target, sensitive_features, from_logits, (1, 0))
    if len(gaps) == 1:
        return gaps[0]
    return gaps[0].maximum(gaps[1]) if agg == "worst_case" else (gaps[0] + gaps[1]) * 0.5


def fairness_gap(constraint: str, input: Tensor, target: Any, sensitive_features: Any, *,
                 from_logits: bool = True) -> Tensor:
    """The differentiable gap named by ``constraint`` (one of ``CONSTRAINTS``)."""
    if constraint == "demographic_parity":
        return demographic_parity_gap(input, sensitive_features, from_logits=from_logits)
    if constraint == "equal_opportunity":
        return equal_opportunity_gap(input, target, sensitive_features, from_logits=from_logits)
    if constraint == "equalized_odds":
        return equalized_odds_gap(input, target, sensitive_features, from_logits=from_logits)
    raise ValueError(f"fairness_gap: constraint must be one of {CONSTRAINTS}, got "
                     f"{constraint!r}")


class FairnessPenalty(Module):
    """``loss(input, target) + weight * gap``: a loss with a fairness penalty.

    In ``nncore.train.fit`` the loader yields ``(input, target, sensitive)`` or
    ``(input, target, sensitive, sample_weight)`` batches; this loss receives the extra items
    (``accepts_batch_extras``).

    Args:
        loss: the task loss, e.g. ``nn.BCEWithLogitsLoss()``; with per-sample weights it must
            use ``reduction='none'`` (the weighted mean is taken here).
        constraint: ``"demographic_parity"``, ``"equal_opportunity"`` or ``"equalized_odds"``.
        weight: the penalty's multiplier (>= 0).
        from_logits: the model outputs logits (sigmoid/softmax applied for the gap).

    Shape:
        input ``(N,)``, ``(N, 1)`` or ``(N, 2)``; target as ``loss`` expects; sensitive
        ``(N,)``. Output: scalar. A ``(N, 1)`` input with ``(N,)`` targets is flattened for
        ``loss``.
    """

    accepts_batch_extras = True

    def __init__(self, loss: Callable[[Any, Any], Tensor], constraint: str = "demographic_parity",
                 weight: float = 1.0, from_logits: bool = True) -> None:
        super().__init__()
        if constraint not in CONSTRAINTS:
            raise ValueError(f"FairnessPenalty: constraint must be one of {CONSTRAINTS}, got "
                             f"{constraint!r}")
        if not callable(loss):
            raise TypeError(f"FairnessPenalty: loss must be callable, got {type(loss).__name__}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or \
                not np.isfinite(weight) or weight < 0:
            raise ValueError(f"FairnessPenalty: weight must be a finite number >= 0, got "
                             f"{weight!r}")
        self.loss, self.constraint = loss, constraint
        self.weight, self.from_logits = float(weight), bool(from_logits)
        self.last_gap: float | None = None

    def forward(self, input: Tensor, target: Any, sensitive_features: Any,
                sample_weight: Any = None) -> Tensor:
        scores = input
        t_shape = target.shape if hasattr(target, "shape") else np.shape(target)
        if input.ndim == 2 and input.shape[1] == 1 and len(t_shape) == 1:
            scores = input.reshape(-1)   # one logit per row against (N,) targets
        task = self.loss(scores, target)
        if sample_weight is not None:
            w = as_numpy(sample_weight)
            if task.ndim == 0:
                raise ValueError("FairnessPenalty: per-sample weights need a loss with "
                                 "reduction='none', but loss returned a scalar")
            per = task.reshape(len(w), -1).mean(1) if task.ndim > 1 else task
            task = (per * Tensor._wrap(w.astype(np.dtype(per.dtype)))).mean()
        elif task.ndim != 0:
            task = task.mean()
        gap = fairness_gap(self.constraint, input, target, sensitive_features,
                           from_logits=self.from_logits)
        self.last_gap = float(gap._array)
        return task + gap * self.weight

    def extra_repr(self) -> str:
        return f"constraint={self.constraint!r}, weight={self.weight}"
