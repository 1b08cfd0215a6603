"""The default process group over MPI: its state, ReduceOp, Work and the timed wait.

mpi4py is imported only when a group starts (importing it initialises MPI).
"""

from __future__ import annotations

import enum
import os
import sys
import time
from typing import Any

_GROUP: _Group | None = None


class RedOpType(enum.Enum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8


class ReduceOp:
    """The reduction of ``all_reduce``/``reduce_scatter`` (``torch.distributed.ReduceOp``)."""

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


class _World:
    """``GroupMember.WORLD``: the default group, the only one nncore has."""

    def __repr__(self) -> str:
        return "<nncore.distributed default group (MPI world)>"


class GroupMember:
    WORLD = _World()
    NON_GROUP_MEMBER = None


class group:  # noqa: N801 (torch.distributed.group)
    WORLD = GroupMember.WORLD


class _Group:
    def __init__(self, comm: Any, timeout: float) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.timeout = timeout


def current() -> _Group | None:
    return _GROUP


def is_initialized() -> bool:
    """Whether ``init_process_group`` ran (and ``destroy_process_group`` did not)."""
    return _GROUP is not None


def require(op: str, grp: Any = None) -> _Group:
    """The default group, or the error PyTorch raises without one."""
    if grp is not None and grp is not GroupMember.WORLD:
        raise NotImplementedError(f"torch.distributed.{op}(group=...): nncore supports the "
                                  f"default process group only")
    if _GROUP is None:
        raise ValueError("Default process group has not been initialized, please make sure "
                         "to call init_process_group.")
    return _GROUP


def init(env_rank: int | None, env_size: int | None, timeout: float) -> None:
    """Start the default group from MPI's world, numbered by ``env_rank`` when given."""
    global _GROUP
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("init_process_group(backend='mpi') needs mpi4py and an MPI library: "
                          "pip install 'nncore[mpi]'") from e
    world = MPI.COMM_WORLD
    size = world.Get_size()
    if env_size is not None and env_size != size:
        raise ValueError(
            f"init_process_group: world size {env_size} (argument or WORLD_SIZE) but MPI "
            f"started {size} process(es); nncore's process group is MPI's world: launch with "
            f"`mpiexec -n {env_size} python script.py` or srun (torchrun's TCP rendezvous is "
            f"not supported)")
    if env_rank is not None:
        if not 0 <= env_rank < size:
            raise ValueError(f"init_process_group: rank {env_rank} (argument or RANK) is not in "
                             f"[0, {size})")
        ranks = world.allgather(env_rank)
        if sorted(ranks) != list(range(size)):
            raise ValueError(f"init_process_group: the ranks given by the processes "
                             f"(argument or RANK) are {ranks}, not each of 0..{size - 1} once")
        comm = world.Split(0, env_rank)
    else:
        comm = world.Dup()
    grp = _Group(comm, timeout)
    for key, value in (("RANK", grp.rank), ("WORLD_SIZE", grp.size),
                       ("LOCAL_RANK", grp.local_rank), ("LOCAL_WORLD_SIZE", grp.local_size)):
        os.environ.setdefault(key, str(value))
    _GROUP = grp
    if grp.size > 1:
        grp.previous_hook = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def shutdown() -> None:
    global _GROUP
    grp, _GROUP = _GROUP, None
    if grp is None:
        return
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = getattr(grp, "previous_hook", sys.__excepthook__)
    grp.comm.Free()


def _abort_on_uncaught(tp: type, value: BaseException, tb: Any) -> None:
    """An uncaught exception on one rank would leave the others waiting in their next
    collective; print it and abort the MPI job, so ``mpiexec`` ends every rank."""
    grp = _GROUP
    sys.__excepthook__(tp, value, tb)
    if grp is None:
        return
    sys.stderr.write(f"nncore.distributed: rank {grp.rank} of {grp.size} raised "
                     f"{tp.__name__}; aborting the MPI job\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # NOTE: mpiexec forwards each rank's output asynchronously, and an abort tears the
    # forwarders down at once: without a pause the traceback above was sometimes lost (seen in
    # CI), leaving the user a dead job and no reason.
    time.sleep(1.0)
    grp.MPI.COMM_WORLD.Abort(1)


def wait(grp: _Group, reqs: list[Any], op: str) -> None:
    """Poll MPI requests until all complete; raise after the group's timeout.

    Raises:
        RuntimeError: the other ranks did not take part within the timeout (a rank died,
            raised, or runs a different collective).
    """
    testall = grp.MPI.Request.Testall
    if testall(reqs):
        return
    deadline = time.monotonic() + grp.timeout
    spins = 0
    while not testall(reqs):
        spins += 1
        if spins & 1023 == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"nncore.distributed.{op}: rank {grp.rank} of {grp.size} waited "
                    f"{grp.timeout:g} s for the other ranks (timeout): a rank has died, raised "
                    f"or is running a different collective")
            # NOTE: lets another thread of this process (a data loader) take the GIL.
            time.sleep(0)


class Work:
    """A started collective (``async_op=True``): ``wait()`` finishes it."""

    def __init__(self, grp: _Group, reqs: list[Any], op: str, finish: Any = None,
                 result: Any = None) -> None:
        self._grp, self._reqs, self._op, self._finish = grp, reqs, op, finish
        self._result = result
        self._done = False

    def is_completed(self) -> bool:
        """Whether the collective finished (without waiting)."""
        if not self._done and self._grp.MPI.Request.Testall(self._reqs):
            self._complete()
        return self._done

    def wait(self, timeout: Any = None) -> bool:
        """Block until the collective is done (copies results back); returns True."""
        if not self._done:
            wait(self._grp, self._reqs, self._op)
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self) -> Any:
        self.wait()
        return self._result

    def get_future(self) -> Any:
        raise NotImplementedError("torch.distributed.Work.get_future is not supported by "
                                  "nncore; call wait()")
