"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

PyTorch's design: an index sampler (a ``BatchSampler`` over a ``SequentialSampler`` or
``RandomSampler``, or the user's) yields what one batch needs; a fetcher turns it into a batch
(``__getitems__``/``__getitem__`` then ``collate_fn``, or one fancy index for array-backed
datasets, see ``_utils/fetch.py``). With ``num_workers > 0`` the multi-process iterator in
``_utils/mp_iter.py`` hands the index lists to worker processes and delivers their batches in
order.

Randomness, as PyTorch: each ``iter(loader)`` draws a base seed for the workers from
``generator`` (nncore's default generator when None), and ``RandomSampler`` draws its order from
the same generator, so ``nncore.manual_seed`` (or a seeded ``generator``) repeats a run
whatever ``num_workers`` is. ``seed=`` (an nncore extension) gives the loader its own generator,
whose position ``state_dict()`` saves for checkpoints.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import os
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from nncore.utils.data._utils.base_iter import _BaseDataLoaderIter
from nncore.utils.data._utils.collate import default_collate, default_convert
from nncore.utils.data._utils.fetch import _array_source, create_fetcher
from nncore.utils.data._utils.worker import get_worker_info
from nncore.utils.data.dataset import IterableDataset
from nncore.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    _numpy_generator,
)

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_ = _array_source  # re-exported: nncore.train.runs fingerprints array-backed datasets with it


