"""Index ops without a native kernel: gather, scatter (and its reductions), index_*, masked_*.

Positions are linear indices into the flattened target (``linear_index``), computed once in
forward; backward reuses them, so each gradient is one NumPy scatter or gather. Repeated
indices accumulate with ``np.add.at``, as PyTorch sums them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.autograd import Function, unbroadcast


def linear_index(shape: tuple, index: np.ndarray, dim: int) -> np.ndarray:
    """Flat positions in an array of ``shape`` of ``out[i][j][k] = a[i][index[i][j][k]][k]``
    (for dim 1): index's own coordinates on every axis but ``dim``, its values on ``dim``."""
    strides = [1] * len(shape)
    for axis in range(len(shape) - 1, 0, -1):
        strides[axis - 1] = strides[axis] * shape[axis]
    lin = index.astype(np.int64)
    if strides[dim] != 1:
        lin *= strides[dim]
    for axis, n in enumerate(index.shape):
        if axis != dim and n > 1:
            view = [1] * index.ndim
            view[axis] = n
            lin += np.arange(0, n * strides[axis], strides[axis], dtype=np.int64).reshape(view)
    return lin


def _leading(a: np.ndarray, shape: tuple) -> np.ndarray:
    """The leading ``shape`` block of a (PyTorch uses that much of a larger src)."""
    if a.shape == shape:
        return a
    return a[tuple(slice(0, n) for n in shape)]


class GatherFn(Function):
    """a's elements at flat positions ``lin`` (shape of the result); ``unique`` says no
    position repeats (sort, topk), so backward writes instead of accumulating."""

    def forward(self, a: np.ndarray, *, lin: np.ndarray, unique: bool = False) -> np.ndarray:
        self.lin, self.unique, self.in_shape = lin, unique, a.shape
        flat = a.reshape(-1)
        return flat[lin]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        g = np.zeros(int(np.prod(self.in_shape)), dtype=grad.dtype)
        if self.unique:
            g[self.lin] = grad
        else:
            np.add.at(g, self.lin, grad)
        return g.reshape(self.in_shape)


# Identity of each reduction, for targets that do not include themselves.
_IDENTITY = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}
_UFUNC = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
          "amin": np.minimum}


def _identity(reduce: str, dtype: np.dtype) -> Any:
    value = _IDENTITY[reduce]
    if dtype.kind in "iu" and np.isinf(value):
        info = np.iinfo(dtype)
        return info.min if value < 0 else info.max
    return value


