"""Pre-processing mitigation: reweighing (Kamiran & Calders, 2012).

Each sample of group ``a`` and label ``y`` gets the weight ``P(A=a) P(Y=y) / P(A=a, Y=y)``:
the weight the cell would have if the label were independent of the sensitive feature, over
the weight it has. In the weighted training set ``P_w(Y=y | A=a) = P(Y=y)`` for every group, so
a model fitted to it has no label/group association to learn from. The weights sum to the
number of samples (the mean weight is 1), so a weighted mean loss keeps its scale.

Two ways to train with them, as in PyTorch:

- a ``WeightedRandomSampler`` over the weights (``reweighing_sampler``), which draws the
  favoured cells more often;
- per-sample loss weights: batches of ``(input, target, weight)`` in ``nncore.train.fit`` with a
  loss built with ``reduction='none'`` (fit then minimises the mean of ``weight * loss``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.fairness._common import discrete_labels, groups, sample_weights

__all__ = ["reweighing", "reweighing_sampler"]


def reweighing(y: Any, sensitive_features: Any, sample_weight: Any = None) -> np.ndarray:
    """Kamiran & Calders sample weights that make ``y`` independent of the sensitive feature.

    Args:
        y: labels ``(N,)`` (any discrete values: binary or several classes).
        sensitive_features: ``(N,)``, ``(N, k)`` or ``{name: (N,)}``; several features act
            as their intersections. At least two groups.
        sample_weight: optional existing weights ``(N,)`` (non-negative); the probabilities are
            then weighted ones and the result multiplies these weights.

    Returns:
        float64 weights ``(N,)``, summing to ``sum(sample_weight)`` (``N`` without one).

    Raises:
        ValueError: a sensitive feature of the wrong length or with one group, labels that are
            not a vector, negative/NaN/infinite base weights.
    """
    op = "reweighing"
    labels = discrete_labels(op, y)
    n = len(labels)
    index, keys = groups(op, sensitive_features, n)
    base = sample_weights(op, sample_weight, n)
    w = np.ones(n) if base is None else base
    _, label_index = np.unique(labels, return_inverse=True)
    label_index = label_index.reshape(-1)
    k_groups, k_labels = len(keys), int(label_index.max()) + 1
    cell = index * k_labels + label_index
    cell_w = np.bincount(cell, weights=w, minlength=k_groups * k_labels).reshape(
        k_groups, k_labels)
    total = cell_w.sum()
    expected = np.outer(cell_w.sum(axis=1), cell_w.sum(axis=0)) / total
    # NOTE: an empty cell (a group that never has some label) gets no samples to weight, and a
    # cell whose base weights sum to zero keeps weight zero; both ratios are left at 0.
    ratio = np.divide(expected, cell_w, out=np.zeros_like(expected), where=cell_w > 0)
    return w * ratio.reshape(-1)[cell]


def reweighing_sampler(y: Any, sensitive_features: Any, num_samples: int | None = None,
                       replacement: bool = True, generator: Any = None) -> Any:
    """A ``WeightedRandomSampler`` drawing samples with their reweighing weights.

    Args:
        y, sensitive_features: as in ``reweighing``.
        num_samples: draws per pass (default: the number of samples).
        replacement: draw with replacement (PyTorch's default for this sampler).
        generator: an ``nncore.Generator`` for reproducible draws.

    Returns:
        ``nncore.utils.data.WeightedRandomSampler`` for a ``DataLoader(sampler=...)``.
    """
    from nncore.utils.data import WeightedRandomSampler

    weights = reweighing(y, sensitive_features)
    return WeightedRandomSampler(weights, len(weights) if num_samples is None else num_samples,
                                 replacement=replacement, generator=generator)
