"""Map-style datasets: ``Dataset``, ``TensorDataset``, ``Subset`` and ``random_split``.

PyTorch's API. A ``TensorDataset`` (and its subclasses, such as ``MNIST``) keeps its samples as
rows of NumPy arrays, which lets ``DataLoader`` gather a whole batch with one fancy index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import random as _random
from nncore.tensor import Tensor


class Dataset:
    """A map-style dataset: ``dataset[i]`` is sample ``i`` and ``len(dataset)`` the count.

    Subclasses implement ``__getitem__`` and ``__len__``.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not implement __len__")


def _array(x: Any) -> np.ndarray:
    return x._array if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the rows of arrays sharing their first dimension.

    Args:
        *tensors: Tensors or NumPy arrays, all with the same length along dim 0. They are kept
            as they are (no copy, no dtype change).

    Shape:
        ``dataset[i]`` is a tuple of Tensors ``(t[i] for t in tensors)``.

    Attributes:
        tensors: the Tensors. arrays: the same data as NumPy arrays (no copy).
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        self.arrays: tuple[np.ndarray, ...] = tuple(_array(t) for t in tensors)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [a.shape for a in self.arrays]
            raise ValueError(
                f"TensorDataset: all tensors need the same size in dim 0, got shapes {shapes}"
            )
        self.tensors: tuple[Tensor, ...] = tuple(Tensor._wrap(a) for a in self.arrays)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        # NOTE: ``a[i, ...]`` is a 0-d array view for 1-D data, where ``a[i]`` would be a scalar.
        return tuple(Tensor._wrap(a[index, ...]) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: any map-style dataset.
        indices: sequence of integer indices into ``dataset``.
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (list, tuple, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def _split_lengths(lengths: Sequence[float], n: int) -> list[int]:
    """Integer lengths from counts, or from fractions summing to 1 (PyTorch's rule)."""
    values = list(lengths)
    if not values:
        raise ValueError("random_split: lengths is empty")
    all_ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    if not all_ints:
        if not all(isinstance(v, (float, int, np.floating, np.integer)) for v in values):
            raise TypeError(f"random_split: lengths must be numbers, got {values!r}")
        if not (all(0 <= v <= 1 for v in values) and math.isclose(sum(values), 1.0)):
            raise ValueError(
                f"random_split: fractions must lie in [0, 1] and sum to 1, got {values!r} "
                f"(sum {sum(values)})"
            )
        counts = [int(math.floor(n * v)) for v in values]
        # NOTE: as PyTorch: the rows lost to flooring go one each to the splits, round-robin.
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    counts = [int(v) for v in values]
    if any(c < 0 for c in counts):
        raise ValueError(f"random_split: lengths must be non-negative, got {counts}")
    if sum(counts) != n:
        raise ValueError(
            f"random_split: sum of lengths {counts} is {sum(counts)}, but the dataset has {n} "
            f"samples"
        )
    return counts


def random_split(dataset: Any, lengths: Sequence[float], seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets.

    Args:
        dataset: any map-style dataset.
        lengths: sample counts summing to ``len(dataset)``, or fractions summing to 1 (the
            remainder after flooring goes one sample at a time to the first splits).
        seed: seed of the permutation; None draws one from ``nncore.random`` so that
            ``nncore.manual_seed`` makes the split reproducible.

    Returns:
        One ``Subset`` per length, in order.
    """
    counts = _split_lengths(lengths, len(dataset))
    if seed is None:
        seed = _random.next_seed()
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"random_split: seed must be a non-negative integer, got {seed!r}")
    perm = np.random.default_rng(int(seed)).permutation(len(dataset))
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
