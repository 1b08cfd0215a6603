"""Datasets with PyTorch's API: map-style ``Dataset`` and its combinators, ``IterableDataset``.

``TensorDataset`` keeps its samples as rows of NumPy arrays (``.arrays``; ``.tensors`` are
Tensors over the same memory), which lets ``DataLoader`` gather a whole batch with one fancy
index. It also takes NumPy arrays (an nncore extension).
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from nncore.tensor import Tensor

__all__ = [
    "ChainDataset", "ConcatDataset", "Dataset", "IterableDataset", "StackDataset", "Subset",
    "TensorDataset", "random_split",
]

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map-style dataset: ``dataset[key]`` is a sample.

    Subclasses implement ``__getitem__``, usually ``__len__`` (the default samplers need it),
    and may implement ``__getitems__(indices) -> list`` to fetch a batch at once.
    ``a + b`` is ``ConcatDataset([a, b])``.
    """

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co], Iterable[T_co]):
    """A dataset that is a stream: subclasses implement ``__iter__``.

    With ``DataLoader(num_workers > 0)`` every worker iterates its own copy; use
    ``get_worker_info()`` in ``__iter__`` (or in ``worker_init_fn``) to give each its shard.
    ``a + b`` is ``ChainDataset([a, b])``. A subclass without ``__iter__`` cannot be
    instantiated (``__iter__`` is abstract, as in PyTorch).
    """

    def __add__(self, other: Dataset) -> ChainDataset:
        return ChainDataset([self, other])


