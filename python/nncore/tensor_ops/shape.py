"""Joining and splitting (``nncore.cat``, ``stack``, ``unbind``...)."""

from __future__ import annotations

from collections.abc import Sequence

from nncore.ops import basic
from nncore.tensor import Tensor, _wrap_dim

__all__ = ["cat", "concat", "concatenate", "stack", "unbind"]
METHODS = ("unbind",)


def _tensors(op: str, tensors: Sequence[Tensor]) -> Sequence[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a sequence of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    return tensors


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    tensors = _tensors("cat", tensors)
    return basic.CatFn.apply(*tensors, axis=_wrap_dim("cat", dim, tensors[0].ndim))


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension."""
    tensors = _tensors("stack", tensors)
    return basic.StackFn.apply(*tensors, axis=_wrap_dim("stack", dim, tensors[0].ndim + 1))


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each without that dimension."""
    d = _wrap_dim("unbind", dim, input.ndim)
    lead = (slice(None),) * d
    return tuple(input[lead + (i,)] for i in range(input.shape[d]))
