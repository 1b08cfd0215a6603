"""``DistributedDataParallel`` over MPI: one model replica per rank, gradients averaged in
buckets whose allreduce starts during backward as soon as their gradients are ready.

How an iteration runs (as PyTorch's Reducer):

- ``forward`` (with grad enabled, outside ``no_sync``) arms the reducer: every bucket gets a
  fresh flat buffer and waits for its parameters' gradients.
- Each parameter's post-accumulate-grad hook copies ``grad / world_size`` into its bucket slot;
  the bucket whose last gradient arrives starts a nonblocking ``Iallreduce`` (buckets start in
  index order, so every rank issues them in the same order), while backward goes on computing
  the earlier layers' gradients. Each hook also polls the in-flight requests, which is how MPI
  makes progress on a nonblocking collective without a progress thread.
- The hook of the last gradient waits for every bucket and sets each ``p.grad`` to a view of
  its reduced bucket, so after ``loss.backward()`` returns the gradients are averaged and the
  optimizer steps the same on every rank.

Buckets follow the reverse order of ``parameters()`` (the order backward produces gradients
for a feed-forward model): the first holds at most 1 MiB so communication starts early, the
others ``bucket_cap_mb`` (25 MiB by default).

Batch norm, PyTorch's two choices: a plain ``BatchNorm`` normalises with each rank's own batch
statistics, and with ``broadcast_buffers=True`` rank 0's running statistics are copied to every
rank before each training forward, so evaluation uses the same running statistics everywhere;
``nn.SyncBatchNorm.convert_sync_batchnorm(model)`` normalises with the global batch's
statistics (the same result as one process on the concatenated batch, at one allgather per
layer in forward and one allreduce in backward).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from nncore.autograd import _topological_order, is_grad_enabled
from nncore.distributed._core import require, wait
from nncore.distributed.collectives import all_gather_object
from nncore.nn.module import Module
from nncore.tensor import Tensor

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024


class _Bucket:
    """Consecutive (in reduction order) parameters of one dtype sharing one flat buffer."""

    def __init__(self, params: list[Any], dtype: np.dtype) -> None:
        self.params = params
        self.dtype = dtype
        self.offsets: list[int] = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p._array.size
        self.numel = n
        self.buffer: np.ndarray | None = None
        self.pending = 0
        self.request: Any = None


class DistributedDataParallel(Module):
    """Data parallelism over the default process group (``torch.nn.parallel.
    DistributedDataParallel``).

    Args:
        module: the model; every rank must build the same architecture.
        device_ids, output_device: None on the CPU.
        broadcast_buffers: copy rank 0's buffers (batch-norm running statistics) to all ranks
            before each forward with grad enabled.
        init_sync: broadcast rank 0's parameters and buffers at construction.
        bucket_cap_mb: bucket size in MiB (default 25).
        find_unused_parameters: find the parameters that the output does not depend on at
            every forward and count them as ready (else an unused parameter leaves the
            reduction unfinished and the next forward raises, as in PyTorch).
        gradient_as_bucket_view: accepted; gradients are always views of the reduced buckets.
    Raises:
        RuntimeError: no parameter requires grad; the model's parameters or buffers differ in
            number, shape or dtype across ranks (checked on every rank at construction).
        ValueError: ``device_ids``/``output_device`` naming a device.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, init_sync: bool = True,
                 process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 delay_all_reduce_named_params: Any = None, param_to_hook_all_reduce: Any = None,
                 mixed_precision: Any = None, device_mesh: Any = None,
                 skip_all_reduce_unused_params: bool = False) -> None:
        super().__init__()
        grp = require("DistributedDataParallel", process_group)
        if device_ids not in (None, []) or output_device is not None:
            raise ValueError(f"DistributedDataParallel device_ids and output_device arguments "
                             f"only work with GPU modules; on the CPU pass None, got "
                             f"device_ids={device_ids!r}, output_device={output_device!r}")
        for name, value in (("mixed_precision", mixed_precision), ("device_mesh", device_mesh),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
                            ("delay_all_reduce_named_params", delay_all_reduce_named_params)):
            if value is not None:
                raise NotImplementedError(f"torch.nn.parallel.DistributedDataParallel({name}=...)"
                                          f" is not supported by nncore")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nncore.nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.dim = dim
        self.device_ids = None
        self.output_device = None
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        object.__setattr__(self, "_grp", grp)
        # NOTE: a communicator of its own, so bucket allreduces in flight during backward never
        # interleave with collectives that user code issues on the default group.
        object.__setattr__(self, "_comm", grp.comm.Dup())
        self._verify_same_model(grp)
        object.__setattr__(self, "_params", [p for _, p in named])
        object.__setattr__(self, "_state", [t for _, t in module.state_dict(
            keep_vars=True).items()])
        object.__setattr__(self, "_bufs", [b for b in module.buffers()])
        if init_sync and grp.size > 1:
            self._broadcast_from_0([t._array for t in self._state], "init_sync")
        cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        object.__setattr__(self, "_buckets", self._make_buckets(cap))
        where: dict[int, tuple[int, int]] = {}
        for b, bucket in enumerate(self._buckets):
            for i, p in enumerate(bucket.params):
                where[id(p)] = (b, i)
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_armed", False)
        object.__setattr__(self, "_started", False)
        object.__setattr__(self, "_ready", set())
        object.__setattr__(self, "_next", 0)
        object.__setattr__(self, "_used", None)
        object.__setattr__(self, "_handles", [p.register_post_accumulate_grad_hook(self._on_grad)
                                              for p in self._params])

    # ---- construction ----
    def _verify_same_model(self, grp: Any) -> None:
        """Every rank compares its parameter/buffer list with rank 0's (same answer
        everywhere, so either all ranks raise or none does)."""
        mine = [(n, tuple(t.shape), str(t._array.dtype)) for n, t in
                self.module.state_dict(keep_vars=True).items()]
        everyone: list[Any] = [None] * grp.size
        all_gather_object(everyone, mine)
        ref = everyone[0]
        for rank, desc in enumerate(everyone):
            if desc == ref:
                continue
            if len(desc) != len(ref):
                raise RuntimeError(f"DistributedDataParallel: DDP expects same model across all "
                                   f"ranks, but rank {rank} has {len(desc)} parameters and "
                                   f"buffers, while rank 0 has {len(ref)}")
            for mine_, theirs in zip(desc, ref):
                if mine_ != theirs:
                    raise RuntimeError(
                        f"DistributedDataParallel: DDP expects same model across all ranks, but "
                        f"rank {rank} has {mine_[0]!r} of shape {mine_[1]} ({mine_[2]}) where "
                        f"rank 0 has {theirs[0]!r} of shape {theirs[1]} ({theirs[2]})")

    def _broadcast_from_0(self, arrays: list[np.ndarray], op: str) -> None:
        reqs, copies = [], []
        for a in arrays:
            buf = a if a.flags.c_contiguous else np.ascontiguousarray(a)
            reqs.append(self._comm.Ibcast(buf, root=0))
            copies.append((a, buf))
        wait(self._grp, reqs, f"DistributedDataParallel.{op}")
        for a, buf in copies:
            if buf is not a:
                a[...] = buf

    def _make_buckets(self, cap: int) -> list[_Bucket]:
        buckets: list[_Bucket] = []
        group: list[Any] = []
        size = 0
        limit = min(_FIRST_BUCKET_BYTES, cap)
        for p in reversed(self._params):
            if group and (p._array.dtype != group[0]._array.dtype or size >= limit):
                buckets.append(_Bucket(group, group[0]._array.dtype))
                group, size, limit = [], 0, cap
            group.append(p)
            size += p._array.nbytes
        buckets.append(_Bucket(group, group[0]._array.dtype))
        return buckets

    # ---- forward ----
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self._armed and self._started:
            missing = [i for i, p in enumerate(self._params) if id(p) not in self._ready]
            raise RuntimeError(
                f"Expected to have finished reduction in the prior iteration before starting a "
                f"new one. This error indicates that your module has parameters that were not "
                f"used in producing loss (parameter indices {missing[:10]}). You can enable "
                f"unused parameter detection by passing the keyword argument "
                f"`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`,"
                f" or make sure all forward outputs participate in calculating loss.")
        sync = is_grad_enabled()
        if sync and self.broadcast_buffers and self._bufs and self._grp.size > 1:
            self._broadcast_from_0([b._array for b in self._bufs], "broadcast_buffers")
        out = self.module(*inputs, **kwargs)
        if sync and self.require_backward_grad_sync:
            self._arm(out)
        return out

    def _arm(self, out: Any) -> None:
        for bucket in self._buckets:
            bucket.buffer = np.empty(bucket.numel, dtype=bucket.dtype)
            bucket.pending = len(bucket.params)
            bucket.request = None
        self._ready.clear()
        object.__setattr__(self, "_next", 0)
        object.__setattr__(self, "_armed", True)
        object.__setattr__(self, "_started", False)
        if self.find_unused_parameters:
            reached = self._reached(out)
            used = np.array([id(p) in reached for p in self._params], dtype=np.uint8)
            req = self._comm.Iallreduce(self._grp.MPI.IN_PLACE, used, op=self._grp.MPI.MAX)
            object.__setattr__(self, "_used", (used, req))
            for p, u in zip(self._params, used.tolist()):
                if not u:
                    self._mark_ready(p, None)

    @staticmethod
    def _reached(out: Any) -> set[int]:
        """Ids of the leaf tensors the outputs' autograd graph reaches."""
        roots = [t._ctx if t._ctx is not None else t for t in _tensors(out) if t.requires_grad]
        return {id(n) for n in _topological_order(roots) if isinstance(n, Tensor)} if roots \
            else set()

    # ---- backward ----
    def _on_grad(self, p: Tensor) -> None:
        if not self._armed:
            return
        if id(p) in self._ready:
            raise RuntimeError(
                "Expected to mark a variable ready only once. This error is caused by a "
                "parameter that received a gradient twice in one iteration (a second backward "
                "through the graph, or an unused-parameter search that missed it); use "
                "no_sync() for gradient accumulation over several backward passes")
        object.__setattr__(self, "_started", True)
        self._mark_ready(p, p.grad._array)

    def _mark_ready(self, p: Tensor, grad: np.ndarray | None) -> None:
        self._ready.add(id(p))
        b, i = self._where[id(p)]
        bucket = self._buckets[b]
        start = bucket.offsets[i]
        view = bucket.buffer[start:start + p._array.size]
        if grad is None:
            view[...] = 0
        else:
            # NOTE: divide before the sum, as PyTorch's default comm hook (same bits for
            # world sizes that are powers of two).
            np.divide(grad.reshape(-1), self._grp.size, out=view)
        bucket.pending -= 1
        self._launch_ready()

    def _launch_ready(self) -> None:
        MPI = self._grp.MPI
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            bucket = buckets[self._next]
            bucket.request = self._comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
            object.__setattr__(self, "_next", self._next + 1)
        inflight = [bk.request for bk in buckets[:self._next]]
        if self._next == len(buckets):
            self._finalize(inflight)
        else:
            MPI.Request.Testall(inflight)  # progress the started allreduces

    def _finalize(self, reqs: list[Any]) -> None:
        if self._used is not None:
            reqs = [*reqs, self._used[1]]
        wait(self._grp, reqs, "DistributedDataParallel (gradient allreduce)")
        unused = set() if self._used is None else {
            id(p) for p, u in zip(self._params, self._used[0].tolist()) if not u}
        for bucket in self._buckets:
            for p, start in zip(bucket.params, bucket.offsets):
                if id(p) in unused and p.grad is None:
                    continue  # unused on every rank: its grad stays None, as in PyTorch
                p.grad = Tensor._wrap(bucket.buffer[start:start + p._array.size]
                                      .reshape(p._array.shape))
        object.__setattr__(self, "_armed", False)
        object.__setattr__(self, "_used", None)

    # ---- user API ----
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside it, forward/backward accumulate gradients locally without communication;
        the first synchronised backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def join(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("torch.nn.parallel.DistributedDataParallel.join (uneven "
                                  "inputs) is not supported by nncore; use a DistributedSampler "
                                  "so every rank gets the same number of batches")

    def register_comm_hook(self, state: Any, hook: Any) -> None:
        raise NotImplementedError("torch.nn.parallel.DistributedDataParallel.register_comm_hook"
                                  " is not supported by nncore")

    def extra_repr(self) -> str:
        return (f"world_size={self._grp.size}, buckets={len(self._buckets)}, "
                f"broadcast_buffers={self.broadcast_buffers}")


def _tensors(obj: Any) -> Iterator[Tensor]:
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors(x)
