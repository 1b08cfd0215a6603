"""Joining, splitting and rearranging (``nncore.cat``, ``split``, ``flip``, ``tril``...).

Views (``split``, ``narrow``, ``diagonal``, ``broadcast_to``...) share memory with their input,
as PyTorch's; ``flip``, ``roll``, ``repeat`` and ``tile`` copy. Splits hang every piece from one
node (``ops.shape.SplitFn``) so a loop over thousands of pieces stays linear in backward.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import autograd
from nncore.ops import basic
from nncore.ops import shape as ops
from nncore.tensor import Size, Tensor, _wrap_dim

__all__ = [
    "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_shapes", "broadcast_tensors",
    "broadcast_to", "cat", "chunk", "column_stack", "concat", "concatenate", "diag",
    "diag_embed", "diagonal", "dstack", "flatten", "flip", "fliplr", "flipud", "hstack",
    "meshgrid", "moveaxis", "movedim", "narrow", "permute", "ravel", "repeat_interleave",
    "reshape", "roll", "row_stack", "select", "split", "squeeze", "stack", "swapaxes",
    "swapdims", "t", "tensor_split", "tile", "trace", "transpose", "tril", "triu", "unbind",
    "unflatten", "unsqueeze", "vstack",
]
# NOTE: view/reshape/permute/transpose/expand/squeeze/unsqueeze/flatten/t are methods of the
# class (tensor.py, varargs signatures); the functions here call them.
METHODS = (
    "broadcast_to", "chunk", "diag", "diag_embed", "diagonal", "flip", "fliplr", "flipud",
    "moveaxis", "movedim", "narrow", "ravel", "repeat", "repeat_interleave", "roll", "select",
    "split", "tensor_split", "tile", "trace", "tril", "triu", "unbind", "unflatten",
)


def _tensors(op: str, tensors: Sequence[Tensor]) -> Sequence[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a sequence of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    return tensors


def _promoted(tensors: Sequence[Tensor]) -> Sequence[Tensor]:
    """The tensors in one dtype by PyTorch's promotion (floats over integers over bool; the
    widest of the leading kind), where NumPy would widen int64 + float32 to float64."""
    kinds = {t._array.dtype for t in tensors}
    if len(kinds) == 1:
        return tensors
    floats = [d for d in kinds if d.kind in "fc"]
    ints = [d for d in kinds if d.kind in "iu"]
    target = np.result_type(*floats) if floats else np.result_type(*ints) if ints else np.bool_
    return [t.type(target) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension (dtypes promoted as PyTorch)."""
    tensors = _promoted(_tensors("cat", tensors))
    return basic.CatFn.apply(*tensors, axis=_wrap_dim("cat", dim, tensors[0].ndim))


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension."""
    tensors = _promoted(_tensors("stack", tensors))
    return basic.StackFn.apply(*tensors, axis=_wrap_dim("stack", dim, tensors[0].ndim + 1))


# ---- splitting ---------------------------------------------------------------------------


def _pieces(input: Tensor, indices: list) -> tuple[Tensor, ...]:
    """input[index] for each basic index: plain views when no graph is recorded, else pieces
    of one SplitFn node (GetItemFn while an ONNX export traces, which knows that op)."""
    if autograd._tracer is not None:
        return tuple(basic.GetItemFn.apply(input, index=ix) for ix in indices)
    if not (autograd._grad_enabled and input.requires_grad):
        a = input._array
        return tuple(Tensor._wrap(a[ix]) for ix in indices)
    hub = ops.SplitFn.apply(input)
    node = hub._ctx
    return tuple(ops.SplitPieceFn.apply(hub, index=ix, split=node) for ix in indices)


def _slices(input: Tensor, dim: int, bounds: list) -> tuple[Tensor, ...]:
    lead = (slice(None),) * dim
    return _pieces(input, [lead + (slice(s, e),) for s, e in bounds])


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the listed sizes.

    Args:
        tensor: the tensor to split (pieces are views of it).
        split_size_or_sections: an int piece size, or a list of sizes summing to the dim size.
        dim: the dimension to split.
    Returns:
        A tuple of tensors.
    """
    d = _wrap_dim("split", dim, tensor.ndim)
    n = tensor.shape[d] if tensor.ndim else 1
    sizes = split_size_or_sections
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        size = int(sizes)
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={size}")
        if size == 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {n}")
        bounds = [(s, min(s + size, n)) for s in range(0, n, size)] if n else [(0, 0)]
        return _slices(tensor, d, bounds)
    sizes = [int(s) for s in sizes]
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative "
                           f"entries, but got split_sizes={sizes}")
    if sum(sizes) != n:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                           f"tensor's size at dimension {d}), but got split_sizes={sizes}")
    ends = np.cumsum([0] + sizes).tolist()
    return _slices(tensor, d, list(zip(ends[:-1], ends[1:])))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Up to ``chunks`` pieces of ceil(size / chunks) along ``dim`` (fewer when they run out)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _wrap_dim("chunk", dim, input.ndim)
    n = input.shape[d]
    if n == 0:
        return _slices(input, d, [(0, 0)] * chunks)
    return split(input, -(-n // chunks), d)


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``sections`` near-equal pieces (the first n % sections one longer), or the pieces
    between the given indices (clipped to the size, as Python slicing)."""
    d = _wrap_dim("tensor_split", dim, input.ndim)
    n = input.shape[d]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        spec = spec.tolist()
    if isinstance(spec, (int, np.integer)):
        if spec <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got "
                               f"{spec}")
        sizes = [n // spec + (i < n % spec) for i in range(spec)]
        ends = np.cumsum([0] + sizes).tolist()
        return _slices(input, d, list(zip(ends[:-1], ends[1:])))
    cuts = [min(max(int(i) + (n if i < 0 else 0), 0), n) for i in spec]
    starts = [0] + cuts
    ends = cuts + [n]
    return _slices(input, d, [(s, max(s, e)) for s, e in zip(starts, ends)])


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each without that dimension."""
    d = _wrap_dim("unbind", dim, input.ndim)
    lead = (slice(None),) * d
    # NOTE: the Ellipsis makes NumPy return a 0-d view for a 1-D input, not a scalar copy.
    return _pieces(input, [lead + (i, Ellipsis) for i in range(input.shape[d])])


def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """``length`` elements from ``start`` (negative counts from the end) along ``dim``: a view."""
    d = _wrap_dim("narrow", dim, input.ndim)
    n = input.shape[d]
    start = int(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], "
                         f"but got {start})")
    start += n if start < 0 else 0
    if length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return basic.GetItemFn.apply(input, index=(slice(None),) * d + (slice(start, start + length),))


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, without that dimension: a view."""
    d = _wrap_dim("select", dim, input.ndim)
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return basic.GetItemFn.apply(input, index=(slice(None),) * d + (int(index) % n, Ellipsis))


# ---- reordering and repeating --------------------------------------------------------------


def _dims(op: str, dims: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    out = tuple(_wrap_dim(op, d, ndim) for d in dims)
    for d in out:
        if out.count(d) > 1:
            raise RuntimeError(f"{op}: dim {d} appears multiple times in the list of dims")
    return out


def _varargs(args: tuple, kw: Any) -> Any:
    """dims given as f(t, (0, 1)), f(t, 0, 1) (the method form) or f(t, dims=(0, 1))."""
    if kw is not None:
        return kw
    return args[0] if len(args) == 1 else args


def flip(input: Tensor, *args: Any, dims: Any = None) -> Tensor:
    """A copy reversed along ``dims`` (``flip(t, (0, 1))``, ``t.flip(0, 1)``)."""
    axes = _dims("flip", _varargs(args, dims), input.ndim)
    if not axes or input.ndim == 0:
        return input.clone()
    return ops.FlipFn.apply(input, axes=axes)


def fliplr(input: Tensor) -> Tensor:
    """Reversed along dimension 1 (columns)."""
    if input.ndim < 2:
        raise RuntimeError("fliplr: Input must be >= 2-d.")
    return ops.FlipFn.apply(input, axes=(1,))


def flipud(input: Tensor) -> Tensor:
    """Reversed along dimension 0 (rows)."""
    if input.ndim < 1:
        raise RuntimeError("flipud: Input must be >= 1-d.")
    return ops.FlipFn.apply(input, axes=(0,))


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Elements shifted cyclically by ``shifts`` along ``dims`` (None: the flattened tensor,
    shape kept)."""
    shift_list = [int(shifts)] if isinstance(shifts, (int, np.integer)) else [int(s) for s in
                                                                               shifts]
    if dims is None:
        if len(shift_list) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: "
                               f"{len(shift_list)}, dims:0")
        return ops.RollFn.apply(input, shifts=shift_list[0], axes=None)
    dim_list = [dims] if isinstance(dims, (int, np.integer)) else list(dims)
    if len(dim_list) != len(shift_list):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shift_list)}, "
                           f"dims:{len(dim_list)}")
    axes = tuple(_wrap_dim("roll", d, input.ndim) for d in dim_list)
    if input.ndim == 0:
        return input.clone()
    return ops.RollFn.apply(input, shifts=tuple(shift_list), axes=axes)


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """``Tensor.repeat``: the tensor tiled ``sizes[i]`` times along each dimension (sizes may
    add leading dimensions)."""
    reps = tuple(int(s) for s in (sizes[0] if len(sizes) == 1 and isinstance(
        sizes[0], (tuple, list, Size)) else sizes))
    if len(reps) < input.ndim:
        raise RuntimeError("repeat: Number of dimensions of repeat dims can not be smaller than "
                           "number of dimensions of tensor")
    shape = (1,) * (len(reps) - input.ndim) + tuple(input.shape)
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat: Trying to create tensor with negative dimension: "
                           f"{[r * n for r, n in zip(reps, shape)]}")
    # NOTE: np.tile does not check its size arithmetic (a huge repeat count crashed it).
    if math.prod(r * n for r, n in zip(reps, shape)) > 2**48 or any(r >= 2**63 for r in reps):
        raise RuntimeError(f"repeat: Storage size calculation overflowed with sizes="
                           f"{[r * n for r, n in zip(reps, shape)]}")
    src = input if tuple(input.shape) == shape else input.reshape(shape)
    return ops.TileFn.apply(src, reps=reps)


