"""dtype objects with PyTorch's names (``nncore.float32``, ``nncore.long``...) over NumPy dtypes.

A ``dtype`` compares equal to the NumPy dtype it stands for (``nc.float32 == np.float32`` and
``np.dtype(nc.float32)`` both work), so code written for either library keeps working. The
default floating dtype (float32) is what Python floats and lists become, and what layers and
factories create; ``set_default_dtype(nc.float64)`` changes it, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "bfloat16", "bool", "can_cast", "cdouble", "cfloat", "complex64", "complex128", "double",
    "dtype", "finfo", "float", "float16", "float32", "float64", "get_default_dtype", "half",
    "iinfo", "int", "int8", "int16", "int32", "int64", "long", "promote_types", "result_type",
    "set_default_dtype", "short", "uint8",
]

_builtin_bool, _builtin_int, _builtin_float = bool, int, float


class dtype:  # noqa: N801 (PyTorch's name)
    """A tensor element type: PyTorch's ``torch.dtype`` over a NumPy dtype.

    Attributes:
        is_floating_point: float16/32/64 (and bfloat16).
        is_complex: complex64/128.
        is_signed: every type but bool and uint8.
        itemsize: bytes per element.
    """

    __slots__ = ("name", "_np", "is_floating_point", "is_complex", "is_signed", "itemsize")

    def __init__(self, name: str, np_dtype: Any, itemsize: _builtin_int) -> None:
        self.name = name
        self._np = None if np_dtype is None else np.dtype(np_dtype)
        kind = "f" if self._np is None else self._np.kind
        self.is_floating_point = kind == "f"
        self.is_complex = kind == "c"
        self.is_signed = kind in "fic"
        self.itemsize = itemsize

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (what ``np.dtype(nc.float32)`` and ``np.zeros(..., dtype=)`` read)."""
        return to_numpy(self)

    def __getattr__(self, name: str) -> Any:
        # NOTE: code written for NumPy dtypes (``t.dtype.kind``, ``t.dtype.type(0)``) keeps
        # working: attributes nncore's dtype lacks come from the NumPy dtype.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(to_numpy(self), name)

    def __repr__(self) -> str:
        return f"nncore.{self.name}"

    def __str__(self) -> str:
        # NOTE: the bare name, so error messages read "input is float64" as NumPy's do.
        return self.name

    def __eq__(self, other: Any) -> _builtin_bool:
        if isinstance(other, dtype):
            return self is other
        if other is None or self._np is None:
            # NOTE: np.dtype(None) is float64; None must never equal a dtype.
            return False
        try:
            return self._np == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self) -> _builtin_int:
        return hash(self._np) if self._np is not None else hash(self.name)

    def __reduce__(self) -> str:
        return self.name


float32 = float = dtype("float32", np.float32, 4)
float64 = double = dtype("float64", np.float64, 8)
float16 = half = dtype("float16", np.float16, 2)
bfloat16 = dtype("bfloat16", None, 2)
complex64 = cfloat = dtype("complex64", np.complex64, 8)
complex128 = cdouble = dtype("complex128", np.complex128, 16)
int8 = dtype("int8", np.int8, 1)
int16 = short = dtype("int16", np.int16, 2)
int32 = int = dtype("int32", np.int32, 4)
int64 = long = dtype("int64", np.int64, 8)
uint8 = dtype("uint8", np.uint8, 1)
bool = dtype("bool", np.bool_, 1)

_BY_NUMPY: dict[np.dtype, dtype] = {
    d._np: d for d in (float32, float64, float16, complex64, complex128, int8, int16, int32,
                       int64, uint8, bool)
}
_default: dtype = float32


def to_numpy(d: Any) -> np.dtype:
    """The NumPy dtype of ``d`` (an nncore dtype, a NumPy dtype or type, or a name).

    Raises:
        NotImplementedError: for bfloat16, which NumPy (and so nncore) cannot hold.
        TypeError: for anything that names no dtype.
    """
    if isinstance(d, dtype):
        if d._np is None:
            raise NotImplementedError(
                f"dtype {d!r} is not supported: nncore stores tensors as NumPy arrays, which have "
                f"no bfloat16 (use nncore.float32, or float16 for storage)")
        return d._np
    if d is None:
        raise TypeError("expected a dtype, got None")
    try:
        return np.dtype(d)
    except TypeError:
        raise TypeError(f"expected a dtype (nncore.float32, np.float64, 'int64'...), got "
                        f"{d!r}") from None


def from_numpy(d: np.dtype) -> dtype:
    """The nncore dtype of a NumPy dtype (``Tensor.dtype``).

    Raises:
        TypeError: for a NumPy dtype nncore has no tensor type for (strings, objects, uint64...).
    """
    found = _BY_NUMPY.get(d)
    if found is None:
        raise TypeError(f"NumPy dtype {d} has no nncore dtype (supported: "
                        f"{', '.join(x.name for x in _BY_NUMPY.values())})")
    return found


