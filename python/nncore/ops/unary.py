"""One-input elementwise math (exp2, log1p, trigonometry, erf, logit...): NumPy forward and
backward with PyTorch's derivatives. Forwards run under ``np.errstate(all="ignore")``: PyTorch
returns inf/nan outside a function's domain silently.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from nncore.autograd import Function

_quiet = functools.partial(np.errstate, all="ignore")
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _same(x: Any, like: np.ndarray) -> np.ndarray:
    """``x`` (a NumPy result, maybe a scalar from 0-d math) as an array of ``like``'s dtype."""
    return np.asarray(x, dtype=like.dtype)


class UnaryFn(Function):
    """y = f(a) whose derivative is ``dy(a, y)``: one class per op below, each a forward and
    a derivative, so grad_fn names the op."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        with _quiet():
            y = _same(self.f(a), a)
        self.save_for_backward(a, y)
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a, y = self.saved_tensors
        with _quiet():
            return grad * self.dy(a, y)

    @staticmethod
    def f(a: np.ndarray) -> Any:
        raise NotImplementedError

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        raise NotImplementedError


class LogFn(UnaryFn):
    f = staticmethod(np.log)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / a


class SqrtFn(UnaryFn):
    f = staticmethod(np.sqrt)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 0.5 / y


class SigmoidFn(UnaryFn):
    """NumPy sigmoid for the dtypes the native kernel lacks (float16)."""

    @staticmethod
    def f(a: np.ndarray) -> Any:
        return 0.5 * (1 + np.tanh(0.5 * a))

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return y * (1 - y)


class TanhFn(UnaryFn):
    """NumPy tanh for the dtypes the native kernel lacks (float16)."""

    f = staticmethod(np.tanh)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 - y * y


class ReciprocalFn(UnaryFn):
    f = staticmethod(np.reciprocal)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return -(y * y)


class SquareFn(UnaryFn):
    f = staticmethod(np.square)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 2 * a


class RsqrtFn(UnaryFn):
    @staticmethod
    def f(a: np.ndarray) -> Any:
        return 1 / np.sqrt(a)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return -0.5 * y * y * y


class Exp2Fn(UnaryFn):
    f = staticmethod(np.exp2)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return y * _LN2


class Expm1Fn(UnaryFn):
    f = staticmethod(np.expm1)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return y + 1


class Log2Fn(UnaryFn):
    f = staticmethod(np.log2)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / (a * _LN2)


class Log10Fn(UnaryFn):
    f = staticmethod(np.log10)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / (a * _LN10)


class Log1pFn(UnaryFn):
    f = staticmethod(np.log1p)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / (1 + a)


class SinFn(UnaryFn):
    f = staticmethod(np.sin)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return np.cos(a)


class CosFn(UnaryFn):
    f = staticmethod(np.cos)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return -np.sin(a)


class TanFn(UnaryFn):
    f = staticmethod(np.tan)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 + y * y


class AsinFn(UnaryFn):
    f = staticmethod(np.arcsin)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / np.sqrt(1 - a * a)


class AcosFn(UnaryFn):
    f = staticmethod(np.arccos)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return -1 / np.sqrt(1 - a * a)


class AtanFn(UnaryFn):
    f = staticmethod(np.arctan)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / (1 + a * a)


class SinhFn(UnaryFn):
    f = staticmethod(np.sinh)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return np.cosh(a)


class CoshFn(UnaryFn):
    f = staticmethod(np.cosh)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return np.sinh(a)


class AsinhFn(UnaryFn):
    f = staticmethod(np.arcsinh)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / np.sqrt(a * a + 1)


class AcoshFn(UnaryFn):
    f = staticmethod(np.arccosh)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / np.sqrt(a * a - 1)


class AtanhFn(UnaryFn):
    f = staticmethod(np.arctanh)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return 1 / (1 - a * a)


# NOTE: NumPy has no erf; the C library's (through math.erf) is exact to the last bit and costs
# about 50 ns per element, fine for an op training scripts call rarely (GELU is native).
_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def erf(a: np.ndarray) -> np.ndarray:
    return np.asarray(_erf(a), dtype=a.dtype)


def erfinv(y: np.ndarray) -> np.ndarray:
    """Inverse error function in float64 precision: Winitzki's closed form (0.2% error) then
    four Newton steps, on erf for |y| <= 0.5 and on erfc(x) = 1 - |y| beyond, where 1 - |y| is
    exact and erfc keeps its relative precision into the tail."""
    v = np.abs(np.asarray(y, dtype=np.float64))
    with _quiet():
        w = np.log1p(-v * v)
        t = 2 / (math.pi * 0.147) + w / 2
        x = np.sqrt(np.sqrt(t * t - w / 0.147) - t)
        small = v <= 0.5
        q = 1 - v
        for _ in range(4):
            slope = _TWO_OVER_SQRT_PI * np.exp(-x * x)
            xs = np.where(np.isfinite(x), x, 0.0)
            err = np.where(small, np.asarray(_erf(xs), np.float64) - v,
                           q - np.asarray(_erfc(xs), np.float64))
            x = np.where(np.isfinite(x) & (slope > 0), x - err / slope, x)
        x = np.where(v == 1, np.inf, np.where(v > 1, np.nan, x))
    return np.asarray(np.copysign(x, y), dtype=np.asarray(y).dtype)


class ErfFn(UnaryFn):
    f = staticmethod(erf)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return _TWO_OVER_SQRT_PI * np.exp(-a * a)


class ErfinvFn(UnaryFn):
    f = staticmethod(erfinv)

    @staticmethod
    def dy(a: np.ndarray, y: np.ndarray) -> Any:
        return (math.sqrt(math.pi) / 2) * np.exp(y * y)


class FracFn(Function):
    """a - trunc(a); the gradient passes unchanged."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a - np.trunc(a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class LogitFn(Function):
    """log(z / (1 - z)) with z = a clamped to [eps, 1 - eps] when eps is given; the gradient
    is zero where the clamp bit."""

    def forward(self, a: np.ndarray, *, eps: float | None) -> np.ndarray:
        self.save_for_backward(a)
        self.eps = eps
        z = a if eps is None else np.clip(a, eps, 1 - eps)
        with _quiet():
            return _same(np.log(z / (1 - z)), a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (a,) = self.saved_tensors
        with _quiet():
            g = grad / (a * (1 - a))
        if self.eps is not None:
            g = np.where((a < self.eps) | (a > 1 - self.eps), 0, g).astype(grad.dtype)
        return g


class NanToNumFn(Function):
    """nan, +inf and -inf replaced by numbers; the gradient passes where a was finite."""

    def forward(self, a: np.ndarray, *, nan: float, posinf: float, neginf: float) -> np.ndarray:
        self.save_for_backward(a)
        return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * np.isfinite(self.saved_tensors[0])


class StepFn(Function):
    """A piecewise-constant op (sign, floor, ceil, round, trunc): zero gradient, as PyTorch."""

    def forward(self, a: np.ndarray, *, f: Callable[[np.ndarray], Any]) -> np.ndarray:
        return _same(f(a), a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.zeros_like(grad)
