"""Tensor methods that are namespace functions: ``t.exp()`` is ``nncore.exp(t)``, ``t.relu()`` is
``nncore.nn.functional.relu(t)``. Each ``nncore.tensor_ops`` module lists in ``METHODS`` the
functions that are also methods; they are installed once at import, so each is written once and
both spellings share its checks. Methods whose signature differs from the function (``view``,
``permute``, ``expand``, ``size``...) are defined on the class in ``tensor.py``."""

from __future__ import annotations

from nncore import functional
from nncore.tensor import Tensor
from nncore.tensor_ops import MODULES

_FUNCTIONAL_METHODS = ("log_softmax", "relu", "sigmoid", "softmax", "tanh")


def install() -> None:
    for module in MODULES:
        for name in module.METHODS:
            setattr(Tensor, name, getattr(module, name))
    for name in _FUNCTIONAL_METHODS:
        if not hasattr(Tensor, name):
            setattr(Tensor, name, getattr(functional, name))
    if not hasattr(Tensor, "matmul"):
        Tensor.matmul = Tensor.__matmul__
