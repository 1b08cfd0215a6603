"""Activation layers and Dropout, with PyTorch's constructor arguments and reprs.

``inplace`` is accepted so PyTorch model code ports unchanged; nncore always computes out of
place (the result is the same, only the input's storage is left untouched).
"""

from __future__ import annotations

import warnings

from nncore import functional as F
from nncore.nn.module import Module
from nncore.tensor import Tensor


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """max(x, 0) elementwise.

    Args:
        inplace: accepted for PyTorch compatibility (computed out of place).
    Shape:
        input (*) -> output (*).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x.

    Args:
        negative_slope: slope for negative inputs.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Shape:
        input (*) -> output (*).
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x)) elementwise.

    Shape:
        input (*) -> output (*).
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x) elementwise.

    Shape:
        input (*) -> output (*).
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    """Gaussian error linear unit x * Phi(x).

    Args:
        approximate: "none" (exact, erf) or "tanh".
    Shape:
        input (*) -> output (*).
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _implicit_dim(name: str, ndim: int) -> int:
    # NOTE: PyTorch's legacy rule for a layer built without dim, warning as PyTorch does.
    dim = 0 if ndim in (0, 1, 3) else 1
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim={dim} as an argument.", UserWarning, stacklevel=3)
    return dim


class Softmax(Module):
    """Softmax along ``dim``: non-negative values summing to 1.

    Args:
        dim: the axis that sums to 1. None picks PyTorch's legacy default (0 for 0-, 1- and 3-D
            inputs, else 1) with a warning.
    Shape:
        input (*) -> output (*).
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = _implicit_dim("softmax", x.ndim) if self.dim is None else self.dim
        return F.softmax(x, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``.

    Args:
        dim: the axis to normalise over. None picks PyTorch's legacy default (0 for 0-, 1- and
            3-D inputs, else 1) with a warning.
    Shape:
        input (*) -> output (*).
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = _implicit_dim("log_softmax", x.ndim) if self.dim is None else self.dim
        return F.log_softmax(x, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Dropout(Module):
    """Zeroes elements with probability ``p`` during training and scales the rest by 1/(1-p);
    the identity in eval mode.

    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: accepted for PyTorch compatibility (computed out of place).
    Shape:
        input (*) -> output (*).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
