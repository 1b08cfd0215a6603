"""Tensor methods that are namespace functions under another name: ``t.exp()`` is
``nncore.exp(t)``, ``t.relu()`` is ``nncore.nn.functional.relu(t)``. Installed once at import,
so each function is written once and both spellings share its checks."""

from __future__ import annotations

from nncore import functional
from nncore.tensor import Tensor
from nncore.tensor_ops import pointwise, reduction, shape

_FROM_MODULE = {
    pointwise: ("abs", "clamp", "clip", "exp", "log", "sqrt"),
    reduction: ("amax", "amin", "argmax", "argmin", "max", "mean", "min", "sum"),
    shape: ("unbind",),
    functional: ("log_softmax", "relu", "sigmoid", "softmax", "tanh"),
}


def install() -> None:
    for module, names in _FROM_MODULE.items():
        for name in names:
            setattr(Tensor, name, getattr(module, name))
    Tensor.matmul = Tensor.__matmul__
