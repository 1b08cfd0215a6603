"""Selection by index and condition (``gather``, ``scatter``, ``index_select``, ``masked_fill``,
``where``, ``nonzero``, ``unique``...), with PyTorch's index checks and errors.

Differentiable where PyTorch is (``ops.indexing``); index arguments are int tensors (or NumPy
arrays) and never receive gradients. The in-place methods (``scatter_``, ``masked_fill_``...) go
through ``Tensor._inplace``, which applies PyTorch's in-place rules.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nncore.ops import basic
from nncore.ops import indexing as ops
from nncore.tensor import Tensor, _wrap_dim

__all__ = [
    "argwhere", "bincount", "bucketize", "gather", "index_add", "index_copy", "index_fill",
    "index_select", "masked_fill", "masked_scatter", "masked_select", "nonzero", "scatter",
    "scatter_add", "scatter_reduce", "searchsorted", "take", "take_along_dim", "unique",
    "unique_consecutive", "where",
]
METHODS = (
    "argwhere", "bincount", "gather", "index_add", "index_add_", "index_copy", "index_copy_",
    "index_fill", "index_fill_", "index_select", "masked_fill", "masked_fill_",
    "masked_scatter", "masked_scatter_", "masked_select", "nonzero", "scatter", "scatter_",
    "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_", "take",
    "take_along_dim", "unique", "unique_consecutive",
)


def _index(op: str, index: Any, kinds: str = "int32/int64") -> np.ndarray:
    """The int32/int64 array of an index argument (a Tensor or NumPy array)."""
    if isinstance(index, Tensor):
        arr = index._array
    elif isinstance(index, np.ndarray):
        arr = index
    else:
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if arr.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"{op}(): Expected dtype {kinds} for index, got {arr.dtype}")
    return arr


def _out_of_bounds(op: str, idx: np.ndarray, n: int, dim: int, error: type = RuntimeError,
                   negative_ok: bool = False) -> np.ndarray:
    """idx checked against a dimension of size n (negatives wrapped when allowed), as int64."""
    if not idx.size:
        return idx.astype(np.int64, copy=False)
    lo = -n if negative_ok else 0
    low, high = idx.min(), idx.max()
    if low < lo or high >= n:
        bad = int(idx[(idx < lo) | (idx >= n)].flat[0])
        raise error(f"{op}: index {bad} is out of bounds for dimension {dim} with size {n}")
    idx = idx.astype(np.int64, copy=False)
    return idx + (idx < 0) * n if negative_ok and low < 0 else idx


def _along_dim(op: str, input: Tensor, dim: int, index: Any) -> tuple[int, np.ndarray]:
    """(dim, index) checked as gather/scatter need: same rank, no larger than input off dim."""
    idx = _index(op, index)
    shape = tuple(input.shape) or (1,)
    if idx.ndim != max(input.ndim, 1) and not (input.ndim == 0 and idx.ndim == 0):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"input tensor ({idx.ndim} vs {input.ndim})")
    idx = idx.reshape(-1) if idx.ndim == 0 else idx
    d = _wrap_dim(op, dim, input.ndim)
    for axis, (m, n) in enumerate(zip(idx.shape, shape)):
        if axis != d and m > n:
            raise RuntimeError(f"{op}(): Size does not match at dimension {axis} expected index "
                               f"{list(idx.shape)} to be no larger than self {list(shape)} "
                               f"apart from dimension {d}")
    return d, _out_of_bounds(op, idx, shape[d], d)


def gather(input: Tensor, dim: int, index: Any, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` (dim 1): values picked along ``dim``.

    Args:
        input: the source tensor.
        dim: the dimension to pick along.
        index: int64/int32 tensor of input's rank, no larger than input off ``dim``.
    Returns:
        A tensor of index's shape (repeated indices sum their gradients).
    """
    d, idx = _along_dim("gather", input, dim, index)
    lin = ops.linear_index(tuple(input.shape) or (1,), idx, d)
    out = ops.GatherFn.apply(input, lin=lin)
    return out.reshape(()) if input.ndim == 0 else out


