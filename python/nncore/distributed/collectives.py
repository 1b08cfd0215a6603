"""The collectives of ``torch.distributed`` on nncore Tensors and NumPy arrays, in place.

Each is one MPI nonblocking operation on a contiguous buffer (the array itself when it is
contiguous and of an MPI-native dtype, else a working copy written back at the end), finished by
the timed wait of ``_core``; ``async_op=True`` returns the ``Work`` instead of waiting.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from nncore.distributed._core import ReduceOp, Work, _Group, require, wait
from nncore.tensor import Tensor

__all__ = [
    "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "barrier",
    "broadcast", "broadcast_object_list", "reduce_scatter", "reduce_scatter_tensor",
]

_MPI_OPS = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD",
            ReduceOp.MIN: "MIN", ReduceOp.MAX: "MAX", ReduceOp.BAND: "BAND",
            ReduceOp.BOR: "BOR", ReduceOp.BXOR: "BXOR"}


def _array(x: Any, op: str, name: str = "tensor") -> np.ndarray:
    if isinstance(x, Tensor):
        a = x._array
    elif isinstance(x, np.ndarray):
        a = x
    else:
        raise TypeError(f"{op}: {name} must be an nncore Tensor or a NumPy array, got "
                        f"{type(x).__name__}")
    if not a.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only (collectives write in place)")
    return a


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype MPI reduces in: float16 in float32, bool as uint8 (so SUM is a logical or)."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    if dtype.kind not in "fiuc":
        raise TypeError(f"nncore.distributed: unsupported dtype {dtype}")
    return dtype


def _buffer(a: np.ndarray) -> np.ndarray:
    """``a`` itself when MPI can use it in place, else a contiguous working copy."""
    work = _work_dtype(a.dtype)
    if work == a.dtype and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=work)


def _bump(*xs: Any) -> None:
    for x in xs:
        if isinstance(x, Tensor):
            x._version += 1


def _mpi_op(grp: _Group, op: Any, name: str, dtype: np.dtype) -> Any:
    key = _MPI_OPS.get(op)
    if key is None:
        raise NotImplementedError(f"torch.distributed.{name}: ReduceOp {op!r} is not supported "
                                  f"by nncore (SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR, BXOR)")
    if op is ReduceOp.AVG and dtype.kind not in "fc":
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and dtype.kind not in "iub":
        raise TypeError(f"{name}: {op!r} needs an integer or bool tensor, got {dtype}")
    return getattr(grp.MPI, key)


def _run(grp: _Group, reqs: list[Any], op: str, finish: Callable[[], None] | None,
         async_op: bool) -> Work | None:
    work = Work(grp, reqs, op, finish)
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Any, op: Any = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over all ranks; every rank gets the result in ``tensor``.

    Args:
        tensor: an nncore Tensor or NumPy array, reduced in place.
        op: ``ReduceOp.SUM`` (default), ``AVG`` (floating point), ``PRODUCT``, ``MIN``, ``MAX``,
            ``BAND``/``BOR``/``BXOR`` (integers).
        async_op: return a ``Work`` (call ``wait()``) instead of finishing here.
    Returns:
        None, or the ``Work`` with ``async_op``.
    """
    grp = require("all_reduce", group)
    a = _array(tensor, "all_reduce")
    mpi_op = _mpi_op(grp, op, "all_reduce", a.dtype)
    buf = _buffer(a)
    req = grp.comm.Iallreduce(grp.MPI.IN_PLACE, buf, op=mpi_op)

    def finish() -> None:
        if op is ReduceOp.AVG:
            np.divide(buf, grp.size, out=buf)
        if buf is not a:
            np.copyto(a, buf, casting="unsafe")
        _bump(tensor)

    return _run(grp, [req], "all_reduce", finish, async_op)


