"""The multi-process iterator of ``DataLoader(num_workers > 0)`` (PyTorch's protocol).

Each worker has an index queue; all share one result queue. The iterator keeps at most
``prefetch_factor * num_workers`` tasks outstanding, sends task ``k`` to the workers round-robin,
and delivers results by task number (``in_order``), parking early arrivals. A worker's
exception is re-raised here with its traceback; a dead worker or a ``timeout`` raises
RuntimeError. Workers stop when the epoch ends (unless persistent), when the iterator is
garbage-collected (a ``break``), or at interpreter exit; ``/dev/shm`` files of batches never
delivered are removed then.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import signal
import time
import weakref
from typing import Any

from nncore.utils.data._utils import transport
from nncore.utils.data._utils.base_iter import _BaseDataLoaderIter
from nncore.utils.data._utils.worker import (
    STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    IterableDatasetStopIteration,
    ResumeIteration,
    worker_loop,
)

_ids = itertools.count()


def _shutdown(owner: int, workers: list[Any], index_queues: list[Any], result_queue: Any,
              done_event: Any, prefix: str) -> None:
    """Stop the workers, close the queues, remove the iterator's shared files.

    NOTE: a ``weakref.finalize`` of the iterator calls this with the resources themselves, not
    the iterator: it runs when the iterator is freed even from a reference cycle (a traceback
    holding it), where the garbage collector could already have closed queues the iterator
    owned, and at interpreter exit.
    """
    if os.getpid() != owner:  # a forked copy of the iterator, in a worker
        return
    try:
        done_event.set()
        for q in index_queues:
            try:
                q.put(None)
            except (ValueError, OSError):  # already closed (interpreter exit)
                pass
        deadline = time.monotonic() + STATUS_CHECK_INTERVAL
        for w in workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        for q in index_queues:
            q.cancel_join_thread()
            q.close()
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
                w.join(timeout=STATUS_CHECK_INTERVAL)
        result_queue.cancel_join_thread()
        result_queue.close()
        # NOTE: after the workers are gone: nothing can write a new file any more.
        transport.cleanup(prefix)


def _describe(w: Any) -> str:
    code = w.exitcode
    if code is not None and code < 0:
        try:
            return f"{w.pid} (killed by signal {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"{w.pid} (exit code {code})"


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Loads batches in ``num_workers`` processes and yields them in sampler order."""

    def __init__(self, loader: Any) -> None:
        super().__init__(loader)
        if not self._prefetch_ok(loader.prefetch_factor):
            raise ValueError("DataLoader: prefetch_factor must be greater than 0 with "
                             "num_workers > 0")
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._owner = os.getpid()
        self._prefix = f"nncore_dl_{self._owner}_{next(_ids)}"
        self._result_queue = ctx.Queue()
        self._done_event = ctx.Event()
        self._index_queues: list[Any] = []
        self._workers: list[Any] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._owner, self._workers,
                                           self._index_queues, self._result_queue,
                                           self._done_event, self._prefix)
        for i in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            w = ctx.Process(target=worker_loop, daemon=True, args=(
                self._iterable, self._dataset, index_queue, self._result_queue,
                self._done_event, self._auto_collation, self._collate_fn, self._drop_last,
                self._base_seed, loader.worker_init_fn, i, self._num_workers, self._prefix))
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)
        self._reset(loader, first_iter=True)

    @staticmethod
    def _prefetch_ok(prefetch: Any) -> bool:
        return isinstance(prefetch, int) and prefetch > 0

    def _reset(self, loader: Any, first_iter: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._send_idx = 0  # next task number to send
        self._rcvd_idx = 0  # next task number to deliver
        self._task_info: dict[int, tuple] = {}  # task -> (worker,) or (worker, data)
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # Persistent workers: restart every worker's fetcher, dropping what is in flight.
            for q in self._index_queues:
                q.put(ResumeIteration())
            pending = self._num_workers
            while pending > 0:
                idx, _ = self._get_data()
                if isinstance(idx, ResumeIteration):
                    pending -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    # ---- receiving ----
    def _try_get_data(self, timeout: float) -> tuple[bool, Any]:
        try:
            return True, self._result_queue.get(timeout=timeout)
        except queue.Empty:
            pass
        failed = [w for i, w in enumerate(self._workers)
                  if self._workers_status[i] and not w.is_alive()]
        if failed:
            for i, w in enumerate(self._workers):
                if w in failed:
                    self._mark_worker_as_unavailable(i)
            raise RuntimeError(f"DataLoader worker (pid(s) "
                               f"{', '.join(_describe(w) for w in failed)}) exited unexpectedly")
        return False, None

    def _get_data(self) -> tuple[Any, Any]:
        if self._timeout > 0:
            ok, data = self._try_get_data(self._timeout)
            if not ok:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        else:
            ok = False
            while not ok:
                ok, data = self._try_get_data(STATUS_CHECK_INTERVAL)
        idx, payload = data
        if isinstance(payload, transport.Encoded):
            payload = transport.decode(payload)
        return idx, payload

    def _next_data(self) -> Any:
        while True:
            # Skip tasks of workers that ended (iterable datasets) and have no data.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    if len(info) == 2 or self._workers_status[info[0]]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._iterable and isinstance(data, IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:
                    return self._process_data(data, self._task_info.pop(idx)[0])
                self._task_info[idx] += (data,)
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _process_data(self, data: Any, worker_id: int) -> Any:
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    # ---- sending ----
    def _try_put_index(self) -> None:
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next active worker, if any
            worker = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker]:
                if self._in_order or \
                        self._workers_num_tasks[worker] < max_tasks // sum(self._workers_status):
                    break
        else:
            return
        self._index_queues[worker].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._workers_num_tasks[worker] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    # ---- stopping ----
    def _mark_worker_as_unavailable(self, worker_id: int) -> None:
        self._index_queues[worker_id].put(None)
        self._workers_status[worker_id] = False

    def _shutdown_workers(self) -> None:
        self._finalizer()  # once: later calls do nothing