class ScatterFn(Function):
    """a with src's elements written at flat positions ``lin`` (a keyword; src's leading block
    of lin's shape is used), or combined by ``reduce`` (sum, prod, mean, amax, amin; with
    ``include_self`` False a target's old value takes no part). src may be absent: ``value``
    is written instead. Backward follows PyTorch's formulas; ``differentiable`` False (the
    deprecated ``scatter(reduce=...)``) raises as PyTorch does."""

    def forward(self, a: np.ndarray, src: np.ndarray | None = None, *, lin: np.ndarray,
                value: Any = None, reduce: str | None = None, include_self: bool = True,
                differentiable: bool = True) -> np.ndarray:
        vals = _leading(src, lin.shape) if src is not None else np.broadcast_to(
            np.asarray(value, dtype=a.dtype), lin.shape)
        self.lin, self.reduce, self.include_self = lin, reduce, include_self
        self.differentiable, self.in_shape = differentiable, a.shape
        self.src_shape = None if src is None else src.shape
        out = a.copy()
        flat = out.reshape(-1)
        if reduce is None:
            flat[lin] = vals
            return out
        if not include_self:
            flat[lin] = _identity(reduce, a.dtype)
        _UFUNC[reduce].at(flat, lin, vals)
        if reduce == "mean":
            counts = np.zeros(flat.shape, dtype=np.int64)
            np.add.at(counts, lin, 1)
            counts += include_self
            touched = counts > 0
            if a.dtype.kind in "iu":
                flat[touched] //= counts[touched].astype(a.dtype)
            else:
                flat[touched] /= counts[touched]
            self.counts = counts
        if reduce in ("prod", "amax", "amin"):
            self.save_for_backward(a, vals, out)
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        if not self.differentiable:
            raise RuntimeError("derivative for aten::scatter is not implemented (scatter with "
                               "reduce=; use scatter_reduce)")
        lin, reduce = self.lin, self.reduce
        flat = grad.reshape(-1)
        da = dsrc = None
        if reduce in (None, "sum", "mean"):
            share = flat / np.maximum(self.counts, 1) if reduce == "mean" else flat
            gsrc = share[lin]
            if self.needs_input_grad[0]:
                da = share.copy() if share is flat else share
                if reduce is None or not self.include_self:
                    da[lin] = 0
                da = da.reshape(self.in_shape)
        else:
            da, gsrc = self._extreme_or_prod_grads(flat)
        if self.src_shape is not None and len(self.needs_input_grad) > 1 and \
                self.needs_input_grad[1]:
            dsrc = np.zeros(self.src_shape, dtype=grad.dtype)
            dsrc[tuple(slice(0, n) for n in lin.shape)] = gsrc
        return da, dsrc

    def _extreme_or_prod_grads(self, flat: np.ndarray) -> tuple:
        a, vals, out = self.saved_tensors
        lin, a_flat, out_flat = self.lin, a.reshape(-1), out.reshape(-1)
        touched = np.zeros(a_flat.shape, dtype=bool)
        touched[lin] = True
        if self.reduce == "prod":
            # NOTE: the product of the others, by counting zeros: with none it is out / v,
            # with one zero only the zero's partner gets the product of the rest, with two
            # or more every derivative is 0 (PyTorch's masked formula).
            zeros = np.zeros(a_flat.shape, dtype=np.int64)
            np.add.at(zeros, lin, vals == 0)
            nonzero_prod = np.ones(a_flat.shape, dtype=a.dtype)
            np.multiply.at(nonzero_prod, lin, np.where(vals == 0, 1, vals))
            if self.include_self:
                zeros += touched & (a_flat == 0)
                nonzero_prod = np.where(touched & (a_flat != 0), nonzero_prod * a_flat,
                                        nonzero_prod)

            def others(v: np.ndarray, pos: Any) -> np.ndarray:
                z, p = zeros[pos], nonzero_prod[pos]
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(z == 0, p / np.where(v == 0, 1, v),
                                    np.where((z == 1) & (v == 0), p, 0))

            gsrc = flat[lin] * others(vals, lin)
            da = None
            if self.needs_input_grad[0]:
                da = np.where(touched, flat * others(a_flat, slice(None)), flat)
                if not self.include_self:
                    da = np.where(touched, 0, flat)
                da = da.reshape(self.in_shape)
            return da, gsrc
        # amax/amin: the gradient is shared evenly by every contributor equal to the result.
        hits = np.zeros(a_flat.shape, dtype=np.int64)
        src_hit = vals == out_flat[lin]
        np.add.at(hits, lin, src_hit)
        self_hit = (a_flat == out_flat) & (touched if self.include_self else False)
        hits += self_hit
        share = flat / np.maximum(hits, 1)
        gsrc = np.where(src_hit, share[lin], 0)
        da = None
        if self.needs_input_grad[0]:
            da = np.where(touched, np.where(self_hit, share, 0), flat).reshape(self.in_shape)
        return da, gsrc


def _along(axis: int, index: np.ndarray) -> tuple:
    return (slice(None),) * axis + (index,)


class IndexSelectFn(Function):
    """a's slices at ``index`` (1-D, in range) along ``axis``."""

    def forward(self, a: np.ndarray, *, axis: int, index: np.ndarray) -> np.ndarray:
        self.axis, self.index, self.in_shape = axis, index, a.shape
        return np.take(a, index, axis=axis)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        g = np.zeros(self.in_shape, dtype=grad.dtype)
        np.add.at(g, _along(self.axis, self.index), grad)
        return g