def take_along_dim(input: Tensor, indices: Any, dim: int | None = None) -> Tensor:
    """Values at ``indices`` along ``dim`` with input and indices broadcast off that dim
    (negative indices count from the end); dim None: of the flattened input."""
    idx = _index("take_along_dim", indices)
    if dim is None:
        n = input.numel()
        flat = _out_of_bounds("take_along_dim", idx.reshape(-1), n, 0, negative_ok=True)
        return ops.GatherFn.apply(input, lin=flat)
    d = _wrap_dim("take_along_dim", dim, input.ndim)
    if idx.ndim != input.ndim:
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number of "
                           f"dimensions, but got {input.ndim} dimensions for input, and "
                           f"{idx.ndim} dimensions for indices")
    a_shape, i_shape = list(input.shape), list(idx.shape)
    a_shape[d] = i_shape[d] = 1
    try:
        common = np.broadcast_shapes(tuple(a_shape), tuple(i_shape))
    except ValueError:
        raise RuntimeError(f"take_along_dim(): input {tuple(input.shape)} and indices "
                           f"{idx.shape} do not broadcast off dimension {d}") from None
    n = input.shape[d]
    src = input.expand(common[:d] + (n,) + common[d + 1:]) if input.ndim else input
    idx = np.broadcast_to(idx, common[:d] + (idx.shape[d],) + common[d + 1:])
    idx = _out_of_bounds("take_along_dim", idx, n, d, negative_ok=True)
    return ops.GatherFn.apply(src, lin=ops.linear_index(tuple(src.shape), idx, d))


def take(input: Tensor, index: Any) -> Tensor:
    """Elements of the flattened input at ``index`` (negative counts from the end), in
    index's shape."""
    idx = _index("take", index, "int64")
    n = input.numel()
    if idx.size and ((idx < -n) | (idx >= n)).any():
        bad = int(idx[(idx < -n) | (idx >= n)].flat[0])
        raise IndexError(f"take: out of range: tried to access index {bad} on a tensor of {n} "
                         f"elements.")
    lin = np.where(idx < 0, idx + n, idx).astype(np.int64)
    return ops.GatherFn.apply(input, lin=lin)


# ---- scatter -----------------------------------------------------------------------------


def _scatter(op: str, input: Tensor, dim: int, index: Any, src: Any, value: Any,
             **kw: Any) -> Tensor:
    d, idx = _along_dim(op, input, dim, index)
    shape = tuple(input.shape) or (1,)
    if isinstance(src, Tensor):
        if src._array.dtype != input._array.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (got "
                               f"{input.dtype} and {src.dtype})")
        s_shape = tuple(src.shape) or (1,)
        if any(m > n for m, n in zip(idx.shape, s_shape)) or len(s_shape) != idx.ndim:
            raise RuntimeError(f"{op}(): Expected index {list(idx.shape)} to be no larger than "
                               f"self {list(shape)} apart from dimension {d} and to be no "
                               f"larger size than src {list(s_shape)}")
        src_t = src.reshape(1) if src.ndim == 0 else src
    else:
        src_t, value = None, src if value is None else value
        if isinstance(value, Tensor):
            value = value.item()
    lin = ops.linear_index(shape, idx, d)
    x = input.reshape(1) if input.ndim == 0 else input
    args = (x,) if src_t is None else (x, src_t)
    out = ops.ScatterFn.apply(*args, lin=lin, value=value, **kw)
    return out.reshape(()) if input.ndim == 0 else out


_OLD_REDUCE = {"add": "sum", "multiply": "prod"}


def scatter(input: Tensor, dim: int, index: Any, src: Any = None, value: Any = None, *,
            reduce: str | None = None) -> Tensor:
    """A copy of input with ``src``'s values (or the number ``value``) written at ``index``
    along ``dim``: ``out[i][index[i][j]] = src[i][j]`` (dim 1). With ``reduce`` ('add' or
    'multiply', deprecated by PyTorch) the values are combined instead, without a gradient.

    Args:
        input: the tensor to copy.
        dim: the dimension to index.
        index: int64/int32 tensor of input's rank (no larger than input off dim, nor than src).
        src: a tensor of values (its leading block of index's shape is used) or a number.
        value: a number (when src is not given).
        reduce: None, 'add' or 'multiply'.
    Returns:
        A new tensor of input's shape.
    """
    if src is None and value is None:
        raise TypeError("scatter(): expected a src tensor or a value")
    if reduce is None:
        return _scatter("scatter", input, dim, index, src, value)
    if reduce not in _OLD_REDUCE:
        raise RuntimeError("scatter(): reduce argument must be either add or multiply.")
    if isinstance(src, Tensor):
        warnings.warn("The reduce argument of torch.scatter with Tensor src is deprecated and "
                      "will be removed in a future PyTorch release. Use torch.scatter_reduce "
                      "instead for more reduction options.", UserWarning, stacklevel=2)
    return _scatter("scatter", input, dim, index, src, value, reduce=_OLD_REDUCE[reduce],
                    differentiable=False)


