"""Linear layers: Identity, Linear, Bilinear (PyTorch's ``torch.nn.modules.linear``)."""

from __future__ import annotations

import math
from typing import Any

from nncore import functional as F
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.module import Module
from nncore.nn.parameter import empty_parameter
from nncore.tensor import Tensor

__all__ = ["Bilinear", "Identity", "Linear", "NonDynamicallyQuantizableLinear"]


class Identity(Module):
    """Returns its input; any constructor arguments are ignored.

    Shape:
        input (*) -> output (*), the same object.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x @ weight^T + bias, initialised as PyTorch does (U(-1/sqrt(in), 1/sqrt(in))).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("Linear", device, dtype)
        if in_features < 0 or out_features < 0:
            raise RuntimeError(f"Linear: Trying to create tensor with negative dimension: "
                               f"in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter((out_features, in_features), dt)
        if bias:
            self.bias = empty_parameter((out_features,), dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight (a = sqrt(5)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return linear_call(self, input, False)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def linear_call(module: Module, x: Any, relu: bool) -> Tensor:
    """``F.linear`` (``F.linear_relu`` with ``relu``) of ``x`` with ``module``'s weight and bias.

    NOTE: the hot path of every Linear: the parameters are read from ``_parameters`` (through
    Module.__getattr__ each costs ~0.6 us).

    Args:
        module: a Linear.
        x: the input.
        relu: apply ReLU to the output (one fused op each way, the same bits).
    Returns:
        The output Tensor.
    """
    params = module._parameters
    if "weight" in params and "bias" in params:
        w, b = params["weight"], params["bias"]
    else:  # the parameters replaced by plain attributes (``del m.weight; m.weight = t``)
        w, b = module.weight, module.bias
    return (F.linear_relu if relu else F.linear)(x, w, b)


class NonDynamicallyQuantizableLinear(Linear):
    """Linear under the name PyTorch gives MultiheadAttention's ``out_proj``."""


class Bilinear(Module):
    """y = x1^T A x2 + b for each output feature, initialised U(-1/sqrt(in1), 1/sqrt(in1)).

    Args:
        in1_features: size of each first input sample.
        in2_features: size of each second input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input1 (*, in1_features), input2 (*, in2_features) -> output (*, out_features).
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("Bilinear", device, dtype)
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = empty_parameter((out_features, in1_features, in2_features), dt)
        if bias:
            self.bias = empty_parameter((out_features,), dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight and bias U(-1/sqrt(in1_features), 1/sqrt(in1_features))."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
