"""Loss modules with PyTorch's constructor arguments; class weights are buffers, as in PyTorch."""

from __future__ import annotations

import warnings
from typing import Any

from nncore import functional as F
from nncore.functional._checks import check_reduction
from nncore.nn.module import Module
from nncore.tensor import Tensor


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """PyTorch's mapping of the deprecated size_average/reduce flags to a reduction string."""
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='mean',"
                  " 'sum' or 'none' instead.", UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error (input - target)^2.

    Args:
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |input - target|.

    Args:
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at class indices.

    Args:
        weight: per-class rescaling (C,), stored as the buffer ``weight``.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        ignore_index: target value that contributes neither loss nor gradient.
        reduction: 'none', 'mean' (by the summed weights of kept targets) or 'sum'.
    Shape:
        input (N, C) or (N, C, d1, ...), target (N,) or (N, d1, ...) int64.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy between logits and class indices or class probabilities.

    Args:
        weight: per-class rescaling (C,), stored as the buffer ``weight``.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        ignore_index: class index that contributes neither loss nor gradient.
        reduction: 'none', 'mean' or 'sum'.
        label_smoothing: mixes the target with the uniform distribution, in [0, 1].
    Shape:
        input (N, C), (C,) or (N, C, d1, ...); target int64 (N,), () or (N, d1, ...), or
        probabilities of the input's shape.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one numerically stable step.

    Args:
        weight: rescaling broadcast to the input's shape, stored as the buffer ``weight``.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: weight of positive examples per class (C,), the buffer ``pos_weight``.
    Shape:
        input (*, C), target (*, C) -> scalar, or (*, C) for 'none'.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
