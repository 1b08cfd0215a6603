"""Activation layers with PyTorch's constructor arguments, attributes and reprs.

``inplace`` is accepted so PyTorch model code ports unchanged; nncore always computes out of
place (the result is the same, only the input's storage is left untouched).
"""

from __future__ import annotations

import warnings
from typing import Any

from nncore import functional as F
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.dropout import Dropout  # noqa: F401  (kept importable from here)
from nncore.nn.module import Module
from nncore.nn.parameter import empty_parameter
from nncore.tensor import Tensor

__all__ = [
    "CELU", "ELU", "GELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
    "LeakyReLU", "LogSigmoid", "LogSoftmax", "Mish", "PReLU", "RReLU", "ReLU", "ReLU6", "SELU",
    "SiLU", "Sigmoid", "Softmax", "Softmax2d", "Softmin", "Softplus", "Softshrink", "Softsign",
    "Tanh", "Tanhshrink", "Threshold",
]


def _inplace(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""


class _Inplace(Module):
    """A parameter-free activation with only PyTorch's ``inplace`` flag; ``_fn`` is the
    functional form and ``_show_inplace`` whether the repr shows the flag."""

    _show_inplace = True

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace and self._show_inplace else ""


class ReLU(_Inplace):
    """max(x, 0) elementwise.

    Args:
        inplace: accepted for PyTorch compatibility (computed out of place).
    Shape:
        input (*) -> output (*).
    """

    _fn = staticmethod(F.relu)


class SiLU(_Inplace):
    """x * sigmoid(x) elementwise (swish). Shape: (*) -> (*)."""

    _fn = staticmethod(F.silu)


class Mish(_Inplace):
    """x * tanh(softplus(x)) elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.mish)


class SELU(_Inplace):
    """scale * elu(x, alpha) with SELU's constants. Shape: (*) -> (*)."""

    _fn = staticmethod(F.selu)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6 elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.hardswish)
    _show_inplace = False


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6 elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.hardsigmoid)
    _show_inplace = False


class _Plain(Module):
    """A parameter-free activation without arguments; ``_fn`` is the functional form."""

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)


class Sigmoid(_Plain):
    """1 / (1 + exp(-x)) elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.sigmoid)


class Tanh(_Plain):
    """tanh(x) elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.tanh)


class LogSigmoid(_Plain):
    """log(sigmoid(x)) elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.logsigmoid)


class Softsign(_Plain):
    """x / (1 + |x|) elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.softsign)


class Tanhshrink(_Plain):
    """x - tanh(x) elementwise. Shape: (*) -> (*)."""

    _fn = staticmethod(F.tanhshrink)


class Threshold(Module):
    """x where x > threshold, else ``value``.

    Args:
        threshold: the threshold.
        value: the replacement below it.
        inplace: accepted for PyTorch compatibility (computed out of place).
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{_inplace(self.inplace)}"


class Hardtanh(Module):
    """x clamped to [min_val, max_val].

    Args:
        min_val, max_val: the bounds (max_val > min_val).
        inplace: accepted for PyTorch compatibility (computed out of place).
        min_value, max_value: deprecated spellings of min_val, max_val (warn).
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and rename to `min_val`",
                          FutureWarning, stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and rename to `max_val`",
                          FutureWarning, stacklevel=2)
            max_val = max_value
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace
        if self.max_val <= self.min_val:
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace)}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) elementwise (Hardtanh(0, 6))."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class RReLU(Module):
    """Randomised leaky ReLU: negative slopes drawn from U(lower, upper) in training, their mean
    in eval.

    Args:
        lower, upper: bounds of the slope distribution.
        inplace: accepted for PyTorch compatibility (computed out of place).
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False
                 ) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{_inplace(self.inplace)}"


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x.

    Args:
        negative_slope: slope for negative inputs.
        inplace: accepted for PyTorch compatibility (computed out of place).
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace)}"


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1).

    Args:
        alpha: the negative saturation value's magnitude.
        inplace: accepted for PyTorch compatibility (computed out of place).
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class CELU(ELU):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha)


class GELU(Module):
    """Gaussian error linear unit x * Phi(x).

    Args:
        approximate: "none" (exact, erf) or "tanh".
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class GLU(Module):
    """a * sigmoid(b) of the halves of ``dim``.

    Args:
        dim: the dim to halve.
    Shape:
        (*, 2N, *) -> (*, N, *).
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0.

    Args:
        lambd: the threshold.
    """

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x - lambd above lambd, x + lambd below -lambd, else 0."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softshrink(input, self.lambd)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold.

    Args:
        beta: the sharpness.
        threshold: above it the layer is the identity (numerical stability).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """max(0, x) + a * min(0, x) with learnable slopes ``weight`` (one, or one per channel).

    Args:
        num_parameters: 1, or the number of channels (dim 1 of the input).
        init: the initial slope.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        (N, C, *) or (*) -> the same.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = empty_parameter((num_parameters,), param_dtype("PReLU", device, dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _SoftmaxBase(Module):
    _fn: Any

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("dim", None)

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """Softmax along ``dim``: non-negative values summing to 1.

    Args:
        dim: the axis that sums to 1 (None: PyTorch's legacy choice, with a warning).
    """

    _fn = staticmethod(F.softmax)


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along ``dim``.

    Args:
        dim: the axis to normalise over (None: PyTorch's legacy choice, with a warning).
    """

    _fn = staticmethod(F.log_softmax)


class Softmin(_SoftmaxBase):
    """softmax(-x) along ``dim``.

    Args:
        dim: the axis that sums to 1 (None: PyTorch's legacy choice, with a warning).
    """

    _fn = staticmethod(F.softmin)


class Softmax2d(Module):
    """Softmax over the channels at every spatial position.

    Shape:
        (N, C, H, W) or (C, H, W) -> the same.
    """

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D "
                             f"instead")
        return F.softmax(input, -3, _stacklevel=5)