def tile(input: Tensor, *args: Any, dims: Any = None) -> Tensor:
    """The tensor repeated ``dims[i]`` times along each dimension; fewer dims than the tensor
    has are padded with leading 1s."""
    reps = _varargs(args, dims)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    reps = (1,) * (input.ndim - len(reps)) + reps
    return repeat(input, reps)


def repeat_interleave(input: Tensor, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times (an int, or a tensor of one count per element
    along ``dim``); dim None flattens first. With the counts alone (``repeat_interleave(r)``),
    the indices 0..len(r)-1 repeated by r."""
    if repeats is None:
        counts = input._array
        if counts.ndim > 1 or counts.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor of "
                               "integers")
        if (counts < 0).any():
            raise RuntimeError("repeat_interleave: Repeats must be non-negative")
        return Tensor._wrap(np.repeat(np.arange(counts.size, dtype=np.int64), counts.ravel()))
    src = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _wrap_dim("repeat_interleave", dim, input.ndim)
    if src.ndim == 0:
        src = src.reshape(1)
    n = src.shape[d]
    if isinstance(repeats, Tensor):
        counts = repeats._array
        if counts.ndim > 1 or counts.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor of "
                               "integers")
        if counts.size == 1:
            repeats = int(counts.reshape(()))
        elif counts.size != n:
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input "
                               f"along dim, but got repeats.size(0) = {counts.size} and "
                               f"input.size({d}) = {n}")
        elif (counts < 0).any():
            raise RuntimeError("repeat_interleave: Repeats must be non-negative")
        else:
            repeats = counts.astype(np.int64)
    if isinstance(repeats, (int, np.integer)):
        repeats = int(repeats)
        if repeats < 0:
            raise RuntimeError("repeat_interleave: Repeats must be non-negative")
    return ops.RepeatInterleaveFn.apply(src, repeats=repeats, axis=d)


# ---- reshaping --------------------------------------------------------------------------


def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    """``input.reshape(shape)``: a view when the memory allows, else a copy (one -1 allowed)."""
    return input.reshape(shape)


def ravel(input: Tensor) -> Tensor:
    """The tensor flattened to 1-D."""
    return input.reshape(-1)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dimensions start_dim..end_dim merged into one."""
    return input.flatten(start_dim, end_dim)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Dimension ``dim`` split into ``sizes`` (one may be -1)."""
    d = _wrap_dim("unflatten", dim, input.ndim)
    sizes = tuple(int(s) for s in sizes)
    n = input.shape[d]
    known = int(np.prod([s for s in sizes if s != -1]))
    free = sizes.count(-1)
    if not sizes or free > 1 or (free and (known == 0 or n % known)) or (not free and known != n):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {d} ({n}) in the input tensor")
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    shape = tuple(input.shape)
    return input.reshape(shape[:d] + sizes + shape[d + 1:])


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Size-1 dimensions removed (all of them, or those of ``dim``, an int or tuple)."""
    return input.squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """A size-1 dimension inserted at ``dim``."""
    return input.unsqueeze(dim)


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """The dimensions reordered by ``dims`` (a view)."""
    return input.permute(dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Dimensions dim0 and dim1 swapped (a view)."""
    return input.transpose(dim0, dim1)


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    """A matrix transposed (0-D and 1-D tensors as they are)."""
    return input.t()


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    """Dimensions ``source`` moved to positions ``destination``, the others in order."""
    nd = input.ndim
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    src = [_wrap_dim("movedim", s, nd) for s in src]
    dst = [_wrap_dim("movedim", s, nd) for s in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({dims})")
    if nd == 0:
        return input
    perm: list[Any] = [None] * nd
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(nd) if i not in src)
    perm = [next(rest) if p is None else p for p in perm]
    return input.permute(perm) if perm != list(range(nd)) else input


moveaxis = movedim


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:
    """``input.expand(size)``: a read-only view broadcast to ``size`` (-1 keeps a size)."""
    return input.expand(size)


def broadcast_shapes(*shapes: Any) -> Size:
    """The shape the given shapes broadcast to."""
    shapes = [(s,) if isinstance(s, (int, np.integer)) else tuple(s) for s in shapes]
    try:
        return Size(np.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {shapes} cannot be broadcast "
                           f"together") from None


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape (views)."""
    shapes = [tuple(t.shape) for t in tensors]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(f"broadcast_tensors: the shapes {shapes} do not broadcast (sizes "
                           f"must match or be 1 at each non-singleton dimension)") from None
    return tuple(t if tuple(t.shape) == shape else t.expand(shape) for t in tensors)


# ---- stacking ----------------------------------------------------------------------------


def _at_least(op: str, ndim: int, tensors: tuple) -> Any:
    many = len(tensors) != 1 or isinstance(tensors[0], (list, tuple))
    items = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    out = []
    for x in items:
        shape = tuple(x.shape)
        if len(shape) >= ndim:
            out.append(x)
            continue
        if ndim == 3 and len(shape) == 2:
            new = shape + (1,)
        elif ndim == 3 and len(shape) == 1:
            new = (1,) + shape + (1,)
        else:
            new = (1,) * (ndim - len(shape)) + shape
        out.append(x.reshape(new))
    return tuple(out) if many else out[0]


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least 1 dimension (a tuple when given several or a sequence)."""
    return _at_least("atleast_1d", 1, tensors)


def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least 2 dimensions: (n,) becomes (1, n)."""
    return _at_least("atleast_2d", 2, tensors)


def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least 3 dimensions: (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    return _at_least("atleast_3d", 3, tensors)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenated along dimension 1 (0 for 1-D tensors)."""
    ts = atleast_1d(tuple(_tensors("hstack", tensors)))
    return cat(list(ts), 0 if all(x.ndim == 1 for x in ts) else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenated along dimension 0, 1-D tensors as rows."""
    return cat(list(atleast_2d(tuple(_tensors("vstack", tensors)))), 0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenated along dimension 2 (depth), after ``atleast_3d``."""
    return cat(list(atleast_3d(tuple(_tensors("dstack", tensors)))), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenated along dimension 1, 0-D and 1-D tensors as columns."""
    ts = [x.reshape(x.numel(), 1) if x.ndim <= 1 else x
          for x in _tensors("column_stack", tensors)]
    return cat(ts, 1)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 0-D/1-D tensors: with ``indexing='ij'`` output i varies along
    dimension i; ``'xy'`` swaps the first two dimensions (Cartesian). Outputs are views."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but '
                           f"received: {indexing}")
    tensors = _tensors("meshgrid", list(tensors))
    for x in tensors:
        if x.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got a tensor of shape {tuple(x.shape)}")
    if len({x._array.dtype for x in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    sizes = [x.numel() for x in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[0], order[1] = 1, 0
    shape = tuple(sizes[i] for i in order)
    out = []
    for i, x in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(i)] = sizes[i]
        out.append(x.reshape(view).expand(shape))
    return tuple(out)


# ---- triangles and diagonals -------------------------------------------------------------


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions (below ``diagonal``), the rest zero."""
    return _triangle("tril", input, diagonal, upper=False)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dimensions (above ``diagonal``), the rest zero."""
    return _triangle("triu", input, diagonal, upper=True)


def _triangle(op: str, input: Tensor, diagonal: int, upper: bool) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    diagonal = int(diagonal)
    if not -2**63 <= diagonal < 2**63:
        raise ValueError(f"{op}: diagonal {diagonal}: Overflow when unpacking long long")
    # NOTE: past either corner the result no longer changes; clamped so NumPy's tri (which
    # negates it) cannot overflow.
    rows, cols = input.shape[-2:]
    diagonal = max(-rows - 1, min(diagonal, cols + 1))
    return ops.TriangleFn.apply(input, diagonal=diagonal, upper=upper)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal over dim1 and dim2 (offset above the main one) as the last dimension: a
    view."""
    a1, a2 = _wrap_dim("diagonal", dim1, input.ndim), _wrap_dim("diagonal", dim2, input.ndim)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return ops.DiagonalFn.apply(input, offset=int(offset), axis1=a1, axis2=a2)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices with the last dimension of input on their diagonal (over dim1, dim2 of the
    result, which has one dimension more)."""
    nd = input.ndim + 1
    a1, a2 = _wrap_dim("diag_embed", dim1, nd), _wrap_dim("diag_embed", dim2, nd)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    src = input if input.ndim else input.reshape(1)
    m = src.shape[-1] + abs(int(offset))
    rest = iter(src.shape[:-1])
    shape = tuple(m if i in (a1, a2) else next(rest) for i in range(nd))
    return ops.DiagEmbedFn.apply(src, shape=shape, offset=int(offset), axis1=a1, axis2=a2)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as the ``diagonal``-th diagonal of a square matrix, or a matrix's
    ``diagonal``-th diagonal as 1-D."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return ops.DiagonalFn.apply(input, offset=int(diagonal), axis1=0, axis2=1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace(input: Tensor) -> Tensor:
    """The sum of a matrix's main diagonal (integers summed as int64)."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    d = ops.DiagonalFn.apply(input, offset=0, axis1=0, axis2=1)
    if input._array.dtype.kind in "iub":
        d = d.type(np.int64)
    return basic.SumFn.apply(d, axis=None, keepdim=False)
