"""Tensor: one NumPy array plus autograd bookkeeping, with PyTorch's semantics.

The array is ``t.numpy()`` (``t._array`` inside nncore); ``t.data`` is a Tensor sharing it outside
autograd, as in PyTorch. Most methods (``t.exp()``, ``t.sum()``, ``t.gather()``...) are the
namespace functions of the same name, installed by ``nncore._methods``; this file holds the
class itself: construction, conversion, autograd, operators, views and in-place writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from nncore import autograd, dtypes
from nncore import devices as _device
from nncore.ops import basic


class Size(tuple):
    """A tensor's shape: a tuple of ints (PyTorch's ``torch.Size``); prints as a tuple, so
    error messages read ``(3, 4)``."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """The array a new tensor holds, by PyTorch's rules: NumPy arrays and scalars keep their
    dtype, Python floats (and lists of them) become the default dtype, Python ints int64, bools
    bool. May return ``data`` itself; callers that must own their memory copy."""
    if isinstance(data, Tensor):
        arr = data._array
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
            data = [x._array if isinstance(x, Tensor) else x for x in data]
        arr = np.asarray(data)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(dtypes.default_numpy())
        elif dtype is None and arr.dtype.kind == "c" and arr.dtype != np.complex64:
            arr = arr.astype(np.complex64 if dtypes.default_numpy() == np.float32 else arr.dtype)
    if dtype is not None:
        np_dtype = dtypes.to_numpy(dtype)
        if arr.dtype != np_dtype:
            arr = arr.astype(np_dtype)
    elif arr.dtype.kind not in "fiubc" or arr.dtype not in dtypes._BY_NUMPY:
        raise TypeError(f"tensor: cannot make a tensor from data of NumPy dtype {arr.dtype} "
                        f"(supported: {', '.join(d.name for d in dtypes._BY_NUMPY.values())})")
    return arr


class Tensor:
    """An n-dimensional array that records operations for reverse-mode differentiation.

    ``Tensor(data)`` and ``Tensor(*sizes)`` are PyTorch's legacy constructor (the default
    floating dtype, float32); prefer ``nncore.tensor(data)``, which keeps NumPy dtypes.

    Args:
        data: array-like, or integer sizes for a zero-filled tensor.
        dtype: element type (nncore extension; the default dtype otherwise).
        requires_grad: record operations so ``backward`` fills ``.grad`` (nncore extension).
    """

    __slots__ = ("_array", "grad", "requires_grad", "_ctx", "_version", "_hooks", "__weakref__")
    # NOTE: makes ``ndarray + Tensor`` call Tensor.__radd__ instead of NumPy's broadcasting.
    __array_priority__ = 1000

    def __init__(self, *data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        np_dtype = dtypes.default_numpy() if dtype is None else dtypes.to_numpy(dtype)
        if not data:
            arr = np.zeros((0,), dtype=np_dtype)
        elif all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in data):
            arr = np.zeros(_checked_shape("Tensor", data), dtype=np_dtype)
        elif len(data) == 1:
            arr = np.array(as_array(data[0], np_dtype))
        else:
            raise TypeError(f"Tensor: expected array-like data or integer sizes, got {data!r:.80}")
        self._array = arr
        self.grad: Tensor | None = None
        self.requires_grad = False
        self._ctx: autograd.Function | None = None
        self._version = 0
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A constant Tensor around ``data`` as it is (no conversion, no copy)."""
        t = cls.__new__(cls)
        t._array, t.grad, t.requires_grad, t._ctx, t._version = data, None, False, None, 0
        return t

    # ---- NumPy interop and attributes ----
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The underlying array, sharing memory (PyTorch raises for a tensor that requires
        grad unless ``force``; so does this)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self._array.dtype:
            return self._array.astype(dtype)
        return self._array.copy() if copy else self._array

    @property
    def data(self) -> Tensor:
        """A Tensor sharing this one's memory, outside autograd: changes through it are not
        recorded (``p.data.add_(p.grad, alpha=-lr)``)."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value: Any) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self._array = value._array

    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.from_numpy(self._array.dtype)

    @property
    def device(self) -> _device.device:
        return _device.CPU

    is_cuda = False
    is_cpu = True
    is_sparse = False
    is_quantized = False
    is_meta = False

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def itemsize(self) -> int:
        return self._array.itemsize

    @property
    def nbytes(self) -> int:
        return self._array.nbytes

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> autograd.Function | None:
        return self._ctx

    def is_floating_point(self) -> bool:
        return self._array.dtype.kind == "f"

    def is_complex(self) -> bool:
        return self._array.dtype.kind == "c"

    def dim(self) -> int:
        return self._array.ndim

    ndimension = dim

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[_wrap_dim("size", dim, self._array.ndim)]

    def numel(self) -> int:
        return self._array.size

    nelement = numel

    def element_size(self) -> int:
        return self._array.itemsize

    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._array)

    def __iter__(self) -> Any:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def item(self) -> Any:
        if self._array.size != 1:
            raise RuntimeError(f"a Tensor with {self._array.size} elements cannot be converted to "
                               f"Scalar")
        return self._array.item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def _scalar(self, kind: str) -> Any:
        if self._array.size != 1:
            raise RuntimeError(f"{kind}: only one element tensors can be converted to Python "
                               f"scalars, got shape {tuple(self._array.shape)}")
        return self._array.item()

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                               f"(shape {tuple(self._array.shape)})")
        return bool(self._array.item())

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __complex__(self) -> complex:
        return complex(self._scalar("complex"))

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self._array.dtype} and shape "
                            f"{tuple(self._array.shape)}")
        return int(self._array.item())

    def __format__(self, spec: str) -> str:
        if self._array.ndim == 0:
            return self._array.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self) -> str:
        body = np.array2string(self._array, separator=", ", prefix="tensor(")
        extra = ""
        if self._array.dtype not in (dtypes.default_numpy(), np.int64, np.bool_):
            extra += f", dtype={self.dtype!r}"
        if self._ctx is not None:
            extra += f", grad_fn=<{type(self._ctx).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        # NOTE: only reached when normal lookup fails: PyTorch methods nncore lacks raise a clear
        # NotImplementedError (which is also an AttributeError, so hasattr() still answers).
        if name == "_hooks":
            # the slot is left unset on tensors without hooks: the backward walk asks every
            # leaf, and answering here costs no exception
            return None
        from nncore._unsupported import missing

        missing("torch.Tensor", name, "'Tensor' object")

    def __reduce_ex__(self, protocol: Any) -> Any:
        # NOTE: copy.deepcopy and pickling keep the array, requires_grad and nothing of the graph.
        return _rebuild, (type(self), self._array, self.requires_grad)

    # ---- autograd ----
    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on.

        Args:
            gradient: gradient of the final objective w.r.t. this tensor; defaults to 1 for a
                single-element tensor.
            retain_graph: keep what the graph saved, so backward can run through it again.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): higher-order gradients are "
                                      "not supported by nncore")
        if inputs is not None:
            raise NotImplementedError("backward(inputs=...): not supported by nncore; use "
                                      "nncore.autograd.grad")
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        if gradient is None:
            if self._array.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs, got "
                                   f"shape {tuple(self._array.shape)}")
            g = np.ones_like(self._array)
        else:
            g = np.asarray(gradient._array if isinstance(gradient, Tensor) else gradient,
                           dtype=self._array.dtype)
            if g.shape != self._array.shape:
                raise RuntimeError(f"backward: gradient has shape {g.shape}, tensor has "
                                   f"{tuple(self._array.shape)}")
        autograd.backward(self, g, retain_graph=bool(retain_graph))

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self._array)

    def detach_(self) -> Tensor:
        self._ctx, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._array.dtype.kind not in "fc":
            raise RuntimeError(f"only Tensors of floating point and complex dtype can require "
                               f"gradients, got {self.dtype!r}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor after backward."""
        if self._ctx is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        self._ctx.retained = self

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        hooks = self._hook_lists() if self._ctx is None else self._ctx.__dict__.setdefault(
            "grad_hooks", _Hooks())
        return hooks.add(hooks.pre, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(tensor)`` after the gradient was accumulated into this leaf's ``.grad``."""
        if self._ctx is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        hooks = self._hook_lists()
        return hooks.add(hooks.post, hook)

    def _hook_lists(self) -> _Hooks:
        hooks = getattr(self, "_hooks", None)
        if hooks is None:
            hooks = self._hooks = _Hooks()
        return hooks

    # ---- dtype and device conversion ----
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (its dtype) or
        keywords; the CPU is the only device. Returns ``self`` when nothing changes."""
        dtype, copy = parse_to(self, "Tensor.to", args, kwargs)
        out = self if dtype is None else self.type(dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self, memory_format: Any = None) -> Tensor:
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False, **kwargs: Any) -> Tensor:
        _device.check("cuda", "Tensor.cuda")
        return self

    def pin_memory(self, device: Any = None) -> Tensor:
        return self

    def is_pinned(self, device: Any = None) -> bool:
        return False

    def share_memory_(self) -> Tensor:
        return self

    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """Without arguments, the type name (``"torch.FloatTensor"``, as PyTorch prints it);
        with a dtype or a type name, this tensor cast to it."""
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(self._array.dtype, "Tensor")
        if isinstance(dtype, str) and dtype.split(".")[-1] in _NAMED_TYPES:
            dtype = _NAMED_TYPES[dtype.split(".")[-1]]
        np_dtype = dtypes.to_numpy(dtype)
        if np_dtype == self._array.dtype:
            return self
        return basic.CastFn.apply(self, dtype=np_dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.type(other._array.dtype)

    def float(self) -> Tensor:
        return self.type(np.float32)

    def double(self) -> Tensor:
        return self.type(np.float64)

    def half(self) -> Tensor:
        return self.type(np.float16)

    def bfloat16(self) -> Tensor:
        return self.type(dtypes.bfloat16)

    def long(self) -> Tensor:
        return self.type(np.int64)

    def int(self) -> Tensor:
        return self.type(np.int32)

    def short(self) -> Tensor:
        return self.type(np.int16)

    def char(self) -> Tensor:
        return self.type(np.int8)

    def byte(self) -> Tensor:
        return self.type(np.uint8)

    def bool(self) -> Tensor:
        return self.type(np.bool_)

    # ---- operators ----
    def _other(self, x: Any) -> Tensor:
        """``x`` as a Tensor for a binary op with this one: Python scalars take this tensor's
        dtype where PyTorch's promotion gives it (a float scalar with an integer tensor gives
        the default float dtype)."""
        if isinstance(x, Tensor):
            return x
        kind = self._array.dtype.kind
        if isinstance(x, (bool, int, float)):
            if kind in "fc" or (kind in "iu" and not isinstance(x, float)):
                return Tensor._wrap(np.asarray(x, dtype=self._array.dtype))
            if isinstance(x, float):
                return Tensor._wrap(np.asarray(x, dtype=dtypes.default_numpy()))
            return Tensor._wrap(np.asarray(x))
        arr = np.asarray(x)
        if arr.dtype.kind in "fiub" and kind == "f":
            arr = arr.astype(self._array.dtype)
        return Tensor._wrap(arr)

    # NOTE: the arithmetic operators are the namespace functions (``a + b`` is
    # ``nncore.add(a, b)``, with PyTorch's type promotion) and ``@`` is ``nn.functional.matmul``:
    # those modules import this one, so nncore._methods installs the operators once all exist.
    # Declared here for type checkers only.
    if TYPE_CHECKING:
        def __add__(self, o: Any) -> Tensor: ...
        def __radd__(self, o: Any) -> Tensor: ...
        def __sub__(self, o: Any) -> Tensor: ...
        def __rsub__(self, o: Any) -> Tensor: ...
        def __mul__(self, o: Any) -> Tensor: ...
        def __rmul__(self, o: Any) -> Tensor: ...
        def __truediv__(self, o: Any) -> Tensor: ...
        def __rtruediv__(self, o: Any) -> Tensor: ...
        def __floordiv__(self, o: Any) -> Tensor: ...
        def __rfloordiv__(self, o: Any) -> Tensor: ...
        def __mod__(self, o: Any) -> Tensor: ...
        def __rmod__(self, o: Any) -> Tensor: ...
        def __pow__(self, o: Any) -> Tensor: ...
        def __rpow__(self, o: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __matmul__(self, o: Any) -> Tensor: ...
        def __rmatmul__(self, o: Any) -> Tensor: ...

    def __pos__(self) -> Tensor:
        return self

    def _logical(self, o: Any, ufunc: Any) -> Tensor:
        return Tensor._wrap(ufunc(self._array, self._other(o)._array))

    def __and__(self, o: Any) -> Tensor:
        return self._logical(o, np.bitwise_and)

    __rand__ = __and__

    def __or__(self, o: Any) -> Tensor:
        return self._logical(o, np.bitwise_or)

    __ror__ = __or__

    def __xor__(self, o: Any) -> Tensor:
        return self._logical(o, np.bitwise_xor)

    __rxor__ = __xor__

    def __invert__(self) -> Tensor:
        return Tensor._wrap(np.invert(self._array))

    # comparisons: no gradient, bool results
    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._logical(o, np.equal)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._logical(o, np.not_equal)

    def __lt__(self, o: Any) -> Tensor:
        return self._logical(o, np.less)

    def __le__(self, o: Any) -> Tensor:
        return self._logical(o, np.less_equal)

    def __gt__(self, o: Any) -> Tensor:
        return self._logical(o, np.greater)

    def __ge__(self, o: Any) -> Tensor:
        return self._logical(o, np.greater_equal)

    # ---- in place ----
    def _inplace(self, op: str, compute: Callable[[], Tensor]) -> Tensor:
        """Make ``compute()`` (the op on this tensor, out of place) this tensor's value, with
        PyTorch's rules: a leaf that requires grad refuses while grad mode is on; when the
        result needs a gradient this tensor takes over its history (the new array replaces the
        old, which the graph may still need); otherwise the result is written into this
        tensor's memory, where every view sees it."""
        if autograd._grad_enabled and self.requires_grad and self._ctx is None:
            raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an "
                               f"in-place operation.")
        out = compute()
        if out.requires_grad and autograd._grad_enabled:
            arr = out._array
            if arr.shape != self._array.shape:
                raise RuntimeError(f"{op}: output with shape {tuple(self._array.shape)} doesn't "
                                   f"match the broadcast shape {tuple(arr.shape)}")
            if arr.dtype != self._array.dtype:
                _check_cast(op, arr.dtype, self._array.dtype)
                out = basic.CastFn.apply(out, dtype=self._array.dtype)
            self._array, self._ctx, self.requires_grad = out._array, out._ctx, True
            self._version += 1
            return self
        self._write(op, out._array)
        return self

    def _write(self, op: str, value: np.ndarray, casting: str = "same_kind") -> None:
        """Copy ``value`` into this tensor's memory (no gradient), bumping its version."""
        arr = self._array
        if casting == "same_kind":
            _check_cast(op, value.dtype, arr.dtype)
        if not arr.flags.writeable:
            raise RuntimeError(f"{op}: unsupported operation: more than one element of the "
                               f"written-to tensor refers to a single memory location (an "
                               f"expand() view); clone() it first")
        try:
            np.copyto(arr, value, casting="unsafe")
        except ValueError:
            raise RuntimeError(f"{op}: output with shape {tuple(arr.shape)} doesn't match the "
                               f"broadcast shape {tuple(np.shape(value))}") from None
        self._bump()

    def _bump(self) -> None:
        self._version += 1
        ctx = self._ctx
        if ctx is not None and any(isinstance(s, np.ndarray) and np.may_share_memory(
                s, self._array) for s in getattr(ctx, "saved_tensors", ())):
            ctx.output_modified = tuple(self._array.shape)

    # NOTE: the in-place methods (nncore.tensor_ops.inplace) write straight into memory when no
    # gradient is involved (``p -= lr * p.grad`` under no_grad).
    def __iadd__(self, o: Any) -> Tensor:
        return self.add_(o)

    def __isub__(self, o: Any) -> Tensor:
        return self.sub_(o)

    def __imul__(self, o: Any) -> Tensor:
        return self.mul_(o)

    def __itruediv__(self, o: Any) -> Tensor:
        return self.div_(o)

    def __ifloordiv__(self, o: Any) -> Tensor:
        return self.floor_divide_(o)

    def __imod__(self, o: Any) -> Tensor:
        return self.remainder_(o)

    def __ipow__(self, o: Any) -> Tensor:
        return self.pow_(o)

    def __iand__(self, o: Any) -> Tensor:
        return self._inplace("bitwise_and_", lambda: self & o)

    def __ior__(self, o: Any) -> Tensor:
        return self._inplace("bitwise_or_", lambda: self | o)

    def __ixor__(self, o: Any) -> Tensor:
        return self._inplace("bitwise_xor_", lambda: self ^ o)

    def __setitem__(self, index: Any, value: Any) -> None:
        idx = plain_index(index)
        v = value if isinstance(value, Tensor) else None
        if autograd._grad_enabled and (self.requires_grad or (v is not None and v.requires_grad)):
            if v is None:
                v = self._other(value)
            self._inplace("__setitem__", lambda: basic.SetItemFn.apply(self, v, index=idx))
            return
        if self._array.ndim == 0 and idx == ():
            idx = Ellipsis
        try:
            self._array[idx] = value._array if v is not None else value
        except ValueError as e:
            raise RuntimeError(f"__setitem__: cannot assign a value of shape "
                               f"{np.shape(value)} to an index of a tensor of shape "
                               f"{tuple(self._array.shape)}: {e}") from None
        self._bump()

    # ---- views ----
    def __getitem__(self, index: Any) -> Tensor:
        return basic.GetItemFn.apply(self, index=plain_index(index))

    def view(self, *shape: Any) -> Tensor:
        """This tensor with a new shape and the same memory; raises when the memory layout
        cannot give that shape without a copy (use ``reshape``), as PyTorch."""
        if len(shape) == 1 and isinstance(shape[0], (dtypes.dtype, np.dtype, type)):
            return Tensor._wrap(self._array.view(dtypes.to_numpy(shape[0])))
        shape = _shape_arg(shape)
        a = self._array
        if not a.flags.c_contiguous and not _viewable(a, shape):
            raise RuntimeError(f"view size is not compatible with input tensor's size and stride "
                               f"(shape {tuple(a.shape)} -> {shape}; at least one dimension "
                               f"spans across two contiguous subspaces). Use .reshape(...) "
                               f"instead.")
        return basic.ReshapeFn.apply(self, shape=_resolve_shape("view", a, shape))

    def reshape(self, *shape: Any) -> Tensor:
        return basic.ReshapeFn.apply(
            self, shape=_resolve_shape("reshape", self._array, _shape_arg(shape)))

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other._array.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other._array.shape)

    def contiguous(self, memory_format: Any = None) -> Tensor:
        if self._array.flags.c_contiguous:
            return self
        return basic.ContiguousFn.apply(self)

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return bool(self._array.flags.c_contiguous)

    def permute(self, *dims: Any) -> Tensor:
        dims = _shape_arg(dims)
        nd = self._array.ndim
        axes = tuple(_wrap_dim("permute", d, nd) for d in dims)
        if sorted(axes) != list(range(nd)):
            raise RuntimeError(f"permute: dims {dims} are not a permutation of the {nd} "
                               f"dimensions of a tensor of shape {tuple(self._array.shape)}")
        return basic.PermuteFn.apply(self, axes=axes)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        nd = self._array.ndim
        if nd == 0:
            return self
        axes = list(range(nd))
        d0, d1 = _wrap_dim("transpose", dim0, nd), _wrap_dim("transpose", dim1, nd)
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return basic.PermuteFn.apply(self, axes=tuple(axes))

    swapaxes = swapdims = transpose

    def t(self) -> Tensor:
        if self._array.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self._array.ndim}D")
        return self.transpose(0, -1) if self._array.ndim == 2 else self

    @property
    def T(self) -> Tensor:  # noqa: N802
        return basic.PermuteFn.apply(self, axes=tuple(reversed(range(self._array.ndim))))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        return self.transpose(-2, -1)

    def unsqueeze(self, dim: int) -> Tensor:
        shape = list(self._array.shape)
        shape.insert(_wrap_dim("unsqueeze", dim, self._array.ndim + 1), 1)
        return basic.ReshapeFn.apply(self, shape=tuple(shape))

    def squeeze(self, dim: Any = None) -> Tensor:
        shape = self._array.shape
        if dim is None:
            dims = {i for i, n in enumerate(shape) if n == 1}
        else:
            wanted = dim if isinstance(dim, (tuple, list)) else (dim,)
            dims = {d for d in (_wrap_dim("squeeze", w, max(len(shape), 1)) for w in wanted)
                    if d < len(shape) and shape[d] == 1}
        if not dims:
            return self
        new = tuple(n for i, n in enumerate(shape) if i not in dims)
        return basic.ReshapeFn.apply(self, shape=new)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        nd = max(self._array.ndim, 1)
        start, end = _wrap_dim("flatten", start_dim, nd), _wrap_dim("flatten", end_dim, nd)
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self._array.shape
        n = 1
        for d in shape[start:end + 1]:
            n *= d
        return basic.ReshapeFn.apply(self, shape=shape[:start] + (n,) + shape[end + 1:])

    def expand(self, *shape: Any) -> Tensor:
        shape = _shape_arg(shape)
        lead = len(shape) - self._array.ndim
        if lead < 0:
            raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be "
                               f"greater or equal to the number of dimensions in the tensor "
                               f"({self._array.ndim})")
        full = tuple(self._array.shape[i - lead] if n == -1 and i >= lead else n
                     for i, n in enumerate(shape))
        try:
            np.broadcast_shapes(self._array.shape, full)
        except ValueError:
            raise RuntimeError(f"expand: the expanded size {full} is not compatible with the "
                               f"tensor's shape {tuple(self._array.shape)}") from None
        return basic.ExpandFn.apply(self, shape=full)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other._array.shape)

    def clone(self, memory_format: Any = None) -> Tensor:
        return basic.CloneFn.apply(self)


