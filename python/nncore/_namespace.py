"""The ``nncore.*`` functions whose implementation lives in a layer above ``nncore.tensor_ops``:
``softmax`` and ``log_softmax`` are ``nncore.nn.functional``'s, ``norm``, ``det`` and ``inverse``
``nncore.linalg``'s. Those layers import ``tensor_ops``, so these few names live here, above both,
and ``import nncore`` re-exports ``__all__`` as it does a ``tensor_ops`` module's (``METHODS``
are installed on ``Tensor`` by ``nncore._methods``)."""

from __future__ import annotations

from typing import Any

from nncore import functional, linalg
from nncore.tensor import Tensor

__all__ = ["det", "inverse", "log_softmax", "norm", "softmax"]
# NOTE: Tensor.softmax/log_softmax are nn.functional's own (installed by _methods).
METHODS = ("det", "inverse", "norm")


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """``torch.softmax``: ``nncore.nn.functional.softmax`` under the namespace name."""
    return functional.softmax(input, dim=dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """``torch.log_softmax``: ``nncore.nn.functional.log_softmax`` under the namespace name."""
    return functional.log_softmax(input, dim=dim, dtype=dtype)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         out: Any = None, dtype: Any = None) -> Tensor:
    """PyTorch's legacy ``torch.norm``: 'fro' (or a number) is the vector norm over ``dim``
    (all elements when None); 'nuc' the nuclear norm of matrices."""
    if out is not None:
        raise NotImplementedError("norm(out=...): out= is not supported by nncore")
    if isinstance(dim, int):
        dim = (dim,)
    if isinstance(p, str):
        if p == "fro" and (dim is None or len(dim) <= 2):
            return linalg.vector_norm(input, 2, dim, keepdim, dtype=dtype)
        if p == "nuc":
            return linalg.matrix_norm(input, "nuc", (0, 1) if dim is None else dim, keepdim,
                                      dtype=dtype)
        raise RuntimeError(f"norm: p={p!r} is not supported for dim={dim}")
    return linalg.vector_norm(input, 2 if p is None else p, dim, keepdim, dtype=dtype)


def det(input: Tensor) -> Tensor:
    """``nncore.linalg.det``."""
    return linalg.det(input)


def inverse(input: Tensor) -> Tensor:
    """``nncore.linalg.inv``."""
    return linalg.inv(input)
