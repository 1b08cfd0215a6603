"""``nncore.linalg``: PyTorch's ``torch.linalg`` for real float tensors, computed with NumPy.

Gradients: ``vector_norm``, ``norm`` and ``matrix_norm`` (ord 'fro', 1, -1, inf, -inf),
``inv``, ``det``, ``solve``, ``cross``, ``vecdot``, ``matmul``. Without a gradient (their
backward raises NotImplementedError): ``matrix_norm``/``norm`` with ord 2, -2 or 'nuc',
``svd``, ``svdvals``, ``qr``, ``cholesky``, ``eigh``, ``eigvalsh``, ``slogdet``, ``pinv``,
``matrix_rank``. Failures of the factorizations raise ``LinAlgError`` (a RuntimeError).
"""

from __future__ import annotations

import numbers
from collections import namedtuple
from typing import Any

import numpy as np

from nncore import autograd, dtypes
from nncore.ops import basic
from nncore.ops.linalg import DetFn, InvFn, NoGradFn, SolveFn, VectorNormFn
from nncore.tensor import Tensor, _wrap_dim
from nncore.tensor_ops import linalg as _products

__all__ = [
    "LinAlgError", "cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "matmul",
    "matrix_norm", "matrix_rank", "norm", "pinv", "qr", "slogdet", "solve", "svd", "svdvals",
    "vecdot", "vector_norm",
]

SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])

matmul = _products.matmul


class LinAlgError(RuntimeError):
    """A factorization or solve failed on its input (singular, not positive-definite...)."""


def _float(op: str, a: Tensor) -> None:
    if a._array.dtype.kind != "f":
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as input. "
                           f"Got {_products._name(a)}")


def _square(op: str, a: Tensor) -> None:
    _float(op, a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        shape = tuple(a.shape)
        got = f"{shape[-2]} by {shape[-1]} matrices" if a.ndim >= 2 else f"shape {shape}"
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are "
                           f"{got}")


def _no_grad(op: str, a: Tensor, *arrays: np.ndarray) -> tuple[Tensor, ...]:
    """Results computed without a gradient: constants, or nodes whose backward raises."""
    if autograd._grad_enabled and a.requires_grad:
        return tuple(NoGradFn.apply(a, value=x, op=f"linalg.{op}") for x in arrays)
    return tuple(Tensor._wrap(x) for x in arrays)


def _cast(op: str, x: Tensor, dtype: Any) -> Tensor:
    if dtype is None:
        return x
    want = dtypes.to_numpy(dtype)
    if not np.can_cast(x._array.dtype, want, "safe"):
        raise RuntimeError(f"linalg.{op}: the dtype of the input ({x.dtype}) should be "
                           f"convertible without narrowing to the specified dtype ({dtype})")
    return x.type(want)


def _axes(op: str, dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims or ndim == 0:
        # NOTE: a 0-d tensor's only dimension (0 or -1) is every element.
        for d in dims:
            _wrap_dim(op, d, ndim)
        return None
    return tuple(_wrap_dim(op, d, ndim) for d in dims)


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
                dtype: Any = None, out: Any = None) -> Tensor:
    """``sum(|x|^ord)^(1/ord)`` over ``dim`` (None: every element).

    Args:
        x: a float tensor.
        ord: a number: 2 (default), 1, 0 (count of non-zeros), inf (max |x|), -inf, any p.
        dim: a dimension or tuple of them; None reduces everything.
        keepdim: keep the reduced dimensions with size 1.
        dtype: compute in this (not narrower) dtype.
    Returns:
        The norm; differentiable (0 gradient where the norm is 0).
    """
    if out is not None:
        raise NotImplementedError("linalg.vector_norm(out=...): out= is not supported by nncore")
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not "
                        f"{type(ord).__name__}")
    _float("vector_norm", x)
    x = _cast("vector_norm", x, dtype)
    axis = _axes("linalg.vector_norm", dim, x.ndim)
    ord = float(ord)
    if ord in (np.inf, -np.inf):
        sizes = x.shape if axis is None else [x.shape[d] for d in axis]
        if 0 in sizes or x.numel() == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {ord:g} norm on an empty "
                               f"tensor because the operation does not have an identity")
    return VectorNormFn.apply(x, ord=ord, axis=axis, keepdim=bool(keepdim))


def _svdvals(a: np.ndarray, d0: int, d1: int) -> np.ndarray:
    return np.linalg.svd(np.moveaxis(a, (d0, d1), (-2, -1)), compute_uv=False)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: Any = (-2, -1), keepdim: bool = False, *,  # noqa: A002, N803
                dtype: Any = None, out: Any = None) -> Tensor:
    """The matrix norm over the two dimensions ``dim``: 'fro', 'nuc', 1/-1 (max/min column
    sum of |A|), inf/-inf (max/min row sum), 2/-2 (largest/smallest singular value)."""
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    _float("matrix_norm", A)
    A = _cast("matrix_norm", A, dtype)
    d0, d1 = _axes("linalg.matrix_norm", dim, A.ndim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in (1, -1, np.inf, -np.inf):
        inner, outer = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = vector_norm(A, 1, inner, keepdim=True)
        y = basic.AmaxFn.apply(sums, axis=outer, keepdim=True, minimum=ord < 0)
        return y if keepdim else y.squeeze((d0, d1))
    if ord in (2, -2, "nuc"):
        s = _svdvals(A._array, d0, d1)
        y = s.sum(-1) if ord == "nuc" else s.max(-1) if ord == 2 else s.min(-1)
        y = np.asarray(y, dtype=A._array.dtype)
        if keepdim:
            y = np.expand_dims(y, tuple(sorted((d0, d1))))
        return _no_grad("matrix_norm", A, y)[0]
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,  # noqa: A002, N803
         dtype: Any = None, out: Any = None) -> Tensor:
    """A vector norm (``dim`` one dimension, or a 1-D input) or a matrix norm (``dim`` two
    dimensions, or a 2-D input); with neither ``ord`` nor ``dim``, the 2-norm of all elements.
    """
    if out is not None:
        raise NotImplementedError("linalg.norm(out=...): out= is not supported by nncore")
    if isinstance(dim, (int, np.integer)):
        dim = (dim,)
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim, dtype=dtype)
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must "
                               f"be 1D or 2D. Got {A.ndim}D.")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.norm: Order {ord} not supported for a vector norm")
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got "
                       f"{list(dim)}")