def broadcast(tensor: Any, src: int | None = None, group: Any = None, async_op: bool = False,
              group_src: int | None = None) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank.

    Args:
        tensor: an nncore Tensor or NumPy array, the same shape and dtype on every rank.
        src: the sending rank.
    Raises:
        RuntimeError: ``src`` is not a rank of the group.
    """
    grp = require("broadcast", group)
    root = src if src is not None else group_src
    if root is None or not 0 <= int(root) < grp.size:
        raise RuntimeError(f"broadcast: invalid root rank: {root} (world size {grp.size})")
    a = _array(tensor, "broadcast")
    buf = _buffer(a)
    req = grp.comm.Ibcast(buf, root=int(root))

    def finish() -> None:
        if buf is not a:
            np.copyto(a, buf, casting="unsafe")
        _bump(tensor)

    return _run(grp, [req], "broadcast", finish, async_op)


def _check_list(grp: _Group, op: str, xs: Any, like: np.ndarray, name: str) -> list[np.ndarray]:
    if not isinstance(xs, Sequence) or len(xs) != grp.size:
        n = len(xs) if isinstance(xs, Sequence) else type(xs).__name__
        raise RuntimeError(f"{op}: {name} must hold world_size={grp.size} tensors, got {n}")
    arrays = [_array(x, op, name) for x in xs]
    for i, b in enumerate(arrays):
        if b.shape != like.shape or b.dtype != like.dtype:
            raise RuntimeError(f"{op}: {name}[{i}] has shape {b.shape} and dtype {b.dtype}; "
                               f"expected {like.shape} and {like.dtype}")
    return arrays


def all_gather(tensor_list: list[Any], tensor: Any, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Gather every rank's ``tensor`` into ``tensor_list`` (entry ``i`` from rank ``i``).

    Args:
        tensor_list: ``world_size`` Tensors/arrays of ``tensor``'s shape and dtype, written.
        tensor: this rank's contribution.
    Raises:
        RuntimeError: a list of the wrong length, shape or dtype.
    """
    grp = require("all_gather", group)
    a = _array(tensor, "all_gather")
    outs = _check_list(grp, "all_gather", tensor_list, a, "tensor_list")
    send = _buffer(a)
    recv = np.empty((grp.size, *a.shape), dtype=send.dtype)
    req = grp.comm.Iallgather(send, recv)

    def finish() -> None:
        for out, part in zip(outs, recv):
            np.copyto(out, part, casting="unsafe")
        _bump(*tensor_list)

    return _run(grp, [req], "all_gather", finish, async_op)


