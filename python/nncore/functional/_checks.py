"""Argument checks shared by the functional forms: they raise before anything reaches C++."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nncore.tensor import Tensor

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("none", "mean", "sum")


def check_float(op: str, name: str, t: Any) -> None:
    """TypeError unless ``t`` is a float32 or float64 Tensor."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t._array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {t._array.dtype}")


def check_same_dtype(op: str, *named: tuple[str, Tensor]) -> None:
    """TypeError unless every named Tensor has one dtype."""
    dtypes = {t._array.dtype for _, t in named}
    if len(dtypes) > 1:
        desc = ", ".join(f"{n} is {t._array.dtype}" for n, t in named)
        raise TypeError(f"{op}: expected one dtype, but {desc}")


def check_dtypes(op: str, input: Tensor, **others: Any) -> None:
    """check_float on every Tensor in ``others`` (None skipped), and the dtype of ``input``."""
    for name, t in others.items():
        if t is None:
            continue
        check_float(op, name, t)
        if t._array.dtype != input._array.dtype:
            raise TypeError(f"{op}: expected one dtype, but input is {input._array.dtype} and "
                            f"{name} is {t._array.dtype}")


def check_reduction(op: str, reduction: Any) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """PyTorch's mapping of the deprecated size_average/reduce flags to a reduction string, with
    its deprecation warning."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else ("mean" if size_average else "sum")
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    return reduction


def resolve_reduction(op: str, size_average: bool | None, reduce: bool | None,
                      reduction: Any) -> str:
    """``reduction``, or the legacy flags' reduction when either is given; checked."""
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    check_reduction(op, reduction)
    return reduction


# NOTE: the native kernels refuse sizes whose product passes 2^48 elements (cpp/common/checked.h);
# checking here first names the op and argument the user wrote (conv1d's padding, not conv2d's).
MAX_ELEMENTS = 2**48


def check_numel(op: str, what: str, dims: Any) -> None:
    """Raise ValueError naming ``op`` and ``what`` when the sizes ``dims`` multiply past
    MAX_ELEMENTS (a huge padding, dilation or output size).

    Args:
        op: the op name for the message.
        what: the argument responsible.
        dims: the sizes of the array the op would allocate.
    """
    n = 1
    for d in dims:
        n *= int(d)
    if n > MAX_ELEMENTS:
        raise ValueError(f"{op}: {what} gives an array of {n} elements (sizes "
                         f"{tuple(int(d) for d in dims)}), more than any array can hold")
