"""Dropout layers (PyTorch's ``torch.nn.modules.dropout``): elementwise, channel-wise (1-D,
2-D, 3-D) and SELU's alpha dropout; the identity in eval mode."""

from __future__ import annotations

from nncore import functional as F
from nncore.nn.module import Module
from nncore.tensor import Tensor

__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
           "FeatureAlphaDropout"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got "
                             f"{p!r}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes elements with probability ``p`` during training and scales the rest by
    1 / (1 - p).

    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: accepted for PyTorch compatibility (computed out of place).
    Shape:
        input (*) -> output (*).
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels with probability ``p`` in training.

    Shape:
        (N, C, L) or (C, L) -> the same.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels with probability ``p`` in training (``torch.nn.Dropout2d``).

    Args:
        p: probability of zeroing a channel, in [0, 1].
        inplace: accepted for PyTorch compatibility (computed out of place).
    Shape:
        (N, C, H, W) or (C, H, W) -> the same.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels with probability ``p`` in training.

    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> the same.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout3d(input, self.p, self.training)


class AlphaDropout(_DropoutNd):
    """Dropout keeping SELU's zero mean and unit variance (training only).

    Shape:
        input (*) -> output (*).
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (training only).

    Shape:
        (N, C, *) -> the same.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)
