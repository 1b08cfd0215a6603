"""Normalisation layers: BatchNorm and LayerNorm, with PyTorch's names, parameters and defaults."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn.module import Module
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor

# ==== layer_norm ==================================================================================


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims, then scales and shifts per element.

    Args:
        normalized_shape: int or tuple, the trailing dims to normalise over.
        eps: added to the (biased) variance.
        elementwise_affine: learn ``weight`` (init 1) and, when ``bias``, ``bias`` (init 0).
        bias: learn an additive bias (with elementwise_affine).
        dtype: parameter dtype (float32 by default).
    Shape:
        input (*, *normalized_shape) -> output of the same shape.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
            normalized_shape)
        if not shape or math.prod(shape) <= 0:
            raise ValueError(f"LayerNorm: normalized_shape must be non-empty and positive, got "
                             f"{normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(shape), dtype=dtype) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape), dtype=dtype) if elementwise_affine and bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


# ==== end layer_norm ==============================================================================
