"""``nncore.distributed``: PyTorch's ``torch.distributed`` names. Data-parallel training over MPI
is not implemented yet: ``is_available()`` is False and starting a process group raises a clear
NotImplementedError, so scripts that only import these names (and run on one process) work."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ReduceOp", "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group",
    "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized",
    "reduce_scatter",
]


class ReduceOp:
    SUM, AVG, PRODUCT, MIN, MAX = "sum", "avg", "product", "min", "max"


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def _unsupported(name: str) -> Any:
    raise NotImplementedError(f"torch.distributed.{name}: distributed training is not supported "
                              f"by nncore yet (no process group backend)")


def init_process_group(backend: Any = None, *args: Any, **kwargs: Any) -> None:
    _unsupported("init_process_group")


def destroy_process_group(group: Any = None) -> None:
    _unsupported("destroy_process_group")


def _no_group(name: str) -> Any:
    raise ValueError(f"torch.distributed.{name}: Default process group has not been initialized, "
                     f"please make sure to call init_process_group.")


def get_rank(group: Any = None) -> int:
    return _no_group("get_rank")


def get_world_size(group: Any = None) -> int:
    return _no_group("get_world_size")


def barrier(*args: Any, **kwargs: Any) -> None:
    _no_group("barrier")


def broadcast(tensor: Any, src: int, *args: Any, **kwargs: Any) -> None:
    _no_group("broadcast")


def all_reduce(tensor: Any, *args: Any, **kwargs: Any) -> None:
    _no_group("all_reduce")


def all_gather(tensor_list: Any, tensor: Any, *args: Any, **kwargs: Any) -> None:
    _no_group("all_gather")


def reduce_scatter(output: Any, input_list: Any, *args: Any, **kwargs: Any) -> None:
    _no_group("reduce_scatter")
