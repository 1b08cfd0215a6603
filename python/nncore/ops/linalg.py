"""Linear-algebra ops with NumPy forward and backward: norms, inverse, determinant, solve, cross
products, pairwise distances and the general einsum. Matrix products are ``ops.linear``'s
native ``MatmulFn``; these are the small or rare ones (no native kernel earns its place)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.autograd import Function, unbroadcast


def _mT(a: np.ndarray) -> np.ndarray:  # noqa: N802
    return np.swapaxes(a, -1, -2)


class VectorNormFn(Function):
    """``sum(|a|^ord)^(1/ord)`` over ``axis`` (None: all), with ord 0 (count of non-zeros),
    inf and -inf (max and min of |a|). Where the norm is 0 the gradient is 0, as PyTorch; the
    inf norms share it evenly between tied elements."""

    def forward(self, a: np.ndarray, *, ord: float, axis: Any, keepdim: bool) -> np.ndarray:
        ax = np.abs(a)
        if ord == np.inf:
            y = ax.max(axis=axis, keepdims=True)
        elif ord == -np.inf:
            y = ax.min(axis=axis, keepdims=True)
        elif ord == 0:
            y = (a != 0).sum(axis=axis, keepdims=True).astype(a.dtype)
        elif ord == 1:
            y = ax.sum(axis=axis, keepdims=True)
        elif ord == 2:
            y = np.sqrt((a * a).sum(axis=axis, keepdims=True))
        else:
            y = (ax ** ord).sum(axis=axis, keepdims=True) ** (1.0 / ord)
        y = np.asarray(y, dtype=a.dtype)
        self.save_for_backward(a, y)
        self.args = ord, axis, keepdim
        if keepdim:
            return y
        return np.asarray(y.reshape(()) if axis is None else np.squeeze(y, axis=axis))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, y = self.saved_tensors
        ord, axis, keepdim = self.args
        g = grad.reshape(y.shape)
        zero = np.zeros((), dtype=a.dtype)
        if ord == 0:
            return np.zeros_like(a)
        if ord in (np.inf, -np.inf):
            hit = np.abs(a) == y
            count = hit.sum(axis=axis, keepdims=True)
            return np.where(hit, np.sign(a) * (g / np.maximum(count, 1)), zero)
        if ord == 1:
            return np.sign(a) * g
        with np.errstate(divide="ignore", invalid="ignore"):
            if ord == 2:
                scale = np.where(y == 0, zero, g / y)
                return a * scale
            scale = np.where(y == 0, zero, g / y ** (ord - 1))
            ax = np.abs(a)
            return np.where(ax == 0, zero, np.sign(a) * ax ** (ord - 1) * scale)


class InvFn(Function):
    """The inverse of each matrix of a (..., n, n); d(A^-1) = -A^-T G A^-T."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        y = np.linalg.inv(a)
        self.save_for_backward(y)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (y,) = self.saved_tensors
        yt = _mT(y)
        return -(yt @ grad @ yt)


def _adjugate(a: np.ndarray) -> np.ndarray:
    """adj(A) through the SVD (A = U S V^T: adj(A) = det(U) det(V) V adj(S) U^T), so singular
    matrices get their true adjugate rather than det * inverse."""
    u, s, vt = np.linalg.svd(a)
    n = s.shape[-1]
    before = np.cumprod(np.concatenate([np.ones(s.shape[:-1] + (1,), s.dtype), s[..., :-1]],
                                       axis=-1), axis=-1)
    after = np.flip(np.cumprod(np.concatenate(
        [np.ones(s.shape[:-1] + (1,), s.dtype), np.flip(s, -1)[..., :-1]], axis=-1),
        axis=-1), -1)
    others = before * after if n else s
    sign = (np.linalg.det(u) * np.linalg.det(vt))[..., None, None]
    return sign * ((_mT(vt) * others[..., None, :]) @ _mT(u))


class DetFn(Function):
    """det of each matrix of a (..., n, n); d det / dA = adj(A)^T."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save_for_backward(a)
        return np.asarray(np.linalg.det(a), dtype=a.dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (a,) = self.saved_tensors
        return (grad[..., None, None] * _mT(_adjugate(a))).astype(a.dtype)


class SolveFn(Function):
    """X with A X = B (B (..., n, k), batch dimensions broadcast); gB = A^-T G, gA = -gB X^T."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        x = np.linalg.solve(np.broadcast_to(a, batch + a.shape[-2:]),
                            np.broadcast_to(b, batch + b.shape[-2:]))
        self.save_for_backward(a, x)
        self.shapes = a.shape, b.shape
        return x

    def backward(self, grad: np.ndarray) -> tuple:
        a, x = self.saved_tensors
        sa, sb = self.shapes
        batch = x.shape[:-2]
        gb = np.linalg.solve(np.broadcast_to(_mT(a), batch + sa[-2:]), grad)
        da = unbroadcast(-(gb @ _mT(x)), sa) if self.needs_input_grad[0] else None
        db = unbroadcast(gb, sb) if self.needs_input_grad[1] else None
        return da, db


class CrossFn(Function):
    """a x b along ``axis`` (of length 3), broadcasting; da = b x g, db = g x a."""

    def forward(self, a: np.ndarray, b: np.ndarray, *, axis: int) -> np.ndarray:
        self.save_for_backward(a, b)
        self.axis = axis
        return np.cross(a, b, axis=axis)

    def backward(self, grad: np.ndarray) -> tuple:
        a, b = self.saved_tensors
        da = db = None
        if self.needs_input_grad[0]:
            da = unbroadcast(np.cross(b, grad, axis=self.axis), a.shape)
        if self.needs_input_grad[1]:
            db = unbroadcast(np.cross(grad, a, axis=self.axis), b.shape)
        return da, db


