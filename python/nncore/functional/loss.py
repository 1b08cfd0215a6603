"""Functional forms of the loss family, and the L1 penalty."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore.functional._checks import (
    check_float,
    check_same_dtype,
    resolve_reduction,
)
from nncore.ops.loss import (
    BCEWithLogitsFn,
    CrossEntropyFn,
    L1LossFn,
    MSELossFn,
    NLLLossFn,
    SoftCrossEntropyFn,
)
from nncore.tensor import Tensor


def _target_array(op: str, target: Any) -> np.ndarray:
    if isinstance(target, Tensor):
        return target._array
    if isinstance(target, np.ndarray):
        return target
    raise TypeError(f"{op}: target must be a Tensor or a NumPy array, got "
                    f"{type(target).__name__}")


def _float_target(op: str, input: Tensor, target: Any) -> Tensor:
    """A float target Tensor of the input's shape and dtype (a NumPy array is converted)."""
    arr = _target_array(op, target)
    if arr.dtype.kind != "f":
        raise TypeError(f"{op}: target must be float32 or float64, got {arr.dtype} with shape "
                        f"{arr.shape}")
    if arr.shape != input.shape:
        raise ValueError(f"{op}: target of shape {arr.shape} does not match input of shape "
                         f"{input.shape}")
    if isinstance(target, Tensor):
        check_same_dtype(op, ("input", input), ("target", target))
        return target
    return Tensor._wrap(arr.astype(input.dtype, copy=False))


def _class_targets(op: str, input: Tensor, target: Any) -> np.ndarray:
    """int64 class indices of shape (N, d1, ...) for input (N, C, d1, ...), () for input (C,)."""
    arr = _target_array(op, target)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold int64 class indices, got {arr.dtype} with shape "
                        f"{arr.shape}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if arr.shape != expected:
        raise ValueError(f"{op}: expected target of shape {expected} for input of shape "
                         f"{input.shape}, got {arr.shape}")
    return arr if arr.dtype == np.int64 else arr.astype(np.int64)


def _class_input(op: str, input: Tensor) -> int:
    """Checks input (N, C, d1, ...) or (C,) and returns C."""
    check_float(op, "input", input)
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input (N, C), (N, C, d1, ...) or (C,), got shape ()")
    if input._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    return input.shape[0] if input.ndim == 1 else input.shape[1]


def _class_weight(op: str, input: Tensor, weight: Tensor | None, classes: int
                  ) -> np.ndarray | None:
    if weight is None:
        return None
    check_float(op, "weight", weight)
    check_same_dtype(op, ("input", input), ("weight", weight))
    if weight.shape != (classes,):
        raise ValueError(f"{op}: weight of shape {weight.shape} does not match {classes} classes "
                         f"of input shape {input.shape} (expected ({classes},))")
    return np.ascontiguousarray(weight._array)


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits and class indices or class probabilities.

    Args:
        input: unnormalised logits.
        target: int64 class indices, or float probabilities of the input's shape (Tensor or
            NumPy array); rows whose index equals ``ignore_index`` count for nothing.
        weight: per-class rescaling, shape (C,).
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        ignore_index: class-index value to skip (index targets only).
        reduction: 'none', 'mean' (divided by the summed weights of kept targets; by the row
            count for probability targets) or 'sum'.
        label_smoothing: mixes the target with the uniform distribution, in [0, 1].
    Shape:
        input (N, C), (C,) or (N, C, d1, ...); target (N,), (), (N, d1, ...) or the input's
        shape.
    Returns:
        Scalar Tensor, or the per-row losses (N, d1, ...) for reduction 'none'.
    """
    op = "cross_entropy"
    classes = _class_input(op, input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    w = _class_weight(op, input, weight, classes)
    if _target_array(op, target).dtype.kind == "f":
        t = _float_target(op, input, target)
        return SoftCrossEntropyFn.apply(input, t, weight=w, label_smoothing=float(label_smoothing),
                                        reduction=reduction)
    idx = _class_targets(op, input, target)
    return CrossEntropyFn.apply(input, target=idx, weight=w, ignore_index=int(ignore_index),
                                label_smoothing=float(label_smoothing), reduction=reduction)


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -weight[t] * input[t] per row.

    Args:
        input: log-probabilities (log_softmax output).
        target: int64 class indices (Tensor or NumPy array).
        weight: per-class rescaling, shape (C,).
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        ignore_index: target value to skip.
        reduction: 'none', 'mean' (divided by the summed weights of kept targets) or 'sum'.
    Shape:
        input (N, C), (C,) or (N, C, d1, ...); target (N,), () or (N, d1, ...).
    Returns:
        Scalar Tensor, or the per-row losses (N, d1, ...) for reduction 'none'.
    """
    op = "nll_loss"
    classes = _class_input(op, input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    w = _class_weight(op, input, weight, classes)
    idx = _class_targets(op, input, target)
    return NLLLossFn.apply(input, target=idx, weight=w, ignore_index=int(ignore_index),
                           reduction=reduction)


def broadcast_pair(op: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """input and target expanded to one shape; PyTorch's warning when the shapes differ."""
    if target.shape == input.shape:
        return input, target
    try:
        shape = np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: target of shape {target.shape} does not match input of shape "
                         f"{input.shape}") from None
    warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                  f"({input.shape}). This will likely lead to incorrect results due to "
                  f"broadcasting. Please ensure they have the same size.", UserWarning,
                  stacklevel=4)
    return (input if input.shape == shape else input.expand(*shape),
            target if target.shape == shape else target.expand(*shape))