def scatter_add(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """A copy of input with src's values added at ``index`` along ``dim`` (repeats sum)."""
    return _scatter("scatter_add", input, dim, index, src, None, reduce="sum")


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input: Tensor, dim: int, index: Any, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """A copy of input with src's values combined at ``index`` along ``dim`` by ``reduce``
    ('sum', 'prod', 'mean', 'amax', 'amin'); with ``include_self`` False a target's own value
    takes no part. Differentiable for every reduction (amax/amin share the gradient among
    ties, as PyTorch)."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' must be Tensor, not "
                        f"{type(src).__name__}")
    return _scatter("scatter_reduce", input, dim, index, src, None, reduce=reduce,
                    include_self=bool(include_self))


# ---- index_* -----------------------------------------------------------------------------


def _vector_index(op: str, input: Tensor, dim: int, index: Any, error: type = IndexError,
                  negative_ok: bool = False) -> tuple[int, np.ndarray]:
    idx = _index(op, index, "int32 or int64")
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    d = _wrap_dim(op, dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    return d, _out_of_bounds(f"{op}()", idx.reshape(-1), n, d, error, negative_ok)


def index_select(input: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of input at ``index`` (1-D) along ``dim``."""
    try:
        d, idx = _vector_index("index_select", input, dim, index)
    except IndexError as e:
        if "out of bounds" not in str(e):
            raise
        raise IndexError(f"index_select(): index out of range in self ({e})") from None
    if input.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got "
                               f"{idx.size} value(s)")
        return input.clone()
    return ops.IndexSelectFn.apply(input, axis=d, index=idx)


def _source_check(op: str, input: Tensor, d: int, idx: np.ndarray, source: Tensor) -> None:
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
    want = list(input.shape)
    got = list(source.shape)
    if input.ndim and (len(got) != len(want) or any(
            g != w for i, (g, w) in enumerate(zip(got, want)) if i != d)):
        raise RuntimeError(f"{op}(): source tensor shape must match self tensor shape, excluding "
                           f"the specified dimension. Got self.shape = {want} source.shape = "
                           f"{got}")
    if input.ndim and got[d] != idx.size:
        raise RuntimeError(f"{op}(): Number of indices ({idx.size}) should be equal to "
                           f"source.size(dim): ({got[d]}), for dim: {d}")
    if source._array.dtype != input._array.dtype:
        raise RuntimeError(f"{op}(): self ({input.dtype}) and source ({source.dtype}) must have "
                           f"the same scalar type")


def index_add(input: Tensor, dim: int, index: Any, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """A copy of input with ``alpha * source`` added at ``index`` along ``dim`` (repeats sum)."""
    d, idx = _vector_index("index_add", input, dim, index, RuntimeError)
    _source_check("index_add", input, d, idx, source)
    if input.ndim == 0:
        return input + source.reshape(()) * alpha
    return ops.IndexAddFn.apply(input, source, axis=d, index=idx, alpha=alpha)


def index_copy(input: Tensor, dim: int, index: Any, source: Tensor) -> Tensor:
    """A copy of input with source's slices written at ``index`` along ``dim``."""
    d, idx = _vector_index("index_copy", input, dim, index)
    _source_check("index_copy", input, d, idx, source)
    if input.ndim == 0:
        return source.reshape(()).clone()
    return ops.IndexCopyFn.apply(input, source, axis=d, index=idx)


def _fill_value(op: str, value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"{op} only supports a 0-dimensional value tensor, but got tensor "
                               f"with {value.ndim} dimension(s).")
        return value
    return None


def index_fill(input: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """A copy of input with the slices at ``index`` along ``dim`` set to ``value`` (a number or
    a 0-d tensor, which then gets the gradient of the filled elements)."""
    d, idx = _vector_index("index_fill", input, dim, index, negative_ok=True)
    where = (slice(None),) * d + (idx,) if input.ndim else ...
    vt = _fill_value("index_fill_", value)
    if vt is None:
        return ops.FillFn.apply(input, where=where, value=value)
    return ops.FillFn.apply(input, vt.type(input._array.dtype), where=where)


# ---- masks -------------------------------------------------------------------------------


def _mask(op: str, mask: Any) -> np.ndarray:
    arr = mask._array if isinstance(mask, Tensor) else np.asarray(mask)
    if arr.dtype != np.bool_:
        if op.startswith("masked_fill"):  # PyTorch's wording differs between the two
            raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with "
                               f"dtype {arr.dtype}")
        raise RuntimeError(f"{op}: expected BoolTensor for mask (only boolean masks are "
                           f"supported), but got mask with dtype {arr.dtype}")
    return arr


def _broadcast(op: str, a: tuple, b: tuple) -> tuple:
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise RuntimeError(f"{op}: the shape of the mask {b} must be broadcastable with the "
                           f"shape of the input {a}") from None


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:
    """input with ``value`` where ``mask`` (bool, broadcasting) holds; the result has the
    broadcast shape and input's dtype. A 0-d tensor value receives the masked gradient."""
    m = _mask("masked_fill", mask)
    _broadcast("masked_fill", tuple(input.shape), m.shape)
    vt = _fill_value("masked_fill_", value)
    if vt is None:
        return ops.FillFn.apply(input, where=m, value=value, mask=True)
    return ops.FillFn.apply(input, vt.type(input._array.dtype), where=m, mask=True)


def masked_select(input: Tensor, mask: Any) -> Tensor:
    """The elements of input where ``mask`` holds (both broadcast), as a 1-D tensor."""
    m = _mask("masked_select", mask)
    shape = _broadcast("masked_select", tuple(input.shape), m.shape)
    return ops.MaskedSelectFn.apply(input, mask=np.broadcast_to(m, shape))


def masked_scatter(input: Tensor, mask: Any, source: Tensor) -> Tensor:
    """input with source's elements, in order, written where ``mask`` holds."""
    m = _mask("masked_scatter", mask)
    shape = _broadcast("masked_scatter", tuple(input.shape), m.shape)
    if source._array.dtype != input._array.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but "
                           f"got {input.dtype} and {source.dtype}")
    m = np.broadcast_to(m, shape)
    if source.numel() < int(m.sum()):
        raise RuntimeError("masked_scatter: Number of elements of source < number of ones in "
                           "mask")
    return ops.MaskedScatterFn.apply(input, source, mask=m)