autograd.register_tensor_type(Tensor)


def _rebuild(cls: type, array: np.ndarray, requires_grad: bool) -> Tensor:
    t = cls.__new__(cls)
    t._array, t.grad, t.requires_grad, t._ctx, t._version = array, None, requires_grad, None, 0
    return t


class _Hooks:
    """Hooks of one tensor: ``pre`` run on its gradient, ``post`` after accumulation."""

    def __init__(self) -> None:
        self.pre: list[Callable] = []
        self.post: list[Callable] = []

    def add(self, where: list, hook: Callable) -> Any:
        where.append(hook)
        return _HookHandle(where, hook)

    def __bool__(self) -> bool:
        return bool(self.pre or self.post)


class _HookHandle:
    def __init__(self, where: list, hook: Callable) -> None:
        self._where, self._hook = where, hook

    def remove(self) -> None:
        if self._hook in self._where:
            self._where.remove(self._hook)


_TYPE_NAMES = {
    np.dtype(np.float32): "FloatTensor", np.dtype(np.float64): "DoubleTensor",
    np.dtype(np.float16): "HalfTensor", np.dtype(np.int64): "LongTensor",
    np.dtype(np.int32): "IntTensor", np.dtype(np.int16): "ShortTensor",
    np.dtype(np.int8): "CharTensor", np.dtype(np.uint8): "ByteTensor",
    np.dtype(np.bool_): "BoolTensor",
}
_NAMED_TYPES = {name: dt for dt, name in _TYPE_NAMES.items()}