def float_target(op: str, input: Tensor, target: Any) -> Tensor:
    """A float target Tensor of the input's dtype (any shape; a NumPy array is converted)."""
    arr = _target_array(op, target)
    if arr.dtype.kind != "f":
        raise TypeError(f"{op}: target must be float32 or float64, got {arr.dtype} with shape "
                        f"{arr.shape}")
    if isinstance(target, Tensor):
        check_same_dtype(op, ("input", input), ("target", target))
        return target
    return Tensor._wrap(arr.astype(input.dtype, copy=False))


def _weighted(op: str, loss: Tensor, weight: Tensor | None, input: Tensor,
              reduction: str) -> Tensor:
    """The elementwise ``loss`` times ``weight`` (the input's shape), reduced; 'mean' divides by
    the summed weights, as PyTorch's weighted mse_loss and l1_loss."""
    check_float(op, "weight", weight)
    if weight.shape != input.shape:
        raise ValueError(f"{op}: weights and input must have the same size, got weight of shape "
                         f"{weight.shape} and input of shape {input.shape}")
    weighted = loss * weight
    if reduction == "none":
        return weighted
    return weighted.sum() / weight.sum() if reduction == "mean" else weighted.sum()


def _pointwise_loss(op: str, fn: Any, input: Tensor, target: Any, size_average: bool | None,
                    reduce: bool | None, reduction: str, weight: Tensor | None) -> Tensor:
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    x, t = broadcast_pair(op, input, float_target(op, input, target))
    if x._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    if weight is not None:
        return _weighted(op, fn.apply(x, t, reduction="none"), weight, input, reduction)
    return fn.apply(x, t, reduction=reduction)


def mse_loss(input: Tensor, target: Any, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error (input - target)^2.

    Args:
        input: predictions.
        target: Tensor or NumPy array of the input's shape (another shape broadcasts, with
            PyTorch's warning).
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
        weight: per-element weights of the input's shape; 'mean' then divides by their sum.
    Shape:
        input (*), target (*) the same.
    Returns:
        Scalar Tensor, or the elementwise losses (*) for reduction 'none'.
    """
    return _pointwise_loss("mse_loss", MSELossFn, input, target, size_average, reduce,
                           reduction, weight)


def l1_loss(input: Tensor, target: Any, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error |input - target|.

    Args:
        input: predictions.
        target: Tensor or NumPy array of the input's shape (another shape broadcasts, with
            PyTorch's warning).
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
        weight: per-element weights of the input's shape; 'mean' then divides by their sum.
    Shape:
        input (*), target (*) the same.
    Returns:
        Scalar Tensor, or the elementwise losses (*) for reduction 'none'.
    """
    return _pointwise_loss("l1_loss", L1LossFn, input, target, size_average, reduce, reduction,
                           weight)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable step.

    loss = weight * ((1 - t) * x + (1 + (pos_weight - 1) * t) * log(1 + exp(-x))).

    Args:
        input: logits.
        target: probabilities in [0, 1] of the input's shape (Tensor or NumPy array).
        weight: rescaling broadcast to the input's shape.
        size_average, reduce: deprecated (PyTorch's legacy flags); use ``reduction``.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: weight of positive examples per class, shape (C,) or (1,) along the last
            axis.
    Shape:
        input (*, C), target (*, C).
    Returns:
        Scalar Tensor, or the elementwise losses (*, C) for reduction 'none'.
    """
    op = "binary_cross_entropy_with_logits"
    check_float(op, "input", input)
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    t = _float_target(op, input, target)
    if input._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    w = pw = None
    if weight is not None:
        check_float(op, "weight", weight)
        check_same_dtype(op, ("input", input), ("weight", weight))
        try:
            w = np.ascontiguousarray(np.broadcast_to(weight._array, input.shape))
        except ValueError:
            raise ValueError(f"{op}: weight of shape {weight.shape} does not broadcast to input "
                             f"shape {input.shape}") from None
    if pos_weight is not None:
        check_float(op, "pos_weight", pos_weight)
        check_same_dtype(op, ("input", input), ("pos_weight", pos_weight))
        cols = input.shape[-1] if input.ndim else 1
        if pos_weight.ndim > 1 or pos_weight._array.size not in (1, cols):
            raise ValueError(f"{op}: pos_weight of shape {pos_weight.shape} does not match the "
                             f"last axis of input shape {input.shape} (expected ({cols},))")
        pw = np.ascontiguousarray(np.broadcast_to(pos_weight._array.reshape(-1), (cols,)))
    return BCEWithLogitsFn.apply(input, t, weight=w, pos_weight=pw, reduction=reduction)



# ---- regularisation ----------------------------------------------------------------------


def l1_penalty(params: Iterable[Tensor], weight: float = 1.0) -> Tensor:
    """weight * sum_p sum(|p|): an L1 penalty to add to a loss (differentiable; the gradient is
    weight * sign(p)).

    Args:
        params: Tensors to penalise (``model.parameters()``).
        weight: scale of the penalty.
    Returns:
        Scalar Tensor (0 and constant when ``params`` is empty).
    """
    total: Tensor | None = None
    for i, p in enumerate(params):
        check_float("l1_penalty", f"params[{i}]", p)
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        return Tensor(0.0)
    return total * weight if weight != 1.0 else total
