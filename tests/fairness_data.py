"""Biased data sets for the mitigation tests, and the shared training helpers.

- ``synthetic``: four features, the fourth a noisy copy of the group; the true label depends on
  the first two only, and half of group 0's positives are recorded as negatives (a planted
  historical bias the model learns through the group proxy).
- ``cancer``: scikit-learn's breast cancer set (standardised), a synthetic sensitive feature
  correlated with the label (P(a=1) = 0.55 for positives, 0.45 for negatives) given to the model
  as a 31st feature, and the same planted bias: half of group 0's positives recorded negative.

Both are split 50/25/25 into train, validation and test, seeded.
"""

from __future__ import annotations

import numpy as np

import nncore
from nncore import nn


def synthetic(seed: int = 0, n: int = 1200):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4))
    x[:, 3] = a + rng.normal(0, 0.3, n)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, n) > 0.0).astype(np.int64)
    y = np.where((a == 0) & (y == 1) & (rng.random(n) < 0.5), 0, y)
    return _split(x.astype(np.float32), y, a, seed)


def cancer(seed: int = 0):
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    a = (rng.random(len(y)) < np.where(y == 1, 0.55, 0.45)).astype(np.int64)
    y = np.where((a == 0) & (y == 1) & (rng.random(len(y)) < 0.5), 0, y).astype(np.int64)
    x = (x - x.mean(0)) / x.std(0)
    x = np.concatenate([x, a[:, None]], 1).astype(np.float32)
    return _split(x, y, a, seed)


def _split(x, y, a, seed):
    idx = np.random.default_rng(seed + 1).permutation(len(y))
    k, m = len(y) // 2, (len(y) * 3) // 4
    return [(x[i], y[i], a[i]) for i in (idx[:k], idx[k:m], idx[m:])]


def module_fn(d: int):
    """A small MLP for the synthetic set, logistic regression for the 31-feature one."""
    if d > 10:
        return lambda: nn.Linear(d, 1)
    return lambda: nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, 1))


def tensors(*arrays):
    return [nncore.from_numpy(np.ascontiguousarray(a)) for a in arrays]


DATASETS = {"synthetic": synthetic, "cancer": cancer}


def train_kwargs(d: int) -> dict:
    """NNClassifier settings: the 31-feature logistic regression gets weight decay (284
    training samples)."""
    return {"epochs": 150, "lr": 0.03, "weight_decay": 0.01 if d > 10 else 0.0}
