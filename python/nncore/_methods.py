"""Tensor methods and operators that are namespace or functional functions: ``t.exp()`` is
``nncore.exp(t)``, ``t.relu()`` is ``nncore.nn.functional.relu(t)``, ``a + b`` is
``nncore.add(a, b)``, ``a @ b`` is ``nncore.nn.functional.matmul(a, b)``. Each
``nncore.tensor_ops`` module (and ``nncore._namespace``) lists in ``METHODS`` the functions that
are also methods; they are installed once at import, so each is written once and both spellings
share its checks. Those modules import ``nncore.tensor``, so the class cannot import them: this
module, imported last, is where the layers above the Tensor attach to it. Methods whose signature
differs from the function (``view``, ``permute``, ``expand``, ``size``...) are defined on the
class in ``tensor.py``."""

from __future__ import annotations

from typing import Any, Callable

from nncore import _namespace, functional
from nncore.tensor import Tensor
from nncore.tensor_ops import MODULES, pointwise

_FUNCTIONAL_METHODS = ("log_softmax", "relu", "sigmoid", "softmax", "tanh")
# Operator -> the namespace function it is, with the operands in order or swapped.
_BINARY = {"add": pointwise.add, "sub": pointwise.sub, "mul": pointwise.mul,
           "truediv": pointwise.div, "floordiv": pointwise.floor_divide,
           "mod": pointwise.remainder, "pow": pointwise.pow}


def _swapped(fn: Callable[..., Tensor]) -> Callable[[Tensor, Any], Tensor]:
    def reflected(self: Tensor, other: Any) -> Tensor:
        return fn(other, self)

    return reflected


def _matmul(self: Tensor, other: Any) -> Tensor:
    return functional.matmul(self, self._other(other))


def _rmatmul(self: Tensor, other: Any) -> Tensor:
    return functional.matmul(self._other(other), self)


def install() -> None:
    """Attach the methods and operators to ``Tensor`` (once, from ``nncore/__init__``)."""
    for module in (*MODULES, _namespace):
        for name in module.METHODS:
            setattr(Tensor, name, getattr(module, name))
    for name in _FUNCTIONAL_METHODS:
        if not hasattr(Tensor, name):
            setattr(Tensor, name, getattr(functional, name))
    for name, fn in _BINARY.items():
        setattr(Tensor, f"__{name}__", fn)
        setattr(Tensor, f"__r{name}__", _swapped(fn))
    Tensor.__neg__ = pointwise.neg
    Tensor.__abs__ = pointwise.abs
    Tensor.__matmul__ = _matmul
    Tensor.__rmatmul__ = _rmatmul
    if not hasattr(Tensor, "matmul"):
        Tensor.matmul = Tensor.__matmul__