def get_default_dtype() -> dtype:
    """The dtype Python floats, lists of floats, layers and float factories get (float32)."""
    return _default


def default_numpy() -> np.dtype:
    """``get_default_dtype()`` as a NumPy dtype."""
    return _default._np


def set_default_dtype(d: Any) -> None:
    """Make ``d`` (float32 or float64) the default floating dtype, as ``torch.set_default_dtype``.

    Raises:
        TypeError: for a non-floating dtype.
        NotImplementedError: for float16 and bfloat16 (no native kernels in half precision).
    """
    global _default
    np_d = to_numpy(d)
    if np_d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the "
                        f"default type, got {d!r}")
    if np_d not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise NotImplementedError(f"set_default_dtype: {d!r} as the default dtype is not "
                                  f"supported (nncore's kernels run in float32 and float64)")
    _default = _BY_NUMPY[np_d]


def finfo(d: Any = None) -> np.finfo:
    """Machine limits of a floating dtype (``eps``, ``max``, ``min``, ``tiny``, ``bits``);
    the default dtype when ``d`` is None."""
    return np.finfo(to_numpy(_default if d is None else d))


def iinfo(d: Any) -> np.iinfo:
    """Machine limits of an integer dtype (``max``, ``min``, ``bits``)."""
    return np.iinfo(to_numpy(d))


# ---- type promotion (PyTorch's rules, which differ from NumPy's) ----------------------------
# NOTE: PyTorch ranks operands in three tiers: tensors with dimensions, 0-d tensors, then Python
# numbers. A lower tier decides the result only when it brings a higher category (bool < integer
# < floating < complex): float32 tensor + float64 0-d tensor is float32, int tensor + 2.5 is the
# default float dtype. NumPy 2 would give float64 for both.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promote(a: np.dtype, b: np.dtype) -> np.dtype:
    if a == b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca == cb or (ca + cb == 5):  # same category, or float with complex
        return np.promote_types(a, b)
    # NOTE: across categories the higher one wins as it is (int64 + float16 is float16).
    return a if ca > cb else b


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """PyTorch's combine_categories: ``higher`` (a stronger tier) keeps its type unless
    ``lower`` belongs to a higher category."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    hk, lk = higher.kind, lower.kind
    if hk == "c":
        return higher
    if lk == "c":
        return np.promote_types(higher, lower) if hk == "f" else lower
    if hk == "f":
        return higher
    if hk == "b" or lk == "f":
        return _promote(higher, lower)
    return higher


def scalar_numpy(x: Any) -> np.dtype:
    """The dtype a Python number takes in an operation with tensors: bool, int64, the default
    float dtype, or the matching complex dtype."""
    if isinstance(x, (_builtin_bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(x, (_builtin_int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(x, (_builtin_float, np.floating)):
        return _default._np
    if isinstance(x, (complex, np.complexfloating)):
        return np.dtype(np.complex64 if _default._np == np.float32 else np.complex128)
    raise TypeError(f"expected a Tensor or a number, got {type(x).__name__}")


def result_numpy(*operands: Any) -> np.dtype:
    """The NumPy dtype of an elementwise op over ``operands`` (Tensors, NumPy arrays or Python
    numbers) by PyTorch's promotion rules."""
    tiers: list[np.dtype | None] = [None, None, None]
    for x in operands:
        arr = getattr(x, "_array", None)
        if arr is None and isinstance(x, np.ndarray):
            arr = x
        if arr is not None:
            tier, d = (0 if arr.ndim else 1), arr.dtype
        else:
            tier, d = 2, scalar_numpy(x)
        tiers[tier] = d if tiers[tier] is None else _promote(tiers[tier], d)
    out = _combine(tiers[0], _combine(tiers[1], tiers[2]))
    if out is None:
        raise TypeError("result_type: expected at least one operand")
    return out


def promote_types(type1: Any, type2: Any) -> dtype:
    """The smallest dtype both ``type1`` and ``type2`` cast to without leaving their
    categories (``torch.promote_types``): int64 with float16 gives float16, uint8 with int8
    int16."""
    return from_numpy(_promote(to_numpy(type1), to_numpy(type2)))


def result_type(tensor1: Any, tensor2: Any) -> dtype:
    """The dtype of an arithmetic op between two Tensors or numbers (``torch.result_type``)."""
    return from_numpy(result_numpy(tensor1, tensor2))


def can_cast(from_: Any, to: Any) -> _builtin_bool:
    """Whether PyTorch's casting rules allow ``from_`` into ``to`` (no float to integer, no
    complex to real, nothing but bool into bool), as ``torch.can_cast``."""
    a, b = to_numpy(from_), to_numpy(to)
    return _CATEGORY[a.kind] <= _CATEGORY[b.kind]
