"""Flatten and Unflatten: reshape layers with PyTorch's arguments."""

from __future__ import annotations

from typing import Any

from nncore.nn.module import Module
from nncore.tensor import Tensor, _wrap_dim

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Flattens dims ``start_dim`` to ``end_dim`` into one (all but the batch dim by default).

    Args:
        start_dim: first dim to flatten.
        end_dim: last dim to flatten.
    Shape:
        (*, S_start, ..., S_end, *) -> (*, S_start * ... * S_end, *).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size`` (one entry may be -1).

    Args:
        dim: the dim to expand.
        unflattened_size: the new sizes, whose product is the size of ``dim``.
    Shape:
        (*, S_dim, *) -> (*, U_1, ..., U_n, *).
    """

    def __init__(self, dim: int | str, unflattened_size: Any) -> None:
        super().__init__()
        if isinstance(dim, str):
            raise NotImplementedError("Unflatten: named dims (a str dim with a namedshape) need "
                                      "PyTorch's named tensors, which nncore does not support")
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"unflattened_size must be tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        for i, s in enumerate(unflattened_size):
            if isinstance(s, bool) or not isinstance(s, int):
                raise TypeError(f"unflattened_size must be tuple of ints, but found element of "
                                f"type {type(s).__name__} at pos {i}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        d = _wrap_dim("unflatten", self.dim, len(shape))
        sizes = list(self.unflattened_size)
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        n = shape[d] if shape else 1
        if sizes.count(-1) > 1:
            raise RuntimeError("unflatten: only one dimension can be inferred")
        if -1 in sizes and known and n % known == 0:
            sizes[sizes.index(-1)] = n // known
        elif -1 in sizes or known != n:
            raise RuntimeError(f"unflatten: Provided sizes {list(self.unflattened_size)} don't "
                               f"multiply up to the size of dim {self.dim} ({n}) in the input "
                               f"tensor")
        return input.reshape(shape[:d] + tuple(sizes) + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
