"""Samplers with PyTorch's API: streams of dataset indices (or of lists of them, for batches).

Randomness: ``generator=None`` draws from nncore's default generator (``nncore.manual_seed``);
``generator`` may be a ``numpy.random.Generator`` or an nncore generator object (anything with
``_numpy()`` returning one). ``RandomSampler`` without a generator draws a fresh seed from the
default generator at every ``iter()``, as PyTorch does, so each epoch has its own order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

from nncore import random as _random

__all__ = [
    "BatchSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler",
    "WeightedRandomSampler",
]

T_co = TypeVar("T_co", covariant=True)


def _numpy_generator(generator: Any, op: str) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (the default generator for None)."""
    if generator is None:
        return _random.default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    to_numpy = getattr(generator, "_numpy", None)
    if callable(to_numpy):
        return to_numpy()
    raise TypeError(f"{op}: generator must be an nncore Generator or a numpy.random.Generator, "
                    f"got {type(generator).__name__}")


def _draw_seed(rng: np.random.Generator) -> int:
    """A 63-bit seed, as PyTorch draws one from a generator with ``random_()``."""
    return int(rng.integers(0, 2**63 - 1))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class Sampler(Generic[T_co]):
    """Base class of samplers: ``__iter__`` yields indices (or lists of them); ``__len__`` is
    optional but needed by ``len(DataLoader)``."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1``.

    Args:
        data_source: anything with ``len``.
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random indices: a permutation (repeated to fill ``num_samples``), or with replacement.

    Args:
        data_source: anything with ``len``.
        replacement: draw ``num_samples`` indices independently (with repeats).
        num_samples: indices per pass; default ``len(data_source)``.
        generator: source of randomness; None draws a new seed from nncore's default
            generator at each ``iter()``.

    Raises:
        TypeError: replacement is not a bool. ValueError: num_samples is not a positive int.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if not _positive_int(self.num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """Indices per pass (``len(data_source)`` unless given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _rng(self) -> np.random.Generator:
        if self.generator is None:
            return np.random.default_rng(_draw_seed(_random.default_generator()))
        return _numpy_generator(self.generator, "RandomSampler")

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        rng = self._rng()
        if self.replacement:
            # NOTE: drawn 32 at a time like PyTorch, so an early break leaves the generator
            # near where the consumed indices put it.
            for _ in range(self.num_samples // 32):
                yield from rng.integers(0, n, size=32).tolist()
            yield from rng.integers(0, n, size=self.num_samples % 32).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from rng.permutation(n).tolist()
            yield from rng.permutation(n)[:self.num_samples % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order (without replacement).

    Args:
        indices: sequence of indices.
        generator: source of randomness; None uses nncore's default generator.
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = _numpy_generator(self.generator, "SubsetRandomSampler")
        for i in rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """Indices ``0..len(weights)-1`` drawn with probabilities proportional to ``weights``.

    Args:
        weights: 1-D sequence of non-negative weights (need not sum to 1).
        num_samples: indices to draw per pass.
        replacement: with repeats; without, an index drawn once is not drawn again (weighted
            sampling without replacement, drawn in sequence).
        generator: source of randomness; None uses nncore's default generator.

    Raises:
        ValueError: bad num_samples, replacement or weights shape. RuntimeError (when
            iterating, as PyTorch's multinomial): negative/non-finite weights, a zero sum, or
            more samples than weights without replacement.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        if not _positive_int(num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        w = np.asarray(weights._array if hasattr(weights, "_array") else weights,
                       dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _draw(self) -> np.ndarray:
        w = self.weights
        if not np.all(np.isfinite(w)):
            raise RuntimeError("WeightedRandomSampler: probability tensor contains either `inf`, "
                               "`nan` or element < 0")
        if np.any(w < 0):
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution "
                               "(encountering probability entry < 0)")
        if w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution (sum of "
                               "probabilities <= 0)")
        rng = _numpy_generator(self.generator, "WeightedRandomSampler")
        if self.replacement:
            return rng.choice(len(w), size=self.num_samples, replace=True, p=w / w.sum())
        if self.num_samples > len(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot sample n_sample > "
                               f"prob_dist.size(-1) samples without replacement "
                               f"({self.num_samples} > {len(w)})")
        # NOTE: exponential keys E_i / w_i: sorting them draws indices one after another, each
        # with probability proportional to its weight among those not drawn yet. Zero weights
        # come last, in random order, as PyTorch's multinomial returns them once the others
        # are exhausted.
        keys = rng.exponential(size=len(w))
        positive = w > 0
        keys[positive] /= w[positive]
        return np.lexsort((keys, ~positive))[:self.num_samples]

    def __iter__(self) -> Iterator[int]:
        yield from self._draw().tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Args:
        sampler: any iterable of indices.
        batch_size: indices per batch (positive int).
        drop_last: drop the last, smaller batch.

    Raises:
        ValueError: batch_size is not a positive int, or drop_last not a bool.
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not _positive_int(batch_size):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
