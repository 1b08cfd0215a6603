"""Linear layer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn.module import Module
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor


class Linear(Module):
    """y = x @ weight^T + bias, initialised as PyTorch does (U(-1/sqrt(in), 1/sqrt(in))).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        dtype: parameter dtype (float32 by default).
    Shape:
        input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: features must be positive, got in_features={in_features},"
                             f" out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.zeros((out_features, in_features)), dtype=dtype)
        self.bias = Parameter(np.zeros(out_features), dtype=dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
