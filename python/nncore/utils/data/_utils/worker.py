"""The worker process side of ``DataLoader(num_workers > 0)``.

A worker seeds Python's ``random``, nncore's generator and NumPy's global generator from the
loader's base seed and its id (so a run repeats for a seed), runs ``worker_init_fn``, then
serves ``(task index, batch indices)`` from its index queue until it receives ``None``. Results go
to the shared result queue as ``(task index, batch)``; an exception travels as an
``ExceptionWrapper`` holding the worker's traceback, re-raised by the main process.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from nncore.utils.data._utils import transport
from nncore.utils.data._utils.fetch import create_fetcher

# Seconds between checks that the other side is still alive while waiting on a queue.
STATUS_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker.

    Attributes:
        id: this worker's id, in ``[0, num_workers)``. num_workers: the loader's worker count.
        seed: the seed of this worker's generators (base seed + id).
        dataset: this process's copy of the dataset.
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any
    worker_method: str = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current worker's ``WorkerInfo``; None in the main process.

    Use it in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker its
    own shard of the data.

    Returns:
        ``WorkerInfo(id, num_workers, seed, dataset)`` or None.
    """
    return _worker_info


@dataclass(frozen=True)
class IterableDatasetStopIteration:
    """A worker's iterable dataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class ResumeIteration:
    """Persistent workers: start a new epoch (sent by the main process, echoed back)."""


class ExceptionWrapper:
    """An exception caught in a worker, with its formatted traceback, to re-raise in the main
    process as the same type (RuntimeError when that type cannot be rebuilt from a message)."""

    def __init__(self, where: str) -> None:
        exc_type, exc, tb = sys.exc_info()
        self.exc_type = exc_type
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where

    def reraise(self) -> None:
        """Raise the wrapped exception here, its message holding the worker's traceback."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError prints repr(msg): keep the newlines
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self) -> str:
        return str(self)


def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed every generator a dataset may use; returns the worker's seed."""
    from nncore.random import manual_seed

    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    # NOTE: NumPy's legacy global generator takes at most 32-bit words; hash both numbers into
    # four of them so neighbouring workers and base seeds get unrelated streams.
    np.random.seed(  # noqa: NPY002 (datasets that call np.random.* get a per-worker stream)
        np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _put(result_queue: Any, idx: Any, data: Any, prefix: str) -> None:
    """Send one result; a batch that cannot be pickled becomes the error it raised."""
    if not isinstance(data, (ExceptionWrapper, IterableDatasetStopIteration)):
        try:
            data = transport.encode(data, prefix)
        except Exception:
            data = ExceptionWrapper(where="while sending a batch from a DataLoader worker")
    if isinstance(data, ExceptionWrapper):
        try:
            pickle.dumps(data.exc_type)
        except Exception:
            data.exc_type = RuntimeError  # an exception class the main process cannot import
    result_queue.put((idx, data))


def worker_loop(iterable: bool, dataset: Any, index_queue: Any, result_queue: Any,
                done_event: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool,
                base_seed: int, init_fn: Callable[[int], None] | None, worker_id: int,
                num_workers: int, prefix: str) -> None:
    """Body of a worker process (arguments as the main process's iterator passes them)."""
    global _worker_info
    try:
        from nncore.threads import set_num_threads

        # NOTE: one native thread per worker, as PyTorch does: workers share the cores with the
        # main process, and an OpenMP pool inherited through fork is not usable anyway.
        set_num_threads(1)
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_error = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        parent = os.getppid()
        worker_prefix = f"{prefix}_{worker_id}"
        while os.getppid() == parent:  # a dead main process re-parents us: stop
            try:
                r = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if done_event.is_set():
                    break  # the main process shut down without reaching us
                continue
            if isinstance(r, ResumeIteration):
                result_queue.put((r, None))
                iteration_end = False
                try:
                    fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn,
                                             drop_last)
                except Exception:
                    init_error = ExceptionWrapper(
                        where=f"in DataLoader worker process {worker_id}")
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not iterable:
                        data = ExceptionWrapper(
                            where=f"in DataLoader worker process {worker_id}")
                    else:
                        data = IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            _put(result_queue, idx, data, worker_prefix)
            del data, idx, index, r
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        # NOTE: the main process is no longer reading: do not wait at exit to flush results.
        result_queue.cancel_join_thread()
        result_queue.close()
