"""Elementwise exponentials, logarithms, trigonometry and friends (``nncore.exp``, ``sin``,
``erf``, ``sigmoid``...). Integer and bool inputs give the default float dtype, as in PyTorch;
``sigmoid``, ``tanh`` and ``relu`` run the native kernels of the activation family.
(``nncore.softmax`` and ``log_softmax`` are ``nncore.nn.functional``'s: see nncore._namespace.)"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import dtypes
from nncore.ops import _promote, basic
from nncore.ops import activation as act
from nncore.ops import pointwise as pw
from nncore.ops import unary as un
from nncore.tensor import Tensor
from nncore.tensor_ops.pointwise import no_out

__all__ = [
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "asin", "asinh", "atan", "atan2", "atanh", "cos", "cosh", "erf", "erfinv", "exp", "exp2",
    "expm1", "log", "log10", "log1p", "log2", "logit", "nan_to_num", "relu", "sigmoid", "sin",
    "sinh", "tan", "tanh",
]
METHODS = tuple(__all__)


_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def _float(op: str, input: Any) -> Tensor:
    return _promote.float_input(op, input)


def exp(input: Tensor, *, out: Any = None) -> Tensor:
    """e ** input."""
    no_out("exp", out)
    t = _float("exp", input)
    with np.errstate(over="ignore"):  # overflow gives inf without a warning, as in PyTorch
        return basic.ExpFn.apply(t)


def exp2(input: Tensor, *, out: Any = None) -> Tensor:
    """2 ** input."""
    no_out("exp2", out)
    return un.Exp2Fn.apply(_float("exp2", input))


def expm1(input: Tensor, *, out: Any = None) -> Tensor:
    """exp(input) - 1, accurate near 0."""
    no_out("expm1", out)
    return un.Expm1Fn.apply(_float("expm1", input))


def log(input: Tensor, *, out: Any = None) -> Tensor:
    """Natural logarithm (-inf at 0, nan below)."""
    no_out("log", out)
    return un.LogFn.apply(_float("log", input))


def log2(input: Tensor, *, out: Any = None) -> Tensor:
    """Base-2 logarithm."""
    no_out("log2", out)
    return un.Log2Fn.apply(_float("log2", input))


def log10(input: Tensor, *, out: Any = None) -> Tensor:
    """Base-10 logarithm."""
    no_out("log10", out)
    return un.Log10Fn.apply(_float("log10", input))


def log1p(input: Tensor, *, out: Any = None) -> Tensor:
    """log(1 + input), accurate near 0."""
    no_out("log1p", out)
    return un.Log1pFn.apply(_float("log1p", input))


def sin(input: Tensor, *, out: Any = None) -> Tensor:
    """Sine."""
    no_out("sin", out)
    return un.SinFn.apply(_float("sin", input))


def cos(input: Tensor, *, out: Any = None) -> Tensor:
    """Cosine."""
    no_out("cos", out)
    return un.CosFn.apply(_float("cos", input))


def tan(input: Tensor, *, out: Any = None) -> Tensor:
    """Tangent."""
    no_out("tan", out)
    return un.TanFn.apply(_float("tan", input))


def asin(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse sine (nan outside [-1, 1])."""
    no_out("asin", out)
    return un.AsinFn.apply(_float("asin", input))


def acos(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse cosine (nan outside [-1, 1])."""
    no_out("acos", out)
    return un.AcosFn.apply(_float("acos", input))


def atan(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse tangent."""
    no_out("atan", out)
    return un.AtanFn.apply(_float("atan", input))


def atan2(input: Tensor, other: Tensor, *, out: Any = None) -> Tensor:
    """The angle of the point (other, input), in (-pi, pi]."""
    no_out("atan2", out)
    a, b = _promote.operands(_promote.tensor("atan2", input),
                             _promote.tensor("atan2", other, "other"), "atan2")
    d = _promote.floating(a._array.dtype)
    return pw.Atan2Fn.apply(_promote.cast(a, d), _promote.cast(b, d))


def sinh(input: Tensor, *, out: Any = None) -> Tensor:
    """Hyperbolic sine."""
    no_out("sinh", out)
    return un.SinhFn.apply(_float("sinh", input))


def cosh(input: Tensor, *, out: Any = None) -> Tensor:
    """Hyperbolic cosine."""
    no_out("cosh", out)
    return un.CoshFn.apply(_float("cosh", input))


def asinh(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse hyperbolic sine."""
    no_out("asinh", out)
    return un.AsinhFn.apply(_float("asinh", input))


def acosh(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse hyperbolic cosine (nan below 1)."""
    no_out("acosh", out)
    return un.AcoshFn.apply(_float("acosh", input))


def atanh(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse hyperbolic tangent (nan outside [-1, 1])."""
    no_out("atanh", out)
    return un.AtanhFn.apply(_float("atanh", input))


arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def tanh(input: Tensor, *, out: Any = None) -> Tensor:
    """Hyperbolic tangent (the native kernel of ``nncore.functional.tanh``)."""
    no_out("tanh", out)
    t = _float("tanh", input)
    return act.TanhFn.apply(t) if t._array.dtype in _NATIVE else un.TanhFn.apply(t)


def sigmoid(input: Tensor, *, out: Any = None) -> Tensor:
    """1 / (1 + exp(-input)) (the native kernel of ``nncore.functional.sigmoid``)."""
    no_out("sigmoid", out)
    t = _float("sigmoid", input)
    return act.SigmoidFn.apply(t) if t._array.dtype in _NATIVE else un.SigmoidFn.apply(t)


def relu(input: Tensor) -> Tensor:
    """max(input, 0); integer tensors stay integer (not differentiable), floats run the
    native kernel."""
    t = _promote.tensor("relu", input)
    d = t._array.dtype
    if d in _NATIVE:
        return act.ReluFn.apply(t)
    if d.kind == "b":
        raise RuntimeError("relu: Boolean inputs not supported for relu")
    if d.kind in "iu":
        return Tensor._wrap(np.maximum(t._array, 0))
    return basic.ClampFn.apply(t, min=0, max=None)


def erf(input: Tensor, *, out: Any = None) -> Tensor:
    """Error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt."""
    no_out("erf", out)
    return un.ErfFn.apply(_float("erf", input))


def erfinv(input: Tensor, *, out: Any = None) -> Tensor:
    """Inverse error function (±inf at ±1, nan outside [-1, 1])."""
    no_out("erfinv", out)
    return un.ErfinvFn.apply(_float("erfinv", input))


def logit(input: Tensor, eps: float | None = None, *, out: Any = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when ``eps`` is given."""
    no_out("logit", out)
    return un.LogitFn.apply(_float("logit", input), eps=eps)


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None, *, out: Any = None) -> Tensor:
    """nan, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the
    dtype's largest and lowest finite values). Integer tensors come back unchanged."""
    no_out("nan_to_num", out)
    t = _promote.tensor("nan_to_num", input)
    d = t._array.dtype
    if d.kind not in "fc":
        return Tensor._wrap(t._array.copy())
    info = dtypes.finfo(d)
    return un.NanToNumFn.apply(t, nan=nan, posinf=info.max if posinf is None else posinf,
                               neginf=info.min if neginf is None else neginf)
