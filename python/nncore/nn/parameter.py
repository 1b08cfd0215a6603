"""Parameter: a Tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.tensor import Tensor, as_array


class Parameter(Tensor):
    """A leaf Tensor that requires grad and is registered by Module attribute assignment.

    Args:
        data: a Tensor (whose memory the parameter shares, as in PyTorch) or a NumPy array
            (kept as it is, dtype included); None gives an empty float tensor.
        requires_grad: whether backward fills ``.grad``.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True, dtype: Any = None) -> None:
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        self._array = as_array(data, dtype)
        self.grad = None
        self.requires_grad = False
        self._ctx = None
        self._version = 0
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A Tensor that registers as a buffer when assigned to a Module attribute (PyTorch's
    ``nn.Buffer``).

    Args:
        data: a Tensor (whose memory the buffer shares) or array; None gives an empty tensor.
        persistent: include it in the module's ``state_dict``.
    """

    __slots__ = ("persistent",)

    def __init__(self, data: Any = None, *, persistent: bool = True) -> None:
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        self._array = as_array(data)
        self.grad = None
        self.requires_grad = False
        self._ctx = None
        self._version = 0
        self.persistent = persistent
        if isinstance(data, Tensor) and data.requires_grad:
            self.requires_grad_(True)


def empty_parameter(shape: tuple, dtype: np.dtype) -> Parameter:
    """An uninitialised Parameter (its layer's ``reset_parameters`` fills it)."""
    return Parameter(np.empty(shape, dtype=dtype))