def inv(A: Tensor) -> Tensor:  # noqa: N803
    """The inverse of each square matrix; differentiable."""
    _square("inv", A)
    try:
        return InvFn.apply(A)
    except np.linalg.LinAlgError:
        raise LinAlgError("linalg.inv: The inversion could not be completed because the input "
                          "matrix is singular.") from None


def det(A: Tensor) -> Tensor:  # noqa: N803
    """The determinant of each square matrix; differentiable (singular matrices too)."""
    _square("det", A)
    return DetFn.apply(A)


def slogdet(A: Tensor) -> SlogdetResult:  # noqa: N803
    """(sign, log|det|) of each square matrix (no gradient)."""
    _square("slogdet", A)
    sign, logabs = np.linalg.slogdet(A._array)
    dt = A._array.dtype
    return SlogdetResult(*_no_grad("slogdet", A, np.asarray(sign, dt), np.asarray(logabs, dt)))


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: Any = None) -> Tensor:  # noqa: N803
    """X with A X = B (``left=False``: X A = B); B may be a (batch of) vector(s).
    Differentiable in A and B."""
    _square("solve", A)
    _float("solve", B)
    if A._array.dtype != B._array.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {_products._name(A)} and B of type {_products._name(B)}")
    if not left:
        return solve(A.mT, B.mT).mT
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    b = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    if b.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({n}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    try:
        x = SolveFn.apply(A, b)
    except np.linalg.LinAlgError:
        raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is "
                          "singular.") from None
    return x.squeeze(-1) if vector else x


def svd(A: Tensor, full_matrices: bool = True, *, driver: Any = None) -> SVDResult:  # noqa: N803
    """A = U diag(S) Vh (no gradient)."""
    _float("svd", A)
    u, s, vh = np.linalg.svd(A._array, full_matrices=full_matrices)
    return SVDResult(*_no_grad("svd", A, u, s, vh))


def svdvals(A: Tensor, *, driver: Any = None) -> Tensor:  # noqa: N803
    """The singular values, descending (no gradient)."""
    _float("svdvals", A)
    return _no_grad("svdvals", A, np.linalg.svd(A._array, compute_uv=False))[0]


def qr(A: Tensor, mode: str = "reduced") -> QRResult:  # noqa: N803
    """A = Q R; mode 'reduced', 'complete' or 'r' (Q empty) (no gradient)."""
    _float("qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    if mode == "r":
        r = np.linalg.qr(A._array, mode="r")
        return QRResult(*_no_grad("qr", A, np.zeros((0,), A._array.dtype), r))
    q, r = np.linalg.qr(A._array, mode=mode)
    return QRResult(*_no_grad("qr", A, q, r))


def cholesky(A: Tensor, *, upper: bool = False, out: Any = None) -> Tensor:  # noqa: N803
    """L with A = L L^T (``upper``: U with A = U^T U) (no gradient)."""
    _square("cholesky", A)
    try:
        low = np.linalg.cholesky(A._array)
    except np.linalg.LinAlgError:
        raise LinAlgError("linalg.cholesky: The factorization could not be completed because the "
                          "input is not positive-definite.") from None
    return _no_grad("cholesky", A, np.swapaxes(low, -1, -2).copy() if upper else low)[0]


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:  # noqa: N803
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (no gradient)."""
    _square("eigh", A)
    w, v = np.linalg.eigh(A._array, UPLO=UPLO)
    return EighResult(*_no_grad("eigh", A, w, v))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    """Eigenvalues (ascending) of symmetric matrices (no gradient)."""
    _square("eigvalsh", A)
    return _no_grad("eigvalsh", A, np.linalg.eigvalsh(A._array, UPLO=UPLO))[0]


def pinv(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False  # noqa: N803
         ) -> Tensor:
    """The Moore-Penrose pseudo-inverse (no gradient)."""
    _float("pinv", A)
    kw = {} if rtol is None else {"rtol": rtol}
    return _no_grad("pinv", A, np.linalg.pinv(A._array, hermitian=hermitian, **kw)
                    .astype(A._array.dtype))[0]


def matrix_rank(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False  # noqa: N803
                ) -> Tensor:
    """The numerical rank of each matrix (int64)."""
    _float("matrix_rank", A)
    rank = np.linalg.matrix_rank(A._array, hermitian=hermitian, rtol=rtol)
    return Tensor._wrap(np.asarray(rank, dtype=np.int64))


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default the last), broadcasting."""
    return _products.cross(input, other, dim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Sum of x * y along ``dim`` (broadcasting)."""
    return (x * y).sum(dim)


def __getattr__(name: str) -> object:
    from nncore._unsupported import missing

    missing("torch.linalg", name, "module 'nncore.linalg'")
