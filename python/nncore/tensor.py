"""Tensor: one NumPy array plus autograd bookkeeping."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import autograd
from nncore.ops import basic

_FLOATS = (np.float32, np.float64)
MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Array of ``data``: float32 unless ``dtype`` asks otherwise; integers int64, bools bool."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu" and arr.dtype != np.int64:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that records operations for reverse-mode differentiation.

    Args:
        data: array-like; floats become float32 unless ``dtype`` says otherwise.
        requires_grad: record operations on this tensor so ``backward`` fills ``.grad``.
        dtype: NumPy dtype (``np.float64`` for double precision).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    # NOTE: makes ``ndarray + Tensor`` call Tensor.__radd__ instead of NumPy's broadcasting.
    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = _as_array(data, dtype)
        if requires_grad and self.data.dtype.type not in _FLOATS:
            raise TypeError(f"tensor: only float tensors can require grad, got {self.data.dtype}")
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: autograd.Function | None = None

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A constant Tensor around ``data`` as it is (no conversion, no copy)."""
        t = cls.__new__(cls)
        t.data, t.grad, t.requires_grad, t._ctx = data, None, False, None
        return t

    # ---- array protocol and attributes ----
    def numpy(self) -> np.ndarray:
        """The underlying array (no copy)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> Any:
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> Any:
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float32:
            extra += f", dtype={self.data.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- autograd ----
    def backward(self, grad: Any = None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on.

        Args:
            grad: gradient of the final objective w.r.t. this tensor; defaults to 1 for a
                single-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for a single-element tensor, "
                    f"got shape {self.shape}"
                )
            g = np.ones_like(self.data)
        else:
            g = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if g.shape != self.shape:
                raise ValueError(f"backward: grad has shape {g.shape}, tensor has {self.shape}")
        autograd.backward(self, g)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    def copy_(self, src: Any) -> Tensor:
        self.data[...] = src.data if isinstance(src, Tensor) else src
        return self

    def astype(self, dtype: Any) -> Tensor:
        if np.dtype(dtype) == self.data.dtype:
            return self
        return _Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return Tensor._wrap(self.data.astype(np.int64))

    # ---- arithmetic ----
    def _other(self, x: Any) -> Tensor:
        if isinstance(x, Tensor):
            return x
        arr = np.asarray(x)
        if arr.dtype.kind in "fiub" and self.data.dtype.kind == "f":
            arr = arr.astype(self.data.dtype)
        return Tensor._wrap(arr)

    def __add__(self, o: Any) -> Tensor:
        return basic.AddFn.apply(self, self._other(o))

    def __radd__(self, o: Any) -> Tensor:
        return basic.AddFn.apply(self._other(o), self)

    def __sub__(self, o: Any) -> Tensor:
        return basic.SubFn.apply(self, self._other(o))

    def __rsub__(self, o: Any) -> Tensor:
        return basic.SubFn.apply(self._other(o), self)

    def __mul__(self, o: Any) -> Tensor:
        return basic.MulFn.apply(self, self._other(o))

    def __rmul__(self, o: Any) -> Tensor:
        return basic.MulFn.apply(self._other(o), self)

    def __truediv__(self, o: Any) -> Tensor:
        return basic.DivFn.apply(self, self._other(o))

    def __rtruediv__(self, o: Any) -> Tensor:
        return basic.DivFn.apply(self._other(o), self)

    def __pow__(self, o: Any) -> Tensor:
        return basic.PowFn.apply(self, self._other(o))

    def __rpow__(self, o: Any) -> Tensor:
        return basic.PowFn.apply(self._other(o), self)

    def __neg__(self) -> Tensor:
        return basic.NegFn.apply(self)

    def __matmul__(self, o: Any) -> Tensor:
        from nncore import functional

        return functional.matmul(self, self._other(o))

    def __rmatmul__(self, o: Any) -> Tensor:
        from nncore import functional

        return functional.matmul(self._other(o), self)

    # comparisons: no gradient, bool results
    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return Tensor._wrap(self.data == self._other(o).data)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return Tensor._wrap(self.data != self._other(o).data)

    def __lt__(self, o: Any) -> Tensor:
        return Tensor._wrap(self.data < self._other(o).data)

    def __le__(self, o: Any) -> Tensor:
        return Tensor._wrap(self.data <= self._other(o).data)

    def __gt__(self, o: Any) -> Tensor:
        return Tensor._wrap(self.data > self._other(o).data)

    def __ge__(self, o: Any) -> Tensor:
        return Tensor._wrap(self.data >= self._other(o).data)

    def exp(self) -> Tensor:
        return basic.ExpFn.apply(self)

    def log(self) -> Tensor:
        return basic.LogFn.apply(self)

    def sqrt(self) -> Tensor:
        return basic.SqrtFn.apply(self)

    def abs(self) -> Tensor:
        return basic.AbsFn.apply(self)

    def __abs__(self) -> Tensor:
        return basic.AbsFn.apply(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return basic.ClampFn.apply(self, min=min, max=max)

    clip = clamp

    # ---- reductions ----
    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return basic.SumFn.apply(self, axis=_axes(dim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return basic.MeanFn.apply(self, axis=_axes(dim), keepdim=keepdim)

    def _extreme(self, dim: Any, keepdim: bool, minimum: bool) -> Any:
        if dim is None or isinstance(dim, tuple):
            return basic.AmaxFn.apply(self, axis=_axes(dim), keepdim=keepdim, minimum=minimum)
        indices = (np.argmin if minimum else np.argmax)(self.data, axis=dim)
        values = basic.TakeAlongFn.apply(self, indices=indices, axis=dim, keepdim=keepdim)
        if keepdim:
            indices = np.expand_dims(indices, dim)
        return MaxResult(values, Tensor._wrap(indices.astype(np.int64)))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Largest value; with an int ``dim``, a (values, indices) pair as in PyTorch."""
        return self._extreme(dim, keepdim, minimum=False)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Smallest value; with an int ``dim``, a (values, indices) pair as in PyTorch."""
        return self._extreme(dim, keepdim, minimum=True)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return basic.AmaxFn.apply(self, axis=_axes(dim), keepdim=keepdim, minimum=False)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return basic.AmaxFn.apply(self, axis=_axes(dim), keepdim=keepdim, minimum=True)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        out = np.argmax(self.data, axis=dim, keepdims=keepdim)
        return Tensor._wrap(np.asarray(out, dtype=np.int64))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        out = np.argmin(self.data, axis=dim, keepdims=keepdim)
        return Tensor._wrap(np.asarray(out, dtype=np.int64))

    # ---- shape ----
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return basic.ReshapeFn.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        nd = max(self.ndim, 1)
        start, end = start_dim % nd, end_dim % nd
        shape = self.shape[:start] + (-1,) + self.shape[end + 1 :]
        return basic.ReshapeFn.apply(self, shape=shape)

    def permute(self, *dims: Any) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return basic.PermuteFn.apply(self, axes=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return basic.PermuteFn.apply(self, axes=tuple(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802
        return basic.PermuteFn.apply(self, axes=tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        shape = list(self.shape)
        shape.insert(dim % (self.ndim + 1), 1)
        return basic.ReshapeFn.apply(self, shape=tuple(shape))

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        elif self.shape[dim] == 1:
            shape = self.shape[: dim % self.ndim] + self.shape[dim % self.ndim + 1 :]
        else:
            return self
        return basic.ReshapeFn.apply(self, shape=shape)

    def expand(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        lead = len(shape) - self.ndim
        full = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        return basic.ExpandFn.apply(self, shape=full)

    def __getitem__(self, index: Any) -> Tensor:
        return basic.GetItemFn.apply(self, index=_plain_index(index))

    # ---- nn shortcuts ----
    def matmul(self, o: Any) -> Tensor:
        return self @ o

    def relu(self) -> Tensor:
        from nncore import functional

        return functional.relu(self)

    def sigmoid(self) -> Tensor:
        from nncore import functional

        return functional.sigmoid(self)

    def tanh(self) -> Tensor:
        from nncore import functional

        return functional.tanh(self)

    def softmax(self, dim: int = -1) -> Tensor:
        from nncore import functional

        return functional.softmax(self, dim=dim)

    def log_softmax(self, dim: int = -1) -> Tensor:
        from nncore import functional

        return functional.log_softmax(self, dim=dim)


autograd._Tensor = Tensor


class _Cast(autograd.Function):
    def forward(self, a: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.astype(self.in_dtype)


def _axes(dim: Any) -> Any:
    if isinstance(dim, list):
        return tuple(dim)
    return dim


def _plain_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


# ---- factories ---------------------------------------------------------------------------


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new Tensor from array-like ``data`` (float32 unless ``dtype`` says otherwise)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad, dtype)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad, dtype)


def full(shape: Sequence[int], value: float, dtype: Any = np.float32, requires_grad: bool = False
         ) -> Tensor:
    return Tensor(np.full(tuple(shape), value, dtype=dtype), requires_grad, dtype)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(t.data), requires_grad, t.dtype)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(t.data), requires_grad, t.dtype)


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the generator ``nncore.manual_seed`` seeds."""
    from nncore.random import default_generator

    data = default_generator().standard_normal(_shape(shape))
    return Tensor(data, requires_grad, dtype)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the generator ``nncore.manual_seed`` seeds."""
    from nncore.random import default_generator

    return Tensor(default_generator().random(_shape(shape)), requires_grad, dtype)


def randint(low: int, high: int, size: Sequence[int]) -> Tensor:
    from nncore.random import default_generator

    return Tensor(default_generator().integers(low, high, size=tuple(size)))


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    if end is None:
        start, end = 0, start
    data = np.arange(start, end, step)
    return Tensor(data, dtype=dtype)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return basic.CatFn.apply(*tensors, axis=dim)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension."""
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return basic.StackFn.apply(*tensors, axis=dim)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``condition`` else ``b``, differentiable in ``a`` and ``b``."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    like = ta if ta is not None else tb
    if like is None:
        return Tensor(np.where(cond, a, b))
    return basic.WhereFn.apply(like._other(a), like._other(b), condition=cond)
