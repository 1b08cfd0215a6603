"""Seeded synthetic datasets for tests, examples and benchmarks.

Every maker returns a ``TensorDataset`` ``(X, y)``: it feeds ``DataLoader`` (fast path) and
``random_split`` directly, and ``X, y = ds.arrays`` gives the NumPy arrays (for scalers or
scikit-learn). Features are float32 by default (``dtype`` to change), class labels int64,
regression targets ``(n_samples, n_targets)`` so they line up with a ``Linear(F, n_targets)``
output. Rows are shuffled. ``seed=None`` draws a seed from ``nncore.random``, so
``nncore.manual_seed`` makes the data reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import random as _random
from nncore.utils.data.dataset import TensorDataset


def _rng(name: str, seed: int | None) -> np.random.Generator:
    if seed is None:
        seed = _random.next_seed()
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))


def _positive(name: str, **values: int) -> None:
    for arg, v in values.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")


def _class_sizes(n_samples: int, n_classes: int) -> np.ndarray:
    """Near-equal class sizes; the first ``n_samples % n_classes`` classes get one more."""
    sizes = np.full(n_classes, n_samples // n_classes)
    sizes[: n_samples % n_classes] += 1
    return sizes


def make_classification(
    n_samples: int = 1000,
    n_features: int = 20,
    n_classes: int = 2,
    n_informative: int | None = None,
    class_sep: float = 2.0,
    seed: int | None = None,
    dtype: Any = np.float32,
) -> TensorDataset:
    """Gaussian blobs: one unit-variance cluster per class in an informative subspace.

    Class centres are drawn from ``N(0, class_sep^2)`` in the first ``n_informative`` features;
    the remaining features are pure ``N(0, 1)`` noise.

    Args:
        n_samples: number of rows (split near-equally between classes).
        n_features: total features.
        n_classes: number of classes (labels ``0 .. n_classes-1``).
        n_informative: features that carry the class; default ``min(n_features, n_classes)``.
        class_sep: spread of the class centres (larger is easier).
        seed: see the module docstring.
        dtype: float dtype of ``X``.

    Shape:
        ``X``: ``(n_samples, n_features)``, ``y``: ``(n_samples,)`` int64.

    Returns:
        ``TensorDataset(X, y)``.
    """
    name = "make_classification"
    _positive(name, n_samples=n_samples, n_features=n_features, n_classes=n_classes)
    if n_informative is None:
        n_informative = min(n_features, n_classes)
    _positive(name, n_informative=n_informative)
    if n_informative > n_features:
        raise ValueError(
            f"{name}: n_informative ({n_informative}) must not exceed n_features ({n_features})"
        )
    rng = _rng(name, seed)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), _class_sizes(n_samples, n_classes))
    centres = rng.normal(0.0, class_sep, size=(n_classes, n_informative))
    x = rng.standard_normal((n_samples, n_features))
    x[:, :n_informative] += centres[y]
    perm = rng.permutation(n_samples)
    return TensorDataset(x[perm].astype(dtype), y[perm])


def make_regression(
    n_samples: int = 1000,
    n_features: int = 10,
    n_informative: int | None = None,
    n_targets: int = 1,
    noise: float = 0.0,
    bias: float = 0.0,
    coef: bool = False,
    seed: int | None = None,
    dtype: Any = np.float32,
) -> TensorDataset | tuple[TensorDataset, np.ndarray]:
    """A linear model with Gaussian noise: ``y = X @ w + bias + noise * N(0, 1)``.

    ``X ~ N(0, 1)``; ``w`` is zero outside the first ``n_informative`` features, whose weights
    are drawn from ``U(-1, 1)``.

    Args:
        n_samples: number of rows.
        n_features: number of features.
        n_informative: features with a non-zero weight; default all.
        n_targets: number of regression targets.
        noise: standard deviation of the added noise.
        bias: intercept added to every target.
        coef: also return the true weights ``w``.
        seed: see the module docstring.
        dtype: float dtype of ``X`` and ``y``.

    Shape:
        ``X``: ``(n_samples, n_features)``, ``y``: ``(n_samples, n_targets)``,
        ``w``: ``(n_features, n_targets)`` float64.

    Returns:
        ``TensorDataset(X, y)``, or ``(dataset, w)`` when ``coef`` is true.
    """
    name = "make_regression"
    _positive(name, n_samples=n_samples, n_features=n_features, n_targets=n_targets)
    if n_informative is None:
        n_informative = n_features
    _positive(name, n_informative=n_informative)
    if n_informative > n_features:
        raise ValueError(
            f"{name}: n_informative ({n_informative}) must not exceed n_features ({n_features})"
        )
    if noise < 0:
        raise ValueError(f"{name}: noise must be non-negative, got {noise!r}")
    rng = _rng(name, seed)
    x = rng.standard_normal((n_samples, n_features))
    w = np.zeros((n_features, n_targets))
    w[:n_informative] = rng.uniform(-1.0, 1.0, size=(n_informative, n_targets))
    y = x @ w + bias + noise * rng.standard_normal((n_samples, n_targets))
    ds = TensorDataset(x.astype(dtype), y.astype(dtype))
    return (ds, w) if coef else ds


def make_spirals(
    n_samples: int = 1000,
    n_classes: int = 2,
    noise: float = 0.2,
    turns: float = 1.0,
    seed: int | None = None,
    dtype: Any = np.float32,
) -> TensorDataset:
    """Interleaved 2-D spirals, one arm per class: not linearly separable.

    Arm ``k`` has radius ``r`` in ``[0, 1]`` and angle ``2*pi*(turns*r + k/n_classes)`` plus
    ``noise * N(0, 1)`` radians of jitter: the classic CS231n toy problem.

    Args:
        n_samples: number of points (split near-equally between arms).
        n_classes: number of arms / classes.
        noise: standard deviation of the angular jitter.
        turns: how many full turns each arm makes.
        seed: see the module docstring.
        dtype: float dtype of ``X``.

    Shape:
        ``X``: ``(n_samples, 2)``, ``y``: ``(n_samples,)`` int64.

    Returns:
        ``TensorDataset(X, y)``.
    """
    name = "make_spirals"
    _positive(name, n_samples=n_samples, n_classes=n_classes)
    if noise < 0:
        raise ValueError(f"{name}: noise must be non-negative, got {noise!r}")
    rng = _rng(name, seed)
    sizes = _class_sizes(n_samples, n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    r = np.concatenate([np.linspace(0.0, 1.0, int(s)) for s in sizes])
    theta = 2 * np.pi * (turns * r + y / n_classes) + noise * rng.standard_normal(n_samples)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    perm = rng.permutation(n_samples)
    return TensorDataset(x[perm].astype(dtype), y[perm])
