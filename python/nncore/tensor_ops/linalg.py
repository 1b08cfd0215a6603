"""Products and linear algebra in the ``nncore`` namespace (``mm``, ``bmm``, ``matmul``, ``dot``,
``addmm``, ``tensordot``, ``einsum``, ``cross``, ``cdist``, ``norm``...).

Matrix products run the native GEMM (``ops.linear.MatmulFn``) for float32/float64; other
dtypes (integers, which carry no gradient) use NumPy. Errors are PyTorch's (RuntimeError,
naming the op and the shapes). ``nncore.linalg`` holds the decompositions and norms.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nncore.ops import basic
from nncore.ops.linalg import CdistFn, CrossFn
from nncore.ops.linear import MatmulFn
from nncore.tensor import Tensor, _wrap_dim
from nncore.tensor_ops.einsum import einsum
from nncore.tensor_ops.shape import _promoted

__all__ = [
    "addmm", "baddbmm", "bmm", "cdist", "cross", "dot", "einsum", "ger", "inner", "matmul", "mm",
    "mv", "outer", "tensordot", "vdot",
]
# NOTE: norm, det and inverse are nncore.linalg's (which imports this module): nncore._namespace.
METHODS = ("addmm", "baddbmm", "bmm", "cross", "dot", "ger", "inner", "matmul", "mm", "mv",
           "outer", "vdot")

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def _name(t: Tensor) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
            "float16": "Half"}.get(t._array.dtype.name, t._array.dtype.name)


def _same_dtype(op: str, a: Tensor, b: Tensor) -> None:
    if a._array.dtype != b._array.dtype:
        raise RuntimeError(f"{op}: expected both operands to have the same dtype, but got "
                           f"{_name(a)} and {_name(b)}")


def _product(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with shapes already checked: the native GEMM for float32/float64, float16 through
    float32, NumPy for integers (no gradient)."""
    dt = a._array.dtype
    if dt in _NATIVE:
        return MatmulFn.apply(a, b)
    if dt.kind == "f":
        return MatmulFn.apply(a.float(), b.float()).type(dt)
    return Tensor._wrap(np.matmul(a._array, b._array))


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of (n, m) and (m, p) -> (n, p)."""
    sa, sb = input._array.shape, mat2._array.shape
    if len(sa) != 2:
        raise RuntimeError(f"mm: self must be a matrix, got shape {tuple(input.shape)}")
    if len(sb) != 2:
        raise RuntimeError(f"mm: mat2 must be a matrix, got shape {tuple(mat2.shape)}")
    if sa[1] != sb[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x"
                           f"{input.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})")
    _same_dtype("mm", input, mat2)
    return _product(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) -> (b, n, p), no broadcasting."""
    if input.ndim != 3:
        raise RuntimeError(f"bmm: batch1 must be a 3D tensor, got shape {tuple(input.shape)}")
    if mat2.ndim != 3:
        raise RuntimeError(f"bmm: batch2 must be a 3D tensor, got shape {tuple(mat2.shape)}")
    b, _, m = input.shape
    if tuple(mat2.shape[:2]) != (b, m):
        raise RuntimeError(f"bmm: Expected size for first two dimensions of batch2 tensor to "
                           f"be: [{b}, {m}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    _same_dtype("bmm", input, mat2)
    return _product(input, mat2)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands promoted to a row/column (and the
    dimension removed after), batch dimensions broadcast.

    Shape: (..., n, m) @ (..., m, p) -> (..., n, p).
    """
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{input.ndim}D and {other.ndim}D")
    k_a = input.shape[-1]
    k_b = other.shape[0] if other.ndim == 1 else other.shape[-2]
    if k_a != k_b:
        raise RuntimeError(f"matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot "
                           f"be multiplied ({k_a} != {k_b})")
    try:
        np.broadcast_shapes(tuple(input.shape[:-2]), tuple(other.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"matmul: the batch dimensions of {tuple(input.shape)} and "
                           f"{tuple(other.shape)} do not broadcast") from None
    _same_dtype("matmul", input, other)
    return _product(input, other)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product (n, m) @ (m,) -> (n,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: vector + matrix @ vector expected, got {input.ndim}, "
                           f"{vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"mv: size mismatch, got mat ({input.shape[0]}x{input.shape[1]}), "
                           f"vec ({vec.shape[0]})")
    _same_dtype("mv", input, vec)
    return _product(input, vec)


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same size (a 0-d result)."""
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {input.ndim}D and {tensor.ndim}D "
                           f"tensors")
    if input.shape[0] != tensor.shape[0]:
        raise RuntimeError(f"dot: inconsistent tensor size, expected tensor [{input.shape[0]}] "
                           f"and src [{tensor.shape[0]}] to have the same number of elements, "
                           f"but got {input.shape[0]} and {tensor.shape[0]} elements "
                           f"respectively")
    if input._array.dtype != tensor._array.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{_name(input)} and {_name(tensor)}")
    return _product(input, tensor)