class CdistFn(Function):
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M): (..., P, R).
    ``use_mm``: p = 2 through |x|^2 + |y|^2 - 2 x y^T (PyTorch's choice above 25 rows), else
    through the (..., P, R, M) differences."""

    def forward(self, x1: np.ndarray, x2: np.ndarray, *, p: float, use_mm: bool) -> np.ndarray:
        self.p, self.use_mm, self.shapes = p, use_mm, (x1.shape, x2.shape)
        if use_mm:
            sq = ((x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :]
                  - 2 * (x1 @ _mT(x2)))
            d = np.sqrt(np.maximum(sq, 0)).astype(x1.dtype)
            self.save_for_backward(x1, x2, d)
            return d
        diff = x1[..., :, None, :] - x2[..., None, :, :]
        ad = np.abs(diff)
        if p == 0:
            d = (diff != 0).sum(-1).astype(x1.dtype)
        elif p == np.inf:
            d = ad.max(-1) if diff.shape[-1] else ad.sum(-1)
        elif p == 1:
            d = ad.sum(-1)
        elif p == 2:
            d = np.sqrt((diff * diff).sum(-1))
        else:
            d = (ad ** p).sum(-1) ** (1.0 / p)
        self.save_for_backward(diff, d)
        return d

    def backward(self, grad: np.ndarray) -> tuple:
        s1, s2 = self.shapes
        zero = np.zeros((), dtype=grad.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.use_mm:
                x1, x2, d = self.saved_tensors
                coef = np.where(d == 0, zero, grad / d)
                g1 = x1 * coef.sum(-1)[..., None] - coef @ x2
                g2 = x2 * coef.sum(-2)[..., None] - _mT(coef) @ x1
                return unbroadcast(g1, s1), unbroadcast(g2, s2)
            diff, d = self.saved_tensors
            p, g, dd = self.p, grad[..., None], d[..., None]
            if p == 0:
                gd = np.zeros_like(diff)
            elif p == 1:
                gd = np.sign(diff) * g
            elif p == np.inf:
                hit = np.abs(diff) == dd
                gd = np.where(hit, np.sign(diff) * g / np.maximum(hit.sum(-1, keepdims=True), 1),
                              zero)
            elif p == 2:
                gd = diff * np.where(dd == 0, zero, g / dd)
            else:
                ad = np.abs(diff)
                gd = np.where((dd == 0) | (ad == 0), zero,
                              np.sign(diff) * ad ** (p - 1) * g / dd ** (p - 1))
        return unbroadcast(gd.sum(-2), s1), unbroadcast(-gd.sum(-3), s2)


class EinsumFn(Function):
    """np.einsum over the operands with an explicit equation of single letters, no ellipsis,
    equal sizes for equal labels (the caller expands). Operand i's gradient is the einsum of
    the output gradient with the others onto its labels, broadcast along labels only it has,
    and written onto its diagonals when a label repeats within it."""

    def forward(self, *arrays: np.ndarray, subscripts: list, output: str) -> np.ndarray:
        # NOTE: not self.inputs, which Function.apply sets to the input tensors.
        self.subscripts, self.output = subscripts, output
        self.save_for_backward(*arrays)
        eq = ",".join(subscripts) + "->" + output
        return np.asarray(np.einsum(eq, *arrays, optimize=len(arrays) > 2))

    def backward(self, grad: np.ndarray) -> tuple:
        arrays = self.saved_tensors
        grads = []
        for i, (sub, a) in enumerate(zip(self.subscripts, arrays)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(self.subscripts) if j != i]
            seen = set(self.output).union(*others)
            unique = list(dict.fromkeys(sub))
            sizes = {label: a.shape[sub.index(label)] for label in unique}
            linked = "".join(c for c in unique if c in seen)
            eq = ",".join([self.output] + others) + "->" + linked
            ops = [grad] + [arrays[j] for j in range(len(arrays)) if j != i]
            g = np.einsum(eq, *ops, optimize=len(ops) > 2)
            # labels only this operand has: the gradient is constant along them
            g = g.reshape([sizes[c] if c in seen else 1 for c in unique])
            g = np.broadcast_to(g, [sizes[c] for c in unique])
            if len(unique) == len(sub):
                grads.append(np.transpose(g, [unique.index(c) for c in sub]))
                continue
            out = np.zeros(a.shape, dtype=grad.dtype)
            strides = [sum(out.strides[k] for k, c in enumerate(sub) if c == u) for u in unique]
            view = np.lib.stride_tricks.as_strided(out, g.shape, strides, writeable=True)
            view[...] = g
            grads.append(out)
        return tuple(grads)


class NoGradFn(Function):
    """A NumPy-computed result (``value``) of an op nncore has no backward for: backward
    raises NotImplementedError naming the op."""

    def forward(self, a: np.ndarray, *, value: np.ndarray, op: str) -> np.ndarray:
        self.op = op
        return value

    def backward(self, grad: np.ndarray) -> Any:
        raise NotImplementedError(f"{self.op}: backward is not implemented in nncore (the op is "
                                  f"computed by NumPy without a gradient); detach the input or "
                                  f"use an op with a gradient")