class IndexAddFn(Function):
    """a with ``alpha * source`` added at ``index`` along ``axis`` (repeats accumulate)."""

    def forward(self, a: np.ndarray, source: np.ndarray, *, axis: int, index: np.ndarray,
                alpha: Any = 1) -> np.ndarray:
        self.axis, self.index, self.alpha = axis, index, alpha
        out = a.copy()
        np.add.at(out, _along(axis, index), source if alpha == 1 else source * alpha)
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        ds = None
        if self.needs_input_grad[1]:
            ds = np.take(grad, self.index, axis=self.axis)
            if self.alpha != 1:
                ds = ds * self.alpha
        return grad, ds


class IndexCopyFn(Function):
    """a with source's slices copied to ``index`` along ``axis``."""

    def forward(self, a: np.ndarray, source: np.ndarray, *, axis: int, index: np.ndarray
                ) -> np.ndarray:
        self.axis, self.index = axis, index
        out = a.copy()
        out[_along(axis, index)] = source
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        da = ds = None
        if self.needs_input_grad[0]:
            da = grad.copy()
            da[_along(self.axis, self.index)] = 0
        if self.needs_input_grad[1]:
            ds = np.take(grad, self.index, axis=self.axis)
        return da, ds


class FillFn(Function):
    """a with the positions ``where`` selects (a boolean mask broadcasting against a, or a
    basic/fancy index) set to a value: a Python number (keyword) or a 0-d second input, which
    then receives the sum of the gradient over those positions."""

    def forward(self, a: np.ndarray, value_t: np.ndarray | None = None, *, where: Any,
                value: Any = None, mask: bool = False) -> np.ndarray:
        v = value_t if value_t is not None else value
        self.where, self.mask, self.a_shape = where, mask, a.shape
        if mask:
            return np.where(where, np.asarray(v).astype(a.dtype), a)
        out = a.copy()
        out[where] = v
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        need = self.needs_input_grad
        zero = np.zeros((), dtype=grad.dtype)
        if self.mask:
            hit = np.broadcast_to(self.where, grad.shape)
        else:
            # NOTE: a mask of the positions, so a repeated index counts once.
            hit = np.zeros(grad.shape, dtype=bool)
            hit[self.where] = True
        da = unbroadcast(np.where(hit, zero, grad), self.a_shape) if need[0] else None
        dv = None
        if len(need) > 1 and need[1]:
            dv = np.asarray(np.where(hit, grad, zero).sum(), dtype=grad.dtype)
        return da, dv


class MaskedSelectFn(Function):
    """The elements of a (broadcast to the mask's shape) where the mask holds, as 1-D."""

    def forward(self, a: np.ndarray, *, mask: np.ndarray) -> np.ndarray:
        self.mask, self.a_shape = mask, a.shape
        return np.broadcast_to(a, mask.shape)[mask]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        g = np.zeros(self.mask.shape, dtype=grad.dtype)
        g[self.mask] = grad
        return unbroadcast(g, self.a_shape)


class MaskedScatterFn(Function):
    """a (broadcast to the mask's shape) with source's first elements, in order, written where
    the mask holds."""

    def forward(self, a: np.ndarray, source: np.ndarray, *, mask: np.ndarray) -> np.ndarray:
        self.mask, self.a_shape, self.s_shape = mask, a.shape, source.shape
        self.count = int(mask.sum())
        out = np.array(np.broadcast_to(a, mask.shape))
        out[mask] = source.reshape(-1)[:self.count]
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        zero = np.zeros((), dtype=grad.dtype)
        da = unbroadcast(np.where(self.mask, zero, grad), self.a_shape)
        ds = np.zeros(int(np.prod(self.s_shape)), dtype=grad.dtype)
        ds[:self.count] = grad[self.mask]
        return da, ds.reshape(self.s_shape)
