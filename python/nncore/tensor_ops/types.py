"""Type predicates (``is_tensor``, ``is_floating_point``, ``numel``) and PyTorch's legacy typed
constructors (``LongTensor([1, 2])``, ``FloatTensor(3, 4)``, ``isinstance(t, LongTensor)``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.tensor import Tensor

__all__ = [
    "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
    "IntTensor", "LongTensor", "ShortTensor", "is_complex", "is_floating_point", "is_nonzero",
    "is_tensor", "numel",
]
METHODS = ("is_nonzero",)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    return input._array.dtype.kind == "f"


def is_complex(input: Tensor) -> bool:
    return input._array.dtype.kind == "c"


def is_nonzero(input: Tensor) -> bool:
    if input._array.size != 1:
        many = "no" if input._array.size == 0 else "more than one"
        raise RuntimeError(f"Boolean value of Tensor with {many} values is ambiguous")
    return bool(input._array.item())


def numel(input: Tensor) -> int:
    return input._array.size


class _LegacyType(type):
    """Makes ``LongTensor(data)`` build a tensor of that dtype and ``isinstance(t, LongTensor)``
    test a tensor's dtype, as PyTorch's legacy tensor types do."""

    _dtype: np.dtype

    def __call__(cls, *data: Any) -> Tensor:
        return Tensor(*data, dtype=cls._dtype)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj._array.dtype == cls._dtype


def _legacy(name: str, dtype: Any) -> type:
    return _LegacyType(name, (), {"_dtype": np.dtype(dtype), "__module__": __name__,
                                  "__doc__": f"Legacy constructor of {np.dtype(dtype)} tensors."})


FloatTensor = _legacy("FloatTensor", np.float32)
DoubleTensor = _legacy("DoubleTensor", np.float64)
HalfTensor = _legacy("HalfTensor", np.float16)
LongTensor = _legacy("LongTensor", np.int64)
IntTensor = _legacy("IntTensor", np.int32)
ShortTensor = _legacy("ShortTensor", np.int16)
CharTensor = _legacy("CharTensor", np.int8)
ByteTensor = _legacy("ByteTensor", np.uint8)
BoolTensor = _legacy("BoolTensor", np.bool_)
