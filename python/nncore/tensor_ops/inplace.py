"""In-place Tensor methods (``add_``, ``mul_``, ``clamp_``, ``copy_``, ``fill_``,
``masked_fill_``, ``sigmoid_``...), with PyTorch's rules from ``Tensor._inplace``: a leaf that
requires grad refuses while grad mode is on; when autograd records the op the tensor takes the
result's history; otherwise the result goes into the tensor's memory (views see it) and its
version counter moves, so a backward that saved the old value raises.

When no gradient is involved (``p.data.add_(g, alpha=-lr)``, anything under ``no_grad``) the
arithmetic ones compute straight into the tensor's memory, with no temporary tensor.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nncore import autograd
from nncore.ops import _promote
from nncore.ops import pointwise as pw
from nncore.tensor import Tensor
from nncore.tensor_ops import comparison as cmp
from nncore.tensor_ops import pointwise as pt
from nncore.tensor_ops import transcendental as tr

__all__: list[str] = []


def _recorded(self: Tensor, *others: Any) -> bool:
    """Whether autograd must record an in-place op on ``self`` with ``others``."""
    if not autograd._grad_enabled:
        return False
    return self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others)


def add_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """self += alpha * other."""
    if pt.binary_inplace(self, "add_", np.add, other, alpha):
        return self
    return self._inplace("add_", lambda: pt.add(self, other, alpha=alpha))


def sub_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """self -= alpha * other."""
    if self._array.dtype.kind != "b" and pt.binary_inplace(self, "sub_", np.subtract, other,
                                                           alpha):
        return self
    return self._inplace("sub_", lambda: pt.sub(self, other, alpha=alpha))


def mul_(self: Tensor, other: Any) -> Tensor:
    """self *= other."""
    if pt.binary_inplace(self, "mul_", np.multiply, other):
        return self
    return self._inplace("mul_", lambda: pt.mul(self, other))


def div_(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """self /= other (true division; integer tensors need ``rounding_mode``)."""
    if rounding_mode is None and pt.binary_inplace(self, "div_", np.true_divide, other,
                                                   floating=True):
        return self
    return self._inplace("div_", lambda: pt.div(self, other, rounding_mode=rounding_mode))


def _same_dtype(self: Tensor, *others: Any) -> bool:
    d = self._array.dtype
    return self._array.flags.writeable and all(
        (o._array.dtype == d) if isinstance(o, Tensor) else isinstance(o, (int, float))
        for o in others)


def _into(self: Tensor, op: str, compute: Callable[[np.ndarray], None]) -> Tensor:
    arr = self._array
    try:
        compute(arr)
    except ValueError as e:
        raise RuntimeError(f"{op}: output with shape {list(arr.shape)} doesn't match the "
                           f"broadcast shape of the operands ({e})") from None
    self._bump()
    return self


def addcmul_(self: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    """self += value * tensor1 * tensor2."""
    if not _recorded(self, tensor1, tensor2) and _same_dtype(self, tensor1, tensor2):
        def compute(arr: np.ndarray) -> None:
            t = np.multiply(tensor1._array, tensor2._array)
            if value != 1:
                t *= value
            np.add(arr, t, out=arr)

        return _into(self, "addcmul_", compute)
    return self._inplace("addcmul_", lambda: pt.addcmul(self, tensor1, tensor2, value=value))


def addcdiv_(self: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    """self += value * tensor1 / tensor2."""
    if (not _recorded(self, tensor1, tensor2) and self._array.dtype.kind in "fc"
            and _same_dtype(self, tensor1, tensor2)):
        def compute(arr: np.ndarray) -> None:
            with np.errstate(all="ignore"):
                t = np.true_divide(tensor1._array, tensor2._array)
            if value != 1:
                t *= value
            np.add(arr, t, out=arr)

        return _into(self, "addcdiv_", compute)
    return self._inplace("addcdiv_", lambda: pt.addcdiv(self, tensor1, tensor2, value=value))


def lerp_(self: Tensor, end: Tensor, weight: Any) -> Tensor:
    """self += weight * (end - self)."""
    if not _recorded(self, end, weight) and _same_dtype(self, end, weight) \
            and self._array.dtype.kind in "fc":
        w = weight._array if isinstance(weight, Tensor) else weight
        return _into(self, "lerp_", lambda arr: np.add(arr, w * (end._array - arr), out=arr))
    return self._inplace("lerp_", lambda: pt.lerp(self, end, weight))


def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Limit each element to [min, max] in place."""
    return self._inplace("clamp_", lambda: pt.clamp(self, min, max))


clip_ = clamp_


