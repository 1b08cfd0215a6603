"""DataLoader: batches of nncore Tensors from a map-style dataset, in one process.

Fast path: a ``TensorDataset`` (``MNIST`` and the synthetic sets are ones), or a ``Subset`` of one,
whose ``__getitem__`` is not overridden, is batched with one NumPy fancy index per array instead
of one ``__getitem__`` per sample and a stack, because per-batch Python overhead dominates small
models. Both paths give the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from nncore import random as _random
from nncore.data.dataset import Subset, TensorDataset
from nncore.tensor import Tensor


def _stack(items: Sequence[Any]) -> Tensor:
    first = items[0]
    if isinstance(first, Tensor):
        return Tensor._wrap(np.stack([t._array for t in items]))
    if isinstance(first, np.ndarray):
        return Tensor._wrap(np.stack(items))
    if isinstance(first, (bool, np.bool_)):
        return Tensor._wrap(np.asarray(items, dtype=bool))
    if isinstance(first, (int, np.integer)):
        return Tensor._wrap(np.asarray(items, dtype=np.int64))
    if isinstance(first, float):
        # NOTE: Python floats become float32, nncore's default dtype (NumPy floats keep theirs).
        return Tensor._wrap(np.asarray(items, dtype=np.float32))
    if isinstance(first, np.floating):
        return Tensor._wrap(np.asarray(items))
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch of Tensors.

    Tensors and arrays are stacked along a new first dim; Python ints become int64, Python floats
    float32; tuples/lists and dicts are collated field by field.

    Args:
        batch: list of samples, all of the same structure.

    Returns:
        A Tensor, or a tuple/list/dict of Tensors mirroring the sample structure.
    """
    first = batch[0]
    if isinstance(first, (tuple, list)):
        fields = [default_collate(list(f)) for f in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    return _stack(batch)


def _array_source(dataset: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """(arrays, index map or None) when batches can be gathered by fancy indexing, else None."""
    if isinstance(dataset, TensorDataset):
        # NOTE: a subclass with its own __getitem__ (augmentation, ...) must go the slow way.
        if type(dataset).__getitem__ is TensorDataset.__getitem__:
            return dataset.arrays, None
        return None
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        inner = _array_source(dataset.dataset)
        if inner is None:
            return None
        arrays, index_map = inner
        indices = np.asarray(dataset.indices, dtype=np.int64)
        return arrays, (indices if index_map is None else index_map[indices])
    return None


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch (positive).
        shuffle: a new random order every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: seed of this loader's generator, from which every epoch's permutation is drawn
            (epoch ``k`` gets the ``k``-th draw, so each epoch differs and runs repeat). None
            draws a seed from ``nncore.random`` at construction, so ``nncore.manual_seed`` before
            building the loader makes the orders reproducible.
        collate_fn: turns a list of samples into a batch; default ``default_collate``. Giving
            one disables the fancy-index fast path.

    Shape:
        Each batch is what ``collate_fn`` returns; with the default, a tuple of Tensors with a
        leading batch dimension for tuple samples (``(x, y)`` for ``TensorDataset(X, Y)``).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if (
            not isinstance(batch_size, (int, np.integer))
            or isinstance(batch_size, bool)
            or batch_size < 1
        ):
            raise ValueError(
                f"DataLoader: batch_size must be a positive integer, got {batch_size!r}"
            )
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"DataLoader: dataset must define __getitem__ and __len__, got "
                f"{type(dataset).__name__}"
            )
        if seed is None:
            seed = _random.next_seed()
        elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative integer, got {seed!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.collate_fn = collate_fn
        self._rng = np.random.default_rng(self.seed)

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's position (JSON-serialisable), for checkpoints: restoring it
        makes the next epochs' orders those of the run that saved it."""
        return {"seed": self.seed, "generator": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; later epochs draw the saved run's permutations."""
        gen = state.get("generator") if isinstance(state, dict) else None
        if not isinstance(gen, dict) or gen.get("bit_generator") != type(
                self._rng.bit_generator).__name__:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict from state_dict(), "
                             f"got {state!r:.120}")
        self.seed = int(state["seed"])
        self._rng.bit_generator.state = gen

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        source = _array_source(self.dataset) if self.collate_fn is None else None
        if source is not None:
            arrays, index_map = source
            if index_map is not None:
                order = index_map[order]
        collate = self.collate_fn or default_collate
        bs = self.batch_size
        for start in range(0, len(self) * bs, bs):
            idx = order[start:start + bs]
            if source is not None:
                batch = tuple(Tensor._wrap(a[idx]) for a in arrays)
                yield batch
            else:
                yield collate([self.dataset[int(i)] for i in idx])
