"""Parameter: a Tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

from nncore.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad and is registered by Module attribute assignment."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        if isinstance(data, Tensor) and dtype is None:
            dtype = data.data.dtype
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