def _array(x: Any) -> np.ndarray:
    return x._array if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the rows of tensors sharing their first dimension.

    Args:
        *tensors: Tensors (or NumPy arrays), all of the same size in dim 0. They are kept as
            they are (no copy, no dtype change).

    Shape:
        ``dataset[i]`` is the tuple ``(t[i] for t in tensors)``.

    Attributes:
        tensors: the Tensors. arrays: the same data as NumPy arrays (no copy).

    Raises:
        AssertionError: sizes differ in dim 0 (PyTorch's exception type).
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise AssertionError("TensorDataset: expected at least one tensor")
        self.arrays: tuple[np.ndarray, ...] = tuple(_array(t) for t in tensors)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [tuple(a.shape) for a in self.arrays]
            raise AssertionError(f"TensorDataset: Size mismatch between tensors: all need the "
                                 f"same size in dim 0, got shapes {shapes}")
        self.tensors: tuple[Tensor, ...] = tuple(
            t if isinstance(t, Tensor) else Tensor._wrap(a) for t, a in zip(tensors, self.arrays))

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        # NOTE: ``a[i, ...]`` is a 0-d array view for 1-D data, where ``a[i]`` would be a scalar.
        return tuple(Tensor._wrap(a[index, ...]) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]


class StackDataset(Dataset):
    """Datasets of equal length side by side: ``StackDataset(a, b)[i] == (a[i], b[i])`` and
    ``StackDataset(x=a, y=b)[i] == {"x": a[i], "y": b[i]}``.

    Raises:
        ValueError: both positional and keyword datasets, none, or different lengths.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via "
                             "``kwargs``) like input/output, but both types are given.")
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        parts = list(args) if args else list(kwargs.values())
        self._length = len(parts[0])
        if any(len(d) != self._length for d in parts):
            raise ValueError("Size mismatch between datasets")
        self.datasets: tuple | dict = args if args else kwargs

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices: list) -> list:
        named = isinstance(self.datasets, dict)
        items = self.datasets.items() if named else enumerate(self.datasets)
        columns = {}
        for key, d in items:
            getitems = getattr(d, "__getitems__", None)
            if callable(getitems):
                col = getitems(indices)
                if len(col) != len(indices):
                    raise ValueError(f"Nested dataset's output size mismatch. Expected "
                                     f"{len(indices)}, got {len(col)}")
            else:
                col = [d[i] for i in indices]
            columns[key] = col
        if named:
            return [{k: columns[k][j] for k in columns} for j in range(len(indices))]
        return [tuple(columns[k][j] for k in columns) for j in range(len(indices))]

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """Map-style datasets one after the other.

    Args:
        datasets: iterable of map-style datasets (not ``IterableDataset``).

    Attributes:
        cumulative_sizes: running totals of the lengths.
    """

    @staticmethod
    def cumsum(sequence: Iterable[Any]) -> list[int]:
        """Running totals of ``len`` over ``sequence``."""
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after the other, chained lazily.

    Args:
        datasets: iterable of ``IterableDataset``.
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: any map-style dataset.
        indices: sequence of indices into ``dataset``.

    Raises:
        NotImplementedError: a subclass overrides ``__getitem__`` but not ``__getitems__``
            (``DataLoader`` calls the latter; PyTorch refuses the same way).
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        if type(self).__getitem__ is not Subset.__getitem__ and \
                type(self).__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{type(self).__name__} overrides __getitem__ but not __getitems__. When "
                f"subclassing Subset and overriding __getitem__, you must also override "
                f"__getitems__ to ensure DataLoader works correctly with your custom logic. A "
                f"simple implementation:\n\ndef __getitems__(self, indices):\n"
                f"    return [self.__getitem__(idx) for idx in indices]")

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def _split_lengths(lengths: Sequence[Any], n: int) -> list[int]:
    """Integer lengths from counts, or from fractions summing to 1 (PyTorch's rule)."""
    values = list(lengths)
    if not values:
        raise ValueError("random_split: lengths is empty")
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in values):
        raise TypeError(f"random_split: lengths must be numbers, got {values!r}")
    total = sum(values)
    if math.isclose(total, 1) and total <= 1:
        counts = []
        for i, frac in enumerate(values):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(n * frac)))
        # NOTE: the samples lost to flooring go one each to the splits, round-robin.
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              f"empty dataset.", stacklevel=3)
        return counts
    if any(isinstance(v, (float, np.floating)) and v != int(v) for v in values):
        raise ValueError(f"random_split: Sum of input lengths does not equal the length of the "
                         f"input dataset! (fractions {values} sum to {total}, not 1)")
    counts = [int(v) for v in values]
    if any(c < 0 for c in counts):
        raise ValueError(f"random_split: lengths must be non-negative, got {counts}")
    if sum(counts) != n:
        raise ValueError(f"random_split: Sum of input lengths does not equal the length of the "
                         f"input dataset! (lengths {counts} sum to {sum(counts)}, the dataset "
                         f"has {n} samples)")
    return counts


def random_split(dataset: Any, lengths: Sequence[Any], generator: Any = None, *,
                 seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets.

    Args:
        dataset: any map-style dataset with ``len``.
        lengths: sample counts summing to ``len(dataset)``, or fractions summing to 1 (floored;
            the remainder goes one sample at a time to the splits, round-robin).
        generator: draws the permutation; None draws from nncore's default generator, so
            ``nncore.manual_seed`` makes the split reproducible.
        seed: nncore extension: the permutation of ``numpy.random.default_rng(seed)``
            (instead of ``generator``).

    Returns:
        One ``Subset`` per length, in order; their ``indices`` are lists of ints.

    Raises:
        ValueError: lengths that do not add up, fractions outside [0, 1].
    """
    from nncore.utils.data.sampler import _numpy_generator

    counts = _split_lengths(lengths, len(dataset))
    if seed is not None:
        if generator is not None:
            raise ValueError("random_split: give either generator or seed, not both")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"random_split: seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng(int(seed))
    else:
        rng = _numpy_generator(generator, "random_split")
    perm = rng.permutation(sum(counts)).tolist()
    bounds = list(itertools.accumulate(counts))
    return [Subset(dataset, perm[end - c:end]) for end, c in zip(bounds, counts)]