def all_gather_into_tensor(output_tensor: Any, input_tensor: Any, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """Every rank's ``input_tensor`` concatenated along dim 0 (or stacked) into
    ``output_tensor``, whose size is ``world_size`` times the input's."""
    grp = require("all_gather_into_tensor", group)
    a = _array(input_tensor, "all_gather_into_tensor", "input_tensor")
    out = _array(output_tensor, "all_gather_into_tensor", "output_tensor")
    if out.size != a.size * grp.size or out.dtype != a.dtype:
        raise RuntimeError(f"all_gather_into_tensor: output_tensor must have world_size "
                           f"({grp.size}) times the input's {a.size} elements and its dtype "
                           f"{a.dtype}, got {out.size} of {out.dtype}")
    send = _buffer(a)
    recv = _buffer(out)
    req = grp.comm.Iallgather(send, recv.reshape(-1))

    def finish() -> None:
        if recv is not out:
            np.copyto(out, recv, casting="unsafe")
        _bump(output_tensor)

    return _run(grp, [req], "all_gather_into_tensor", finish, async_op)


def _reduce_scatter(grp: _Group, name: str, out: np.ndarray, send: np.ndarray, op: Any,
                    output: Any, async_op: bool) -> Work | None:
    mpi_op = _mpi_op(grp, op, name, out.dtype)
    recv = _buffer(out)
    req = grp.comm.Ireduce_scatter_block(send.reshape(-1), recv.reshape(-1), op=mpi_op)

    def finish() -> None:
        if op is ReduceOp.AVG:
            np.divide(recv, grp.size, out=recv)
        if recv is not out:
            np.copyto(out, recv, casting="unsafe")
        _bump(output)

    return _run(grp, [req], name, finish, async_op)


def reduce_scatter(output: Any, input_list: list[Any], op: Any = ReduceOp.SUM,
                   group: Any = None, async_op: bool = False) -> Work | None:
    """Rank ``i`` gets in ``output`` the reduction over ranks of their ``input_list[i]``.

    Args:
        output: this rank's result, of each input's shape and dtype.
        input_list: ``world_size`` Tensors/arrays.
        op: as in ``all_reduce``.
    """
    grp = require("reduce_scatter", group)
    out = _array(output, "reduce_scatter", "output")
    ins = _check_list(grp, "reduce_scatter", input_list, out, "input_list")
    send = np.stack(ins).astype(_work_dtype(out.dtype), copy=False)
    return _reduce_scatter(grp, "reduce_scatter", out, send, op, output, async_op)


def reduce_scatter_tensor(output: Any, input: Any, op: Any = ReduceOp.SUM, group: Any = None,
                          async_op: bool = False) -> Work | None:
    """``reduce_scatter`` with the inputs as consecutive chunks of one tensor of
    ``world_size`` times the output's size."""
    grp = require("reduce_scatter_tensor", group)
    out = _array(output, "reduce_scatter_tensor", "output")
    a = _array(input, "reduce_scatter_tensor", "input")
    if a.size != out.size * grp.size or a.dtype != out.dtype:
        raise RuntimeError(f"reduce_scatter_tensor: input must have world_size ({grp.size}) "
                           f"times the output's {out.size} elements and its dtype {out.dtype}, "
                           f"got {a.size} of {a.dtype}")
    return _reduce_scatter(grp, "reduce_scatter_tensor", out, _buffer(a), op, output, async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Return once every rank has entered the barrier."""
    grp = require("barrier", group)
    return _run(grp, [grp.comm.Ibarrier()], "barrier", None, async_op)


def _exchange_bytes(grp: _Group, op: str, data: bytes) -> list[bytes]:
    """Every rank's bytes, through the timed nonblocking path."""
    mine = np.array([len(data)], dtype=np.int64)
    sizes = np.empty(grp.size, dtype=np.int64)
    wait(grp, [grp.comm.Iallgather(mine, sizes)], op)
    recv = np.empty(int(sizes.sum()), dtype=np.uint8)
    displs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    send = np.frombuffer(data, dtype=np.uint8)
    req = grp.comm.Iallgatherv(send, [recv, (sizes.tolist(), displs.tolist()),
                                      grp.MPI.BYTE])
    wait(grp, [req], op)
    return [recv[d:d + s].tobytes() for d, s in zip(displs.tolist(), sizes.tolist())]


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """Every rank's picklable ``obj`` into ``object_list`` (length ``world_size``).

    Objects travel pickled, as in PyTorch: only use it between trusted ranks of one job.
    """
    grp = require("all_gather_object", group)
    if len(object_list) != grp.size:
        raise RuntimeError(f"all_gather_object: object_list must have world_size={grp.size} "
                           f"entries, got {len(object_list)}")
    parts = _exchange_bytes(grp, "all_gather_object", pickle.dumps(obj))
    object_list[:] = [pickle.loads(p) for p in parts]


def broadcast_object_list(object_list: list[Any], src: int | None = None, group: Any = None,
                          device: Any = None, group_src: int | None = None) -> None:
    """Replace ``object_list``'s entries on every rank with rank ``src``'s (pickled)."""
    grp = require("broadcast_object_list", group)
    root = src if src is not None else (group_src if group_src is not None else 0)
    if not 0 <= int(root) < grp.size:
        raise RuntimeError(f"broadcast_object_list: invalid root rank: {root}")
    data = pickle.dumps(list(object_list)) if grp.rank == root else b""
    n = np.array([len(data)], dtype=np.int64)
    wait(grp, [grp.comm.Ibcast(n, root=int(root))], "broadcast_object_list")
    buf = (np.frombuffer(data, dtype=np.uint8).copy() if grp.rank == root
           else np.empty(int(n[0]), dtype=np.uint8))
    wait(grp, [grp.comm.Ibcast(buf, root=int(root))], "broadcast_object_list")
    if grp.rank != root:
        object_list[:] = pickle.loads(buf.tobytes())