vdot = dot  # real tensors only: no conjugation to do


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum of products over the last dimension of both (a scalar operand multiplies)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: (n,) x (m,) -> (n, m) (dtypes promoted)."""
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    a, b = _promoted([input, vec2])
    return basic.MulFn.apply(a.reshape(-1, 1), b.reshape(1, -1))


ger = outer


def _scaled_sum(op: str, input: Tensor, prod: Tensor, beta: Any, alpha: Any) -> Tensor:
    shape = tuple(prod.shape)
    try:
        if np.broadcast_shapes(tuple(input.shape), shape) != shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"{op}: The expanded size of the tensor must match the existing size: "
                           f"input of shape {list(input.shape)} does not broadcast to "
                           f"{list(shape)}") from None
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:  # PyTorch ignores input then (its NaNs and infs do not propagate)
        return prod
    return prod + (input if beta == 1 else input * beta)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1
          ) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``; input broadcasts to the product's shape."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
            ) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``; input broadcasts to (b, n, p)."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Sum of products over ``dims``: an int (the last dims of a with the first of b) or two
    lists of dimensions; one GEMM after permuting the contracted dimensions together."""
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError(f"both dimension lists should have same length, got {da} and {db}")
    da = [_wrap_dim("tensordot", d, a.ndim) for d in da]
    db = [_wrap_dim("tensordot", d, b.ndim) for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[x]} in dim {x} and second has size {b.shape[y]} in "
                               f"dim {y}")
    _same_dtype("tensordot", a, b)
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = int(np.prod([a.shape[d] for d in da]))
    out_shape = [a.shape[d] for d in free_a] + [b.shape[d] for d in free_b]
    a2 = a.permute(free_a + da).reshape(-1, k)
    b2 = b.permute(db + free_b).reshape(k, -1)
    return _product(a2, b2).reshape(out_shape)


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (broadcasting); dim None (deprecated by
    PyTorch) takes the first dimension of size 3."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(other.shape))
    except ValueError:
        raise RuntimeError(f"linalg.cross: shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)} do not broadcast") from None
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease "
                      "either pass the dim explicitly or simply use torch.linalg.cross.\nThe "
                      "default value of dim will change to agree with that of linalg.cross in a "
                      "future release.", UserWarning, stacklevel=2)
        sizes = [i for i, n in enumerate(shape) if n == 3]
        if not sizes:
            raise RuntimeError(f"no dimension of size 3 in input of shape {tuple(shape)}")
        dim = sizes[0]
    d = _wrap_dim("cross", dim, len(shape))
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got "
                           f"{input.shape[d]} and {other.shape[d]}")
    a, b = _promoted([input, other])
    return CrossFn.apply(a, b, axis=d)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """p-norm distance between each row of x1 (..., P, M) and each of x2 (..., R, M):
    (..., P, R), batch dimensions broadcast. For p = 2 and more than 25 rows on either side
    (or ``compute_mode='use_mm_for_euclid_dist'``) the distances come from one matrix product,
    as PyTorch's."""
    for name, t in (("X1", x1), ("X2", x2)):
        if t.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: "
                               f"{t.ndim}D")
        if t._array.dtype.kind != "f":
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{_name(t)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    _same_dtype("cdist", x1, x2)
    use_mm = p == 2 and (compute_mode == _CDIST_MODES[1] or (
        compute_mode == _CDIST_MODES[0] and (x1.shape[-2] > 25 or x2.shape[-2] > 25)))
    return CdistFn.apply(x1, x2, p=float(p), use_mm=use_mm)
