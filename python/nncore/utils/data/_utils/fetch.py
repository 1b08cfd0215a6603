"""Fetchers: turn one entry of the index sampler into one batch (in the main process or a worker).

Fast path: a ``TensorDataset`` (``MNIST`` and the synthetic sets are ones), or a ``Subset`` of
one, whose item methods are not overridden, is batched with one NumPy fancy index per array
instead of one ``__getitem__`` per sample and a stack, because per-batch Python overhead
dominates small models. It runs only with ``default_collate`` and gives the batch that
``default_collate`` would (a list of Tensors, as PyTorch's collate makes of tuple samples).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nncore.tensor import Tensor
from nncore.utils.data._utils.collate import default_collate


def _array_source(dataset: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """(arrays, index map or None) when batches can be gathered by fancy indexing, else None."""
    from nncore.utils.data.dataset import Subset, TensorDataset

    if isinstance(dataset, TensorDataset):
        # NOTE: a subclass with its own __getitem__ (augmentation, ...) must go the slow way.
        if type(dataset).__getitem__ is TensorDataset.__getitem__ and \
                getattr(type(dataset), "__getitems__", None) is None:
            return dataset.arrays, None
        return None
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__ and \
            type(dataset).__getitems__ is Subset.__getitems__:
        inner = _array_source(dataset.dataset)
        if inner is None:
            return None
        arrays, index_map = inner
        indices = np.asarray(dataset.indices, dtype=np.int64)
        return arrays, (indices if index_map is None else index_map[indices])
    return None


class _MapDatasetFetcher:
    """Batches from a map-style dataset: ``__getitems__`` when defined, else ``__getitem__``."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        fast = auto_collation and collate_fn is default_collate
        self._source = _array_source(dataset) if fast else None

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self._source is not None and len(index):
            arrays, index_map = self._source
            idx = np.asarray(index, dtype=np.int64)
            if index_map is not None:
                idx = index_map[idx]
            return [Tensor._wrap(a[idx]) for a in arrays]
        getitems = getattr(self.dataset, "__getitems__", None)
        data = getitems(index) if getitems else [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _IterableDatasetFetcher:
    """Batches from an iterable dataset: the next ``len(index)`` samples of its iterator."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in index:
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def create_fetcher(iterable: bool, dataset: Any, auto_collation: bool, collate_fn: Callable,
                   drop_last: bool) -> _MapDatasetFetcher | _IterableDatasetFetcher:
    """The fetcher for an iterable (True) or map-style (False) dataset."""
    kind = _IterableDatasetFetcher if iterable else _MapDatasetFetcher
    return kind(dataset, auto_collation, collate_fn, drop_last)
