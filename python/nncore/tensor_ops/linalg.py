"""Linear algebra (``nncore.mm``, ``bmm``, ``einsum``...): products go through the native GEMM."""

from __future__ import annotations

__all__: list[str] = []
METHODS: tuple[str, ...] = ()
