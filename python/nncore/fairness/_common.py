"""Input checks shared by the mitigation methods: labels, one sensitive feature, weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.tensor import Tensor


def as_numpy(x: Any) -> np.ndarray:
    """The array inside a Tensor, or ``np.asarray(x)``."""
    return x._array if isinstance(x, Tensor) else np.asarray(x)


def binary_labels(op: str, y: Any, n: int | None = None) -> np.ndarray:
    """``y`` as an int64 vector of 0/1; ValueError naming ``op`` otherwise."""
    arr = as_numpy(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{op}: y must be a 1-D vector of 0/1 labels, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{op}: y is empty")
    if n is not None and len(arr) != n:
        raise ValueError(f"{op}: y has {len(arr)} entries, expected {n} (one per sample)")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
        shown = np.unique(arr)[:10].tolist() if arr.dtype.kind in "iufb" else "non-numeric"
        raise ValueError(f"{op}: y must hold binary labels 0/1, got values {shown}")
    return arr.astype(np.int64)


def discrete_labels(op: str, y: Any) -> np.ndarray:
    """``y`` as a 1-D array of discrete labels (any number of classes, no NaN)."""
    arr = as_numpy(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{op}: y must be a 1-D label vector, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{op}: y is empty")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{op}: y holds NaN or infinite labels")
    return arr


def groups(op: str, sensitive_features: Any, n: int, min_groups: int = 2
           ) -> tuple[np.ndarray, list[Any]]:
    """Group index per sample (0..G-1) and the sorted group values of one sensitive feature.

    Several features (``(N, k)`` or a mapping) are combined into their intersections, with
    tuple keys. Raises ValueError for a length other than ``n``, missing values, or fewer than
    ``min_groups`` groups (mitigation between groups needs at least two).
    """
    from nncore.fairness.metrics import _groups

    if sensitive_features is None:
        raise ValueError(f"{op}: sensitive_features is required")
    if not isinstance(sensitive_features, dict):
        arr = as_numpy(sensitive_features)
        if arr.ndim == 0 or arr.ndim > 2:
            raise ValueError(f"{op}: sensitive_features must be (N,) or (N, k), got shape "
                             f"{arr.shape}")
        if len(arr) != n:
            raise ValueError(f"{op}: sensitive_features has {len(arr)} entries but there are {n} "
                             f"samples")
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValueError(f"{op}: sensitive_features holds NaN")
        if arr.dtype == object and any(v is None for v in arr.reshape(-1)):
            raise ValueError(f"{op}: sensitive_features holds None")
        sensitive_features = arr
    index, keys, _ = _groups(op, sensitive_features, n)
    keys = [k.item() if isinstance(k, np.generic) else k for k in keys]
    if len(keys) < min_groups:
        raise ValueError(f"{op}: sensitive_features has only one group ({keys[0]!r}); "
                         f"mitigating a disparity needs at least two groups")
    return index, keys


def sample_weights(op: str, w: Any, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """Non-negative finite float64 weights of length ``n`` with a positive sum, or None."""
    if w is None:
        return None
    arr = np.asarray(as_numpy(w), dtype=np.float64)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{op}: {name} must have shape ({n},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{op}: {name} holds NaN or infinite values")
    if (arr < 0).any():
        raise ValueError(f"{op}: {name} holds negative values (min {arr.min():.4g})")
    if arr.sum() <= 0:
        raise ValueError(f"{op}: {name} sums to zero")
    return arr


def check_random_state(op: str, random_state: Any) -> np.random.RandomState:
    """A ``RandomState`` from None, an int or a RandomState (as scikit-learn's helper), so
    randomised predictions match fairlearn's for the same seed."""
    if random_state is None:
        return np.random.RandomState()
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise TypeError(f"{op}: random_state must be None, an int or a numpy RandomState, got "
                    f"{type(random_state).__name__}")
