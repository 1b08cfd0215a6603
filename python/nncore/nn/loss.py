"""Loss modules with PyTorch's constructor arguments; class weights are buffers, as in PyTorch."""

from __future__ import annotations

from typing import Any

from nncore import functional as F
from nncore.functional._checks import check_reduction, legacy_reduction
from nncore.nn.module import Module
from nncore.tensor import Tensor


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = legacy_reduction(size_average, reduce)
        if reduction != "batchmean" or not isinstance(self, KLDivLoss):
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


class SmoothL1Loss(_Loss):
    """Smooth L1: quadratic below ``beta``, linear above (``torch.nn.SmoothL1Loss``).

    Args:
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
        beta: the switch point, >= 0 (0: L1).
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Huber loss: quadratic below ``delta``, delta-scaled linear above (``torch.nn.HuberLoss``).

    Args:
        reduction: 'none', 'mean' or 'sum'.
        delta: the switch point, > 0.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (``torch.nn.BCELoss``).

    Args:
        weight: rescaling broadcast to the input's shape, stored as the buffer ``weight``.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*) in [0, 1], target (*) -> scalar, or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class KLDivLoss(_Loss):
    """KL divergence of log-probability inputs from the target (``torch.nn.KLDivLoss``).

    Args:
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'batchmean' (the true KL divergence), 'sum', 'none' or 'mean' (every
            element; warns as PyTorch).
        log_target: the target is given as log-probabilities.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with predicted variances (``torch.nn.GaussianNLLLoss``).

    Args:
        full: include the constant 0.5 log(2 pi).
        eps: lower clamp of the variance.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*), var (*), (*[:-1]) or (*[:-1], 1) -> scalar, or (*) for 'none'.
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Any, var: Any) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood (``torch.nn.PoissonNLLLoss``).

    Args:
        log_input, full, eps: as :func:`nncore.functional.poisson_nll_loss`.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def __init__(self, log_input: bool = True, full: bool = False,
                 size_average: bool | None = None, eps: float = 1e-8,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Any) -> Tensor:
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class _MarginLoss(_Loss):
    def __init__(self, margin: float = 0.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MarginRankingLoss(_MarginLoss):
    """max(0, -y (x1 - x2) + margin) (``torch.nn.MarginRankingLoss``).

    Args:
        margin: required gap (default 0).
        size_average, reduce, reduction: as :class:`SmoothL1Loss`.
    Shape:
        input1 (*), input2 (*), target (*) -> scalar, or (*) for 'none'.
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Any) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """1 - cos for similar pairs, max(0, cos - margin) for dissimilar ones
    (``torch.nn.CosineEmbeddingLoss``).

    Args:
        margin: in [-1, 1] (default 0).
        size_average, reduce, reduction: as :class:`SmoothL1Loss`.
    Shape:
        input1 (N, D), input2 (N, D), target (N,) -> scalar, or (N,) for 'none'.
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Any) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """x for y = 1, max(0, margin - x) for y = -1 (``torch.nn.HingeEmbeddingLoss``).

    Args:
        margin: default 1.
        size_average, reduce, reduction: as :class:`SmoothL1Loss`.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def __init__(self, margin: float = 1.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class TripletMarginLoss(_MarginLoss):
    """max(0, margin + d(a, p) - d(a, n)) (``torch.nn.TripletMarginLoss``).

    Args:
        margin: required gap (default 1).
        p, eps, swap: as :func:`nncore.functional.triplet_margin_loss`.
        size_average, reduce, reduction: as :class:`SmoothL1Loss`.
    Shape:
        anchor, positive, negative (N, D) or (D,) -> scalar, or (N,) for 'none'.
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.p, self.eps, self.swap = p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y x)) for labels y = +-1 (``torch.nn.SoftMarginLoss``).

    Args:
        size_average, reduce, reduction: as :class:`SmoothL1Loss`.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """One-versus-all logistic loss over C labels (``torch.nn.MultiLabelSoftMarginLoss``).

    Args:
        weight: per-class rescaling (C,), stored as the buffer ``weight``.
        size_average, reduce, reduction: as :class:`SmoothL1Loss`.
    Shape:
        input (N, C), target (N, C) -> scalar, or (N,) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)