# ---- in-place methods --------------------------------------------------------------------


# NOTE: each in-place method is its out-of-place function made this tensor's value by
# Tensor._inplace (PyTorch's rules: a leaf requiring grad refuses, autograd takes the history).


def scatter_(input: Tensor, dim: int, index: Any, src: Any = None, value: Any = None, *,
             reduce: str | None = None) -> Tensor:
    """In-place ``scatter``."""
    return input._inplace("scatter_", lambda: scatter(input, dim, index, src, value,
                                                      reduce=reduce))


def scatter_add_(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """In-place ``scatter_add``."""
    return input._inplace("scatter_add_", lambda: scatter_add(input, dim, index, src))


def scatter_reduce_(input: Tensor, dim: int, index: Any, src: Tensor, reduce: str, *,
                    include_self: bool = True) -> Tensor:
    """In-place ``scatter_reduce``."""
    return input._inplace("scatter_reduce_", lambda: scatter_reduce(
        input, dim, index, src, reduce, include_self=include_self))


def index_add_(input: Tensor, dim: int, index: Any, source: Tensor, *, alpha: Any = 1
               ) -> Tensor:
    """In-place ``index_add``."""
    return input._inplace("index_add_", lambda: index_add(input, dim, index, source,
                                                          alpha=alpha))


def index_copy_(input: Tensor, dim: int, index: Any, source: Tensor) -> Tensor:
    """In-place ``index_copy``."""
    return input._inplace("index_copy_", lambda: index_copy(input, dim, index, source))


def index_fill_(input: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """In-place ``index_fill``."""
    return input._inplace("index_fill_", lambda: index_fill(input, dim, index, value))


def masked_fill_(input: Tensor, mask: Any, value: Any) -> Tensor:
    """In-place ``masked_fill``."""
    return input._inplace("masked_fill_", lambda: masked_fill(input, mask, value))


def masked_scatter_(input: Tensor, mask: Any, source: Tensor) -> Tensor:
    """In-place ``masked_scatter``."""
    return input._inplace("masked_scatter_", lambda: masked_scatter(input, mask, source))


# ---- conditions, searching and counting (no gradients) ----------------------------------


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """Elementwise ``input`` where ``condition`` else ``other``, differentiable in both; with the
    condition alone, the indices where it holds (one int64 tensor per dimension)."""
    cond = condition._array if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return nonzero(Tensor._wrap(cond), as_tuple=True)
    ta = input if isinstance(input, Tensor) else None
    tb = other if isinstance(other, Tensor) else None
    like = ta if ta is not None else tb
    if like is None:
        return Tensor._wrap(np.where(cond, input, other))
    return basic.WhereFn.apply(like._other(input), like._other(other), condition=cond)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or with ``as_tuple`` one
    1-D tensor per dimension (a 0-d input counts as 1-D)."""
    a = input._array
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(a)))
    if a.ndim == 0:
        return Tensor._wrap(np.zeros((int(a != 0), 0), dtype=np.int64))
    return Tensor._wrap(np.argwhere(a).astype(np.int64))


def argwhere(input: Tensor) -> Tensor:
    """``nonzero(input)``: the (n, ndim) indices of the non-zero elements."""
    return nonzero(input)


def searchsorted(sorted_sequence: Tensor, input: Any, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None, sorter: Any = None) -> Tensor:
    """Insertion indices of ``input`` into the innermost dimension of ``sorted_sequence`` (1-D,
    or with the same leading dimensions as input); ``right``/``side='right'`` puts equal values
    after their match."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                               "got side of left while right was True")
        right = side == "right"
    seq = sorted_sequence._array
    vals = input._array if isinstance(input, Tensor) else np.asarray(input)
    if sorter is not None:
        seq = np.take_along_axis(seq, _index("searchsorted", sorter, "int64"), axis=-1)
    how = "right" if right else "left"
    if seq.ndim == 1:
        out = np.searchsorted(seq, vals, side=how)
    elif vals.ndim and seq.shape[:-1] == vals.shape[:-1]:
        s2, v2 = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
        out = np.stack([np.searchsorted(s, v, side=how) for s, v in zip(s2, v2)]).reshape(
            vals.shape)
    else:
        raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or "
                           f"the first N-1 dimensions of boundaries tensor and input value "
                           f"tensor must match, but we got boundaries tensor {list(seq.shape)} "
                           f"and input value tensor {list(vals.shape)}")
    return Tensor._wrap(np.asarray(out, dtype=np.int32 if out_int32 else np.int64))


def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False, right: bool = False
              ) -> Tensor:
    """The bucket of each value: i with ``boundaries[i-1] < x <= boundaries[i]`` (``right``:
    ``boundaries[i-1] <= x < boundaries[i]``)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def _unique_result(values: np.ndarray, inverse: np.ndarray | None, counts: np.ndarray | None,
                   return_inverse: bool, return_counts: bool) -> Any:
    out = [Tensor._wrap(values)]
    if return_inverse:
        out.append(Tensor._wrap(inverse.astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct elements (or slices along ``dim``), sorted; optionally each element's
    position in them (``return_inverse``, input's shape) and their counts. NaNs stay distinct,
    as PyTorch."""
    a = input._array
    if dim is None:
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True,
                                            equal_nan=False)
        inverse = inverse.reshape(a.shape)
    else:
        d = _wrap_dim("unique", dim, a.ndim)
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    return _unique_result(values, inverse, counts, return_inverse, return_counts)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    """Runs of equal consecutive elements (or slices along ``dim``) collapsed to one."""
    a = input._array
    if dim is None:
        flat = a.reshape(-1)
        change = np.concatenate(([True], flat[1:] != flat[:-1])) if flat.size else flat.astype(
            bool)
        values = flat[change]
    else:
        d = _wrap_dim("unique_consecutive", dim, a.ndim)
        moved = np.moveaxis(a, d, 0).reshape(a.shape[d], -1)
        change = np.concatenate(([True], (moved[1:] != moved[:-1]).any(axis=1))) if len(
            moved) else np.zeros(0, bool)
        values = np.compress(change, a, axis=d)
    inverse = np.cumsum(change) - 1
    counts = np.diff(np.append(np.flatnonzero(change), change.size))
    if dim is None:
        inverse = inverse.reshape(a.shape)
    return _unique_result(values, inverse, counts, return_inverse, return_counts)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each non-negative integer in a 1-D tensor (length max + 1, at least
    ``minlength``); with ``weights``, their sums (float weights keep their dtype, others give
    float64)."""
    a = input._array
    if a.dtype.kind == "f":
        raise NotImplementedError(f'"bincount_cpu" not implemented for \'{input.dtype}\'')
    if a.ndim != 1 or a.dtype.kind not in "iub" or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    if weights is None:
        return Tensor._wrap(np.bincount(a, minlength=minlength).astype(np.int64))
    w = weights._array
    if w.shape != a.shape:
        raise RuntimeError("bincount: weights should be 1-d and have the same length as input")
    out = np.bincount(a, weights=w, minlength=minlength)
    return Tensor._wrap(out.astype(w.dtype if w.dtype.kind == "f" else np.float64))
