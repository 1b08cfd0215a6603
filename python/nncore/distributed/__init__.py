"""``nncore.distributed``: ``torch.distributed``'s process-group API over MPI (mpi4py).

Start the processes with ``mpiexec -n N python script.py`` (or ``srun``), then::

    import nncore.distributed as dist
    dist.init_process_group(backend="mpi")
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)

Collectives work in place on nncore Tensors and NumPy arrays, as PyTorch's do on tensors. They
run as MPI nonblocking operations polled until done: mpi4py releases the GIL inside every MPI
call, and a rank that waits longer than the group's ``timeout`` raises a ``RuntimeError`` naming
the operation instead of hanging. An exception that escapes a rank's script aborts the whole MPI
job (every rank stops with the traceback of the one that failed).

``backend="gloo"`` is accepted as a spelling of the MPI backend (the same CPU collectives), so a
PyTorch CPU script runs unchanged under ``mpiexec``; ``nccl`` raises ``NotImplementedError``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from nncore.distributed._core import (
    GroupMember,
    ReduceOp,
    Work,
    current,
    group,
    is_initialized,
    require,
)
from nncore.distributed._core import init as _init
from nncore.distributed._core import shutdown as _shutdown
from nncore.distributed.collectives import (
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    reduce_scatter,
    reduce_scatter_tensor,
)

__all__ = [
    "GroupMember", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor",
    "all_gather_object", "all_reduce", "barrier", "broadcast", "broadcast_object_list",
    "destroy_process_group", "get_backend", "get_node_local_rank", "get_rank", "get_world_size",
    "group", "init_process_group", "is_available", "is_gloo_available", "is_initialized",
    "is_mpi_available", "is_nccl_available", "is_torchelastic_launched", "launched_world_size",
    "new_group",
    "reduce_scatter", "reduce_scatter_tensor",
]

def is_available() -> bool:
    """True: the package is there (a process group also needs mpi4py, see is_mpi_available)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py imports (``pip install nncore[mpi]`` installs it with MPICH)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_gloo_available() -> bool:
    """False: nncore has no gloo transport (``backend="gloo"`` runs over MPI)."""
    return False


def is_nccl_available() -> bool:
    """False: CPU only."""
    return False


def is_torchelastic_launched() -> bool:
    """Whether torchrun started this process (it sets ``TORCHELASTIC_RUN_ID``)."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def launched_world_size() -> int:
    """How many processes the launcher started, read from its environment before any MPI
    call: ``WORLD_SIZE``, MPICH/Intel MPI's ``PMI_SIZE``, Open MPI's ``OMPI_COMM_WORLD_SIZE``,
    PMIx's ``PMIX_SIZE`` or Slurm's ``SLURM_STEP_NUM_TASKS`` (1 when none is set)."""
    for key in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE",
                "SLURM_STEP_NUM_TASKS"):
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 1


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: timedelta | None = None, world_size: int = -1, rank: int = -1,
                       store: Any = None, group_name: str = "", pg_options: Any = None,
                       device_id: Any = None) -> None:
    """Join the default process group: every process that ``mpiexec``/``srun`` started.

    Args:
        backend: ``"mpi"`` (default), or ``"gloo"``/``"cpu:gloo"`` (run over MPI too).
        init_method: ``None`` or ``"env://"``; MPI does its own rendezvous.
        timeout: how long a collective may wait for the other ranks before raising
            (default 30 minutes, PyTorch's for CPU backends; ``NNCORE_DIST_TIMEOUT`` seconds
            overrides the default).
        world_size, rank: optional, as do ``WORLD_SIZE``/``RANK`` in the environment: they must
            agree with MPI's process count, and ranks are numbered by them (else by MPI's).
        store, pg_options, device_id: not supported (a TCP store has no meaning over MPI).

    Raises:
        ValueError: the group exists already; a rank or world size that disagrees with MPI's.
        ImportError: mpi4py is not installed.
        NotImplementedError: another backend, a store or a ``tcp://``/``file://`` method.

    After it, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` are set in
    ``os.environ`` (when absent) as torchrun sets them.
    """
    if is_initialized():
        raise ValueError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name not in ("mpi", "gloo", "cpu:gloo", "cpu:mpi"):
        raise NotImplementedError(f"torch.distributed.init_process_group(backend={backend!r}): "
                                  f"nncore runs on the CPU over MPI only (backend='mpi')")
    if store is not None:
        raise NotImplementedError("torch.distributed.init_process_group(store=...): nncore's "
                                  "MPI backend does its own rendezvous; start with mpiexec/srun")
    if init_method not in (None, "env://"):
        raise NotImplementedError(f"torch.distributed.init_process_group(init_method="
                                  f"{init_method!r}): only env:// (or None) over MPI")
    if timeout is None:
        timeout = timedelta(seconds=float(os.environ.get("NNCORE_DIST_TIMEOUT", 1800)))
    if not isinstance(timeout, timedelta):
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    env_rank = rank if rank >= 0 else _env_int("RANK")
    env_size = world_size if world_size >= 0 else _env_int("WORLD_SIZE")
    _init(env_rank, env_size, timeout.total_seconds())


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"init_process_group: environment variable {name}={value!r} is not "
                         f"an integer") from None


def destroy_process_group(group: Any = None) -> None:
    """Leave the default process group (MPI itself stays up until the process exits).

    Raises:
        ValueError: no process group.
    """
    require("destroy_process_group", group)
    _shutdown()


def get_rank(group: Any = None) -> int:
    """This process's rank in ``[0, world_size)``."""
    return require("get_rank", group).rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return require("get_world_size", group).size


def get_backend(group: Any = None) -> str:
    """``"mpi"``."""
    require("get_backend", group)
    return "mpi"


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """The rank among the processes on this machine (``LOCAL_RANK``).

    Args:
        fallback_rank: returned when neither ``LOCAL_RANK`` nor a process group gives one.
    Raises:
        RuntimeError: nothing gives it and no fallback.
    """
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if current() is not None:
        return current().local_rank
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment and no process group is "
                       "initialized; pass fallback_rank")


def new_group(*args: Any, **kwargs: Any) -> Any:
    """Not supported: nncore has the default (world) group only."""
    raise NotImplementedError("torch.distributed.new_group: nncore supports the default "
                              "process group only")