def parse_to(obj: Any, op: str, args: tuple, kwargs: dict) -> tuple[Any, bool]:
    """(dtype or None, copy) from the arguments of ``Tensor.to`` / ``Module.to``; any device
    but the CPU raises."""
    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{op}: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a._array.dtype
        elif isinstance(a, (dtypes.dtype, np.dtype)) or (isinstance(a, type) and issubclass(
                a, np.generic)):
            dtype = a
        elif isinstance(a, (str, _device.device, int)) and not isinstance(a, bool):
            dev = a
        elif isinstance(a, bool):
            continue  # non_blocking / copy given positionally
        else:
            raise TypeError(f"{op}: expected a dtype, a device or a tensor, got {a!r:.80}")
    _device.check(dev, op)
    return dtype, copy


def _check_cast(op: str, src: np.dtype, dst: np.dtype) -> None:
    if not np.can_cast(src, dst, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {dtypes.from_numpy(src)!r} can't be cast to the "
                           f"desired output type {dtypes.from_numpy(dst)!r}")


def _wrap_dim(op: str, dim: Any, ndim: int) -> int:
    """``dim`` in [0, ndim), counting negatives from the end (a 0-d tensor has dims 0 and -1)."""
    try:
        d = int(dim.__index__())
    except AttributeError:
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}") from None
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, "
                         f"{n - 1}], but got {d})")
    return d % n


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = tuple(shape[0])
    return tuple(map(int, shape))


