"""The loss family's functionals without native kernels: NumPy Functions (smooth L1, Huber,
binary cross-entropy on probabilities, KL divergence) and compositions of differentiable ops
(the margin, embedding and likelihood losses), each with PyTorch's signature and formula."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from nncore.functional._checks import check_float, check_reduction, resolve_reduction
from nncore.functional.distance import pairwise_distance
from nncore.functional.loss import (
    binary_cross_entropy_with_logits,
    broadcast_pair,
    float_target,
)
from nncore.ops.loss_numpy import BCELossFn, HuberLossFn, KLDivFn, SmoothL1LossFn
from nncore.tensor import Tensor
from nncore.tensor_ops.indexing import where


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.mean() if reduction == "mean" else loss.sum()


def _elementwise(op: str, fn: Any, input: Tensor, target: Any, reduction: str,
                 weight: Tensor | None = None, **params: Any) -> Tensor:
    x, t = broadcast_pair(op, input, float_target(op, input, target))
    if x._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    w = None
    if weight is not None:
        check_float(op, "weight", weight)
        try:
            w = np.broadcast_to(weight._array, x.shape)
        except ValueError:
            raise ValueError(f"{op}: weight of shape {weight.shape} does not broadcast to input "
                             f"shape {x.shape}") from None
        w = w.astype(x.dtype, copy=False)
    return fn.apply(x, t, reduction=reduction, weight=w, **params)


# ---- NumPy Functions ---------------------------------------------------------------------------


def smooth_l1_loss(input: Tensor, target: Any, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target);
    beta = 0 is the L1 loss.

    Args:
        input: predictions.
        target: Tensor or NumPy array of the input's shape (broadcast with a warning).
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
        beta: where the loss turns from quadratic to linear, >= 0.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    Returns:
        Tensor of the input's dtype.
    """
    op = "smooth_l1_loss"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"{op} does not support negative values for beta, got {beta}")
    if beta == 0:
        from nncore.functional.loss import l1_loss
        return l1_loss(input, target, reduction=reduction)
    return _elementwise(op, SmoothL1LossFn, input, target, reduction, beta=float(beta))


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Huber loss: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).

    Args:
        input: predictions.
        target: Tensor or NumPy array of the input's shape (broadcast with a warning).
        reduction: 'none', 'mean' or 'sum'.
        delta: where the loss turns from quadratic to linear, > 0.
        weight: per-element weights of the input's shape ('mean' stays the plain mean of the
            weighted losses, as PyTorch).
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    Returns:
        Tensor of the input's dtype.
    """
    op = "huber_loss"
    check_float(op, "input", input)
    check_reduction(op, reduction)
    if not delta > 0:
        raise RuntimeError(f"{op} does not support non-positive values for delta, got {delta}")
    if weight is not None and weight.shape != input.shape:
        raise ValueError(f"{op}: weights and input must have the same size, got weight of shape "
                         f"{weight.shape} and input of shape {input.shape}")
    return _elementwise(op, HuberLossFn, input, target, reduction, weight, delta=float(delta))


def binary_cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities: -w (t log x + (1 - t) log(1 - x)), each log
    clamped at -100 as PyTorch.

    Args:
        input: probabilities in [0, 1] (a sigmoid output).
        target: probabilities in [0, 1] of the input's shape.
        weight: rescaling broadcast to the input's shape.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    Returns:
        Tensor of the input's dtype.
    """
    op = "binary_cross_entropy"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    t = float_target(op, input, target)
    if t.shape != input.shape:
        raise ValueError(f"Using a target size ({t.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    x_arr, t_arr = input._array, t._array
    if not np.all((x_arr >= 0) & (x_arr <= 1)):
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1")
    if not np.all((t_arr >= 0) & (t_arr <= 1)):
        raise RuntimeError(f"{op}: all elements of target should be between 0 and 1")
    return _elementwise(op, BCELossFn, input, t, reduction, weight)


def kl_div(input: Tensor, target: Any, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise KL divergence target * (log target - input), input being log-probabilities.

    Args:
        input: log-probabilities.
        target: probabilities (log-probabilities with ``log_target``), broadcastable.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'batchmean' (the sum divided by the batch size: the true KL divergence),
            'sum', 'none' or 'mean' (over every element, with PyTorch's warning).
        log_target: the target is given as log-probabilities.
    Shape:
        input (*), target (*) -> scalar, or (*) for 'none'.
    Returns:
        Tensor of the input's dtype.
    """
    op = "kl_div"
    check_float(op, "input", input)
    if size_average is not None or reduce is not None:
        reduction = resolve_reduction(op, size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning, stacklevel=2)
    elif reduction != "batchmean":
        check_reduction(op, reduction)
    t = float_target(op, input, target)
    shape = np.broadcast_shapes(input.shape, t.shape)
    x = input if input.shape == shape else input.expand(*shape)
    t = t if t.shape == shape else t.expand(*shape)
    return KLDivFn.apply(x, t, reduction=reduction, log_target=bool(log_target))


# ---- compositions of differentiable ops ------------------------------------------------------


def _sign_target(op: str, input: Tensor, target: Any) -> Tensor:
    """A target of +-1 labels as a Tensor of the input's dtype."""
    arr = target._array if isinstance(target, Tensor) else np.asarray(target)
    if isinstance(target, Tensor) and arr.dtype == input._array.dtype:
        return target
    return Tensor._wrap(arr.astype(input._array.dtype))


def soft_margin_loss(input: Tensor, target: Any, size_average: bool | None = None,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss log(1 + exp(-y x)) for labels y = +-1 (the native stable
    binary_cross_entropy_with_logits of y x against 1).

    Args:
        input: scores.
        target: +-1 labels of the input's shape.
        size_average, reduce, reduction: as :func:`binary_cross_entropy`.
    Returns:
        Scalar Tensor, or (*) for 'none'.
    """
    op = "soft_margin_loss"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    z = input * _sign_target(op, input, target)
    ones = Tensor._wrap(np.ones(z.shape, dtype=input._array.dtype))
    return binary_cross_entropy_with_logits(z, ones, reduction=reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Any, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """One-versus-all logistic loss: per sample the mean over classes of
    -(y log sigmoid(x) + (1 - y) log sigmoid(-x)), times ``weight``.

    Args:
        input: scores (N, C) or (C,).
        target: 0/1 labels of the input's shape.
        weight: per-class rescaling (C,).
        size_average, reduce, reduction: as :func:`binary_cross_entropy`.
    Returns:
        Scalar Tensor, or (N,) for 'none'.
    """
    op = "multilabel_soft_margin_loss"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    t = _sign_target(op, input, target)
    per = binary_cross_entropy_with_logits(input, t, weight=weight, reduction="none")
    loss = per.sum(dim=input.ndim - 1) / float(input.shape[-1])
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin) for labels y = +-1 (y = 1: x1 should rank higher).

    Args:
        input1, input2: scores of one shape.
        target: +-1 labels of that shape.
        margin: required gap.
        size_average, reduce, reduction: as :func:`binary_cross_entropy`.
    Returns:
        Scalar Tensor, or (*) for 'none'.
    """
    op = "margin_ranking_loss"
    check_float(op, "input1", input1)
    check_float(op, "input2", input2)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    y = _sign_target(op, input1, target)
    if not input1.ndim == input2.ndim == y.ndim:
        raise RuntimeError(f"{op}: all input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {y.shape}")
    return _reduce((-y * (input1 - input2) + float(margin)).clamp(min=0), reduction)


def hinge_embedding_loss(input: Tensor, target: Any, margin: float = 1.0,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1 (x: a distance), as PyTorch.

    Args:
        input: distances.
        target: +-1 labels of the input's shape.
        margin: the margin for y = -1.
        size_average, reduce, reduction: as :func:`binary_cross_entropy`.
    Returns:
        Scalar Tensor, or (*) for 'none'.
    """
    op = "hinge_embedding_loss"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    y = _sign_target(op, input, target)
    zero = Tensor._wrap(np.zeros((), dtype=input._array.dtype))
    margin_part = where(y != 1, (float(margin) - input).clamp(min=0), zero)
    return _reduce(margin_part + where(y != -1, input, zero), reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1, cos over the
    last axis with PyTorch's 1e-12 added to each squared norm.

    Args:
        input1, input2: (N, D) or (D,).
        target: +-1 labels (N,) or ().
        margin: in [-1, 1].
        size_average, reduce, reduction: as :func:`binary_cross_entropy`.
    Returns:
        Scalar Tensor, or (N,) for 'none'.
    """
    op = "cosine_embedding_loss"
    check_float(op, "input1", input1)
    check_float(op, "input2", input2)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    y = _sign_target(op, input1, target)
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise RuntimeError(f"{op}: input1 and input2 must be 1-D or 2-D of one shape, got "
                           f"{input1.shape} and {input2.shape}")
    if y.ndim != input1.ndim - 1:
        raise RuntimeError(f"{op}: expected {input1.ndim - 1}-D target for {input1.ndim}-D "
                           f"inputs, got target of shape {y.shape}")
    d = input1.ndim - 1
    prod = (input1 * input2).sum(dim=d)
    denom = (((input1 * input1).sum(dim=d) + 1e-12) * ((input2 * input2).sum(dim=d) + 1e-12))
    cos = prod / denom.sqrt()
    zero = Tensor._wrap(np.zeros((), dtype=input1._array.dtype))
    loss = where(y == 1, 1 - cos, zero) + where(y == -1, (cos - float(margin)).clamp(min=0), zero)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise p-norm distance (``swap``: d(a, n)
    replaced by min(d(a, n), d(p, n))).

    Args:
        anchor, positive, negative: (N, D) or (D,), one number of dimensions.
        margin: required gap.
        p, eps: of :func:`nncore.functional.pairwise_distance`.
        swap: the distance swap of Balntas et al.
        size_average, reduce, reduction: as :func:`binary_cross_entropy`.
    Returns:
        Scalar Tensor, or (N,) for 'none'.
    """
    op = "triplet_margin_loss"
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        check_float(op, name, t)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"{op}: the anchor, positive, and negative tensors are expected to "
                           f"have the same number of dimensions, but got: anchor "
                           f"{anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = pairwise_distance(positive, negative, p, eps)
        d_neg = where(d_swap < d_neg, d_swap, d_neg)
    return _reduce((float(margin) + d_pos - d_neg).clamp(min=0), reduction)


def gaussian_nll_loss(input: Tensor, target: Any, var: Any, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Gaussian negative log-likelihood 0.5 (log v + (x - t)^2 / v) (+ 0.5 log 2 pi when
    ``full``), v = var clamped below at eps without touching its gradient (as PyTorch).

    Args:
        input: predicted means.
        target: observations of the input's shape.
        var: predicted variances: the input's shape, one fewer trailing dimension, a trailing
            size-1 dimension (homoscedastic), or a float.
        full: include the constant term.
        eps: lower clamp of var.
        reduction: 'none', 'mean' or 'sum'.
    Returns:
        Scalar Tensor, or (*) for 'none'.
    """
    op = "gaussian_nll_loss"
    check_float(op, "input", input)
    t = float_target(op, input, target)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = Tensor._wrap(np.full(input.shape, var, dtype=input._array.dtype))
    check_float(op, "var", var)
    if np.any(var._array < 0):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.reshape(*var.shape, 1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"var is of incorrect size: {var.shape} for input of shape "
                             f"{input.shape}")
    check_reduction(op, reduction)
    # NOTE: PyTorch clamps a clone of var in place under no_grad: the clamped value with the
    # unclamped gradient, which this straight-through sum reproduces.
    v = var + Tensor._wrap(np.maximum(var._array, eps) - var._array)
    loss = 0.5 * (v.log() + (input - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Any, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: exp(x) - t x (``log_input``) or x - t log(x + eps),
    plus Stirling's t log t - t + 0.5 log(2 pi t) where t > 1 when ``full`` (differentiable in
    the target too, as PyTorch's composite).

    Args:
        input: log-rates (or rates without log_input).
        target: counts of the input's shape.
        log_input: the input is a log-rate.
        full: include Stirling's approximation of log(t!).
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        eps: added inside the log without log_input.
        reduction: 'none', 'mean' or 'sum'.
    Returns:
        Scalar Tensor, or (*) for 'none'.
    """
    op = "poisson_nll_loss"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    t = float_target(op, input, target)
    loss = input.exp() - t * input if log_input else input - t * (input + float(eps)).log()
    if full:
        # NOTE: Stirling's term where t > 1 only; t is replaced by 1 elsewhere first, so no log
        # of 0 is taken and the masked entries get no gradient (as PyTorch's masked_fill).
        big = t > 1
        one = Tensor._wrap(np.ones((), dtype=input._array.dtype))
        ts = where(big, t, one)
        stirling = ts * ts.log() - ts + 0.5 * (ts * (2 * math.pi)).log()
        loss = loss + where(big, stirling, one * 0)
    return _reduce(loss, reduction)