class _InfiniteConstantSampler(Sampler):
    """``None`` forever: the index stream of an iterable dataset (its iterator decides)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
           "persistent_workers")


def _worker_options(num_workers: Any, timeout: float, prefetch_factor: int | None,
                    persistent_workers: bool) -> int | None:
    """Check DataLoader's worker options (PyTorch's errors); the prefetch factor to use."""
    if not isinstance(num_workers, int) or isinstance(num_workers, bool):
        raise TypeError(f"DataLoader: num_workers must be an int, got {num_workers!r}")
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                         "disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                         "let num_workers > 0 to enable multiprocessing, otherwise set "
                         "prefetch_factor to None.")
    if num_workers > 0 and prefetch_factor is None:
        prefetch_factor = 2
    elif prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    return prefetch_factor


def _seeded_generator(seed: Any, generator: Any) -> tuple[int | None, Any]:
    """(seed, generator): a NumPy generator made from ``seed``, or the given generator
    (checked)."""
    if seed is not None:
        if generator is not None:
            raise ValueError("DataLoader: give either generator or seed, not both")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        generator = np.random.default_rng(seed)
    elif generator is not None:
        _numpy_generator(generator, "DataLoader")  # fail early on a wrong type
    return seed, generator


class DataLoader:
    """Iterate over a dataset in batches, optionally loading them in worker processes.

    Args:
        dataset: a map-style dataset (``__getitem__``, and ``__len__`` for the default
            samplers) or an ``IterableDataset``.
        batch_size: samples per batch; None turns batching off (each item is passed through
            ``default_convert``).
        shuffle: a new random order every epoch (map-style only).
        sampler: iterable of indices (excludes ``shuffle``).
        batch_sampler: iterable of index lists (excludes batch_size, shuffle, sampler,
            drop_last).
        num_workers: worker processes; 0 loads in the main process.
        collate_fn: list of samples -> batch; default ``default_collate`` (``default_convert``
            when batching is off).
        pin_memory: accepted for compatibility; CPU only, so nothing is pinned (PyTorch's
            warning says so).
        drop_last: drop the last, smaller batch.
        timeout: seconds to wait for a worker's batch before RuntimeError (0: forever).
        worker_init_fn: called as ``fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: ``"fork"``, ``"spawn"``, ``"forkserver"`` or a context object.
        generator: draws the shuffle order and the workers' base seed (a
            ``numpy.random.Generator`` or an nncore generator); None: nncore's default.
        prefetch_factor: batches each worker loads ahead (default 2 with workers).
        persistent_workers: keep the workers (and their dataset copies) between epochs.
        pin_memory_device: accepted for compatibility, unused.
        in_order: deliver batches in sampler order; False yields whichever is ready first.
        seed: nncore extension: the loader's own ``numpy.random.default_rng(seed)`` as the
            generator, so its orders do not depend on other draws (excludes ``generator``).

    Shape:
        Each batch is what ``collate_fn`` returns; by default ``[x, y]`` (a list, as PyTorch)
        with a leading batch dimension for ``TensorDataset(X, Y)``.
    """

    _initialized = False

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 seed: int | None = None) -> None:
        prefetch_factor = _worker_options(num_workers, timeout, prefetch_factor,
                                          persistent_workers)
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must define __getitem__ (a map-style dataset) "
                            f"or be an IterableDataset, got {type(dataset).__name__}")

        if iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        seed, generator = _seeded_generator(seed, generator)

        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.seed = seed
        self._iterable = iterable
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._IterableDataset_len_called: int | None = None
        self._iterator: Any = None
        self._initialized = True
        self.check_worker_number_rationality()

    # ---- attributes ----
    @property
    def multiprocessing_context(self) -> Any:
        """The multiprocessing context of the workers (None: the platform default)."""
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, ctx: Any) -> None:
        if ctx is not None:
            if self.num_workers == 0:
                raise ValueError(f"multiprocessing_context can only be used with multi-process "
                                 f"loading (num_workers > 0), but got "
                                 f"num_workers={self.num_workers}")
            if isinstance(ctx, str):
                methods = multiprocessing.get_all_start_methods()
                if ctx not in methods:
                    raise ValueError(f"multiprocessing_context option should specify a valid "
                                     f"start method in {methods!r}, but got "
                                     f"multiprocessing_context={ctx!r}")
                ctx = multiprocessing.get_context(ctx)
            if not isinstance(ctx, multiprocessing.context.BaseContext):
                raise TypeError(f"multiprocessing_context option should be a valid context "
                                f"object or a string specifying the start method, but got "
                                f"multiprocessing_context={ctx}")
        self._multiprocessing_context = ctx

    def __setattr__(self, attr: str, value: Any) -> None:
        if self._initialized and attr in _FROZEN:
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(attr, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    # ---- iteration ----
    def _get_iterator(self) -> Any:
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        from nncore.utils.data._utils.mp_iter import _MultiProcessingDataLoaderIter

        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self) -> Iterator[Any]:
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self) -> int:
        if self._iterable:
            # NOTE: an estimate from the dataset's length, as PyTorch (workers may shard it
            # into more, smaller batches); iterating past it warns.
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                length = (length // self.batch_size if self.drop_last
                          else math.ceil(length / self.batch_size))
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self) -> None:
        """Warn when ``num_workers`` exceeds the CPUs this process may run on."""
        if not self.num_workers:
            return
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            os.cpu_count()
        if cpus is None or self.num_workers > cpus:
            warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in "
                          f"total. Our suggested max number of worker in current system is "
                          f"{cpus}, which is smaller than what this DataLoader is going to "
                          f"create. Please be aware that excessive worker creation might get "
                          f"DataLoader running slow or even freeze, lower the worker number to "
                          f"avoid potential slowness/freeze if necessary.", stacklevel=2)

    # ---- checkpoints (nncore extension) ----
    def state_dict(self) -> dict[str, Any]:
        """The position of the loader's own generator (``seed=`` or ``generator=``), so that a
        restored loader draws the saved run's next orders; ``{"seed", "generator": None}`` when
        it draws from nncore's default generator (whose state checkpoints save separately).

        Returns:
            A JSON-serialisable dict.
        """
        if self.generator is None:
            return {"seed": self.seed, "generator": None}
        rng = _numpy_generator(self.generator, "DataLoader.state_dict")
        return {"seed": self.seed, "generator": copy.deepcopy(rng.bit_generator.state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``: later epochs draw the saved run's orders.

        Raises:
            ValueError: not a loader state, a state of another bit generator, or a saved
                generator state for a loader that has no generator of its own.
        """
        if not isinstance(state, dict) or "generator" not in state or "seed" not in state:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict from state_dict(), "
                             f"got {state!r:.120}")
        saved = state["generator"]
        if saved is None:
            if self.generator is not None:
                raise ValueError("DataLoader.load_state_dict: the saved loader drew from "
                                 "nncore's default generator, this one has its own generator "
                                 "(seed= or generator=)")
            return
        if self.generator is None:
            raise ValueError("DataLoader.load_state_dict: the saved loader had its own "
                             "generator; build this one with seed= or generator= to restore it")
        rng = _numpy_generator(self.generator, "DataLoader.load_state_dict")
        if not isinstance(saved, dict) or saved.get("bit_generator") != \
                type(rng.bit_generator).__name__:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict from state_dict(), "
                             f"got {state!r:.120}")
        rng.bit_generator.state = copy.deepcopy(saved)
        self.seed = state["seed"]


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    """Loads every batch in the calling process."""

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        if self._timeout != 0:
            raise AssertionError("DataLoader: timeout needs num_workers > 0 (loading in the "
                                 "main process cannot time out)")
        self._fetcher = create_fetcher(self._iterable, self._dataset, self._auto_collation,
                                       self._collate_fn, self._drop_last)

    def _next_data(self) -> Any:
        index = self._next_index()  # StopIteration ends the epoch
        return self._fetcher.fetch(index)