def _checked_shape(op: str, shape: Any) -> tuple[int, ...]:
    dims = tuple(int(s) for s in shape)
    if any(d < 0 for d in dims):
        raise RuntimeError(f"{op}: Trying to create tensor with negative dimension: {dims}")
    return dims


def _resolve_shape(op: str, a: np.ndarray, shape: tuple) -> tuple:
    """``shape`` with one -1 inferred; raises as PyTorch when it cannot hold ``a``'s elements."""
    known = 1
    free = []
    for i, n in enumerate(shape):
        if n == -1:
            free.append(i)
        elif n < 0:
            raise RuntimeError(f"{op}: invalid shape dimension {n} in {shape}")
        else:
            known *= n
    if free:
        if len(free) > 1:
            raise RuntimeError(f"{op}: only one dimension can be inferred, got shape {shape}")
        if known == 0 or a.size % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size "
                               f"{a.size}")
        shape = shape[:free[0]] + (a.size // known,) + shape[free[0] + 1:]
    elif known != a.size:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {a.size}")
    return shape


def _viewable(a: np.ndarray, shape: tuple) -> bool:
    try:
        np.reshape(a, _resolve_shape("view", a, shape), copy=False)
    except ValueError:
        return False
    except TypeError:  # NumPy < 2.1: no copy= argument
        v = a.view()
        try:
            v.shape = _resolve_shape("view", a, shape)
        except AttributeError:
            return False
    return True


def _index_int(i: Any) -> Any:
    # NOTE: NumPy raises OverflowError for an int index outside int64; PyTorch a ValueError.
    if type(i) is int and not -2**63 <= i < 2**63:
        raise ValueError(f"index {i}: Overflow when unpacking long long")
    return i


def plain_index(index: Any) -> Any:
    """An index with Tensors replaced by their arrays, ready for NumPy."""
    if isinstance(index, Tensor):
        return index._array
    if type(index) is int:
        return _index_int(index)
    if isinstance(index, tuple):
        return tuple(i._array if isinstance(i, Tensor) else _index_int(i) for i in index)
    if isinstance(index, list) and any(isinstance(i, Tensor) for i in index):
        return [i._array if isinstance(i, Tensor) else i for i in index]
    return index
