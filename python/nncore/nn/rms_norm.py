"""RMSNorm: root-mean-square layer normalisation (PyTorch's ``nn.RMSNorm``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.functional.rms_norm import rms_norm
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.module import Module
from nncore.nn.parameter import empty_parameter
from nncore.tensor import Tensor

__all__ = ["RMSNorm"]


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape`` dims.

    Args:
        normalized_shape: int or tuple, the trailing dims.
        eps: added to the mean square (the input dtype's machine epsilon when None).
        elementwise_affine: learn ``weight`` (init 1).
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        (*, *normalized_shape) -> the same.
    """

    def __init__(self, normalized_shape: Any, eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("RMSNorm", device, dtype)
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
            tuple(normalized_shape)
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = empty_parameter(self.normalized_shape, dt)
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
