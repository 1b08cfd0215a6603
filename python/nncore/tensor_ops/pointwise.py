"""Elementwise math (``nncore.exp``, ``nncore.clamp``...): NumPy Functions from ``ops.basic``."""

from __future__ import annotations

from typing import Any

from nncore.ops import basic
from nncore.tensor import Tensor

__all__ = ["abs", "clamp", "clip", "exp", "log", "sqrt"]
METHODS = ("abs", "clamp", "clip", "exp", "log", "sqrt")


def exp(input: Tensor) -> Tensor:
    return basic.ExpFn.apply(input)


def log(input: Tensor) -> Tensor:
    return basic.LogFn.apply(input)


def sqrt(input: Tensor) -> Tensor:
    return basic.SqrtFn.apply(input)


def abs(input: Tensor) -> Tensor:  # noqa: A001
    return basic.AbsFn.apply(input)


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Values limited to [min, max]; the gradient passes where the value was inside."""
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    return basic.ClampFn.apply(input, min=min, max=max)


clip = clamp