def clamp_min_(self: Tensor, min: Any) -> Tensor:  # noqa: A002
    """self = max(self, min)."""
    return self._inplace("clamp_min_", lambda: pt.clamp(self, min=min))


def clamp_max_(self: Tensor, max: Any) -> Tensor:  # noqa: A002
    """self = min(self, max)."""
    return self._inplace("clamp_max_", lambda: pt.clamp(self, max=max))


def pow_(self: Tensor, exponent: Any) -> Tensor:
    """self = self ** exponent."""
    return self._inplace("pow_", lambda: pt.pow(self, exponent))


def fill_(self: Tensor, value: Any) -> Tensor:
    """Every element set to ``value`` (a number or a 0-d tensor, cast to this dtype)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions.")
        if _recorded(self, value):
            return self._inplace("fill_", lambda: pw.CopyFn.apply(self, value))
        value = value._array
    if _recorded(self):
        full = np.full(self._array.shape, value, self._array.dtype)
        return self._inplace("fill_", lambda: pw.ReplaceFn.apply(self, value=full))
    self._write("fill_", np.asarray(value), casting="unsafe")
    return self


def zero_(self: Tensor) -> Tensor:
    """Every element set to 0."""
    return fill_(self, 0)


def copy_(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` into this tensor: any dtype (cast), any shape that broadcasts to this
    one's. The gradient flows to ``src``."""
    src = _promote.tensor("copy_", src, "src")
    if _recorded(self, src):
        return self._inplace("copy_", lambda: pw.CopyFn.apply(self, src))
    self._write("copy_", src._array, casting="unsafe")
    return self




def _make(name: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The in-place method ``<name>_`` of the out-of-place function ``fn``."""
    op = name + "_"

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self._inplace(op, lambda: fn(self, *args, **kwargs))

    method.__name__ = op
    method.__qualname__ = f"Tensor.{op}"
    method.__doc__ = f"In-place ``{name}``: ``self.{op}(...)`` is ``self = {name}(self, ...)``."
    return method


neg_ = _make("neg", pt.neg)
negative_ = _make("negative", pt.neg)
abs_ = _make("abs", pt.abs)
absolute_ = _make("absolute", pt.abs)
sqrt_ = _make("sqrt", pt.sqrt)
rsqrt_ = _make("rsqrt", pt.rsqrt)
square_ = _make("square", pt.square)
reciprocal_ = _make("reciprocal", pt.reciprocal)
sign_ = _make("sign", pt.sign)
floor_ = _make("floor", pt.floor)
ceil_ = _make("ceil", pt.ceil)
round_ = _make("round", pt.round)
trunc_ = _make("trunc", pt.trunc)
frac_ = _make("frac", pt.frac)
fmod_ = _make("fmod", pt.fmod)
remainder_ = _make("remainder", pt.remainder)
floor_divide_ = _make("floor_divide", pt.floor_divide)
exp_ = _make("exp", tr.exp)
exp2_ = _make("exp2", tr.exp2)
expm1_ = _make("expm1", tr.expm1)
log_ = _make("log", tr.log)
log2_ = _make("log2", tr.log2)
log10_ = _make("log10", tr.log10)
log1p_ = _make("log1p", tr.log1p)
sin_ = _make("sin", tr.sin)
cos_ = _make("cos", tr.cos)
tan_ = _make("tan", tr.tan)
sinh_ = _make("sinh", tr.sinh)
cosh_ = _make("cosh", tr.cosh)
atan2_ = _make("atan2", tr.atan2)
erf_ = _make("erf", tr.erf)
erfinv_ = _make("erfinv", tr.erfinv)
logit_ = _make("logit", tr.logit)
nan_to_num_ = _make("nan_to_num", tr.nan_to_num)
sigmoid_ = _make("sigmoid", tr.sigmoid)
tanh_ = _make("tanh", tr.tanh)
relu_ = _make("relu", tr.relu)
logical_not_ = _make("logical_not", cmp.logical_not)
logical_and_ = _make("logical_and", cmp.logical_and)
logical_or_ = _make("logical_or", cmp.logical_or)
logical_xor_ = _make("logical_xor", cmp.logical_xor)
eq_ = _make("eq", cmp.eq)
ne_ = _make("ne", cmp.ne)
lt_ = _make("lt", cmp.lt)
le_ = _make("le", cmp.le)
gt_ = _make("gt", cmp.gt)
ge_ = _make("ge", cmp.ge)

# NOTE: every public function of this module ending in "_" is a Tensor method.
METHODS = tuple(name for name, value in list(globals().items())
                if name.endswith("_") and not name.startswith("_") and callable(value))
