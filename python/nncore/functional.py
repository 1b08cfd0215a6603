"""Functional forms of every op (``nncore.nn.functional``): argument checks, then a Function.

Checks here raise ValueError/TypeError naming the op and the shapes before anything reaches C++.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore.conv_functional import (
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    dropout2d,
    max_pool2d,
)
from nncore.ops.activation import (
    DropoutFn,
    GeluFn,
    LeakyReluFn,
    LogSoftmaxFn,
    ReluFn,
    SigmoidFn,
    SoftmaxFn,
    TanhFn,
)
from nncore.ops.attention import scaled_dot_product_attention
from nncore.ops.linear import EmbeddingFn, LinearFn, MatmulFn
from nncore.ops.loss import (
    BCEWithLogitsFn,
    CrossEntropyFn,
    L1LossFn,
    MSELossFn,
    NLLLossFn,
    SoftCrossEntropyFn,
)
from nncore.ops.norm import layer_norm
from nncore.random import next_seed
from nncore.tensor import Tensor

__all__ = [
    "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "embedding", "gelu", "l1_loss",
    "l1_penalty", "leaky_relu", "linear", "log_softmax", "matmul", "mse_loss", "nll_loss", "relu",
    "sigmoid", "softmax", "tanh",
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "conv1d", "conv2d", "dropout2d",
    "max_pool2d",
]
__all__ += ["layer_norm", "scaled_dot_product_attention"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_float(op: str, name: str, t: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t.data.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {t.data.dtype}")


def _check_same_dtype(op: str, *named: tuple[str, Tensor]) -> None:
    dtypes = {t.data.dtype for _, t in named}
    if len(dtypes) > 1:
        desc = ", ".join(f"{n} is {t.data.dtype}" for n, t in named)
        raise TypeError(f"{op}: expected one dtype, but {desc}")


# ---- linear family ---------------------------------------------------------------------


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules (1-D promotion, broadcast batch dimensions).

    Shape: a (..., m, k), b (..., k, n) -> (..., m, n).
    """
    _check_float("matmul", "a", a)
    _check_float("matmul", "b", b)
    _check_same_dtype("matmul", ("a", a), ("b", b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({k_a} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not "
                         f"broadcast") from None
    return MatmulFn.apply(a, b)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ weight^T + bias.

    Args:
        x: input, shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: shape (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    _check_float("linear", "input", x)
    _check_float("linear", "weight", weight)
    if x.ndim < 1 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected input (*, {weight.shape[-1]}))")
    if x.data.size == 0:
        raise ValueError(f"linear: empty input of shape {x.shape}")
    if bias is None:
        _check_same_dtype("linear", ("input", x), ("weight", weight))
        return LinearFn.apply(x, weight)
    _check_float("linear", "bias", bias)
    _check_same_dtype("linear", ("input", x), ("weight", weight), ("bias", bias))
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}")
    return LinearFn.apply(x, weight, bias)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` looked up by integer indices.

    Args:
        input: int64 indices (Tensor or NumPy array) of any shape, each in [0, num_embeddings).
        weight: the embedding matrix, shape (num_embeddings, embedding_dim).
        padding_idx: a row that receives no gradient (negative counts from the end).
    Shape:
        input (*), weight (V, D) -> output (*, D).
    Returns:
        Tensor of the weight's dtype.
    """
    op = "embedding"
    _check_float(op, "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{weight.shape}")
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer indices, got {idx.dtype} with shape "
                        f"{idx.shape}")
    rows = weight.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= rows:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: index {bad} is out of range for num_embeddings={rows} "
                             f"(input shape {idx.shape})")
    pad = -1
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"{op}: padding_idx {padding_idx} is out of range for "
                             f"num_embeddings={rows}")
        pad = int(padding_idx) % rows
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    return EmbeddingFn.apply(weight, indices=idx, padding_idx=pad)


# ---- loss family -----------------------------------------------------------------------

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(op: str, reduction: Any) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _target_array(op: str, target: Any) -> np.ndarray:
    if isinstance(target, Tensor):
        return target.data
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
        _check_same_dtype(op, ("input", input), ("target", target))
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
    _check_float(op, "input", input)
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input (N, C), (N, C, d1, ...) or (C,), got shape ()")
    if input.data.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    return input.shape[0] if input.ndim == 1 else input.shape[1]


def _class_weight(op: str, input: Tensor, weight: Tensor | None, classes: int
                  ) -> np.ndarray | None:
    if weight is None:
        return None
    _check_float(op, "weight", weight)
    _check_same_dtype(op, ("input", input), ("weight", weight))
    if weight.shape != (classes,):
        raise ValueError(f"{op}: weight of shape {weight.shape} does not match {classes} classes "
                         f"of input shape {input.shape} (expected ({classes},))")
    return np.ascontiguousarray(weight.data)


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits and class indices or class probabilities.

    Args:
        input: unnormalised logits.
        target: int64 class indices, or float probabilities of the input's shape (Tensor or
            NumPy array); rows whose index equals ``ignore_index`` count for nothing.
        weight: per-class rescaling, shape (C,).
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
    _check_reduction(op, reduction)
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


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -weight[t] * input[t] per row.

    Args:
        input: log-probabilities (log_softmax output).
        target: int64 class indices (Tensor or NumPy array).
        weight: per-class rescaling, shape (C,).
        ignore_index: target value to skip.
        reduction: 'none', 'mean' (divided by the summed weights of kept targets) or 'sum'.
    Shape:
        input (N, C), (C,) or (N, C, d1, ...); target (N,), () or (N, d1, ...).
    Returns:
        Scalar Tensor, or the per-row losses (N, d1, ...) for reduction 'none'.
    """
    op = "nll_loss"
    classes = _class_input(op, input)
    _check_reduction(op, reduction)
    w = _class_weight(op, input, weight, classes)
    idx = _class_targets(op, input, target)
    return NLLLossFn.apply(input, target=idx, weight=w, ignore_index=int(ignore_index),
                           reduction=reduction)


def _pointwise_loss(op: str, fn: Any, input: Tensor, target: Any, reduction: str) -> Tensor:
    _check_float(op, "input", input)
    _check_reduction(op, reduction)
    t = _float_target(op, input, target)
    if input.data.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    return fn.apply(input, t, reduction=reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (input - target)^2.

    Args:
        input: predictions.
        target: Tensor or NumPy array of the input's shape.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*) the same.
    Returns:
        Scalar Tensor, or the elementwise losses (*) for reduction 'none'.
    """
    return _pointwise_loss("mse_loss", MSELossFn, input, target, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error |input - target|.

    Args:
        input: predictions.
        target: Tensor or NumPy array of the input's shape.
        reduction: 'none', 'mean' or 'sum'.
    Shape:
        input (*), target (*) the same.
    Returns:
        Scalar Tensor, or the elementwise losses (*) for reduction 'none'.
    """
    return _pointwise_loss("l1_loss", L1LossFn, input, target, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable step.

    loss = weight * ((1 - t) * x + (1 + (pos_weight - 1) * t) * log(1 + exp(-x))).

    Args:
        input: logits.
        target: probabilities in [0, 1] of the input's shape (Tensor or NumPy array).
        weight: rescaling broadcast to the input's shape.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: weight of positive examples per class, shape (C,) or (1,) along the last
            axis.
    Shape:
        input (*, C), target (*, C).
    Returns:
        Scalar Tensor, or the elementwise losses (*, C) for reduction 'none'.
    """
    op = "binary_cross_entropy_with_logits"
    _check_float(op, "input", input)
    _check_reduction(op, reduction)
    t = _float_target(op, input, target)
    if input.data.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    w = pw = None
    if weight is not None:
        _check_float(op, "weight", weight)
        _check_same_dtype(op, ("input", input), ("weight", weight))
        try:
            w = np.ascontiguousarray(np.broadcast_to(weight.data, input.shape))
        except ValueError:
            raise ValueError(f"{op}: weight of shape {weight.shape} does not broadcast to input "
                             f"shape {input.shape}") from None
    if pos_weight is not None:
        _check_float(op, "pos_weight", pos_weight)
        _check_same_dtype(op, ("input", input), ("pos_weight", pos_weight))
        cols = input.shape[-1] if input.ndim else 1
        if pos_weight.ndim > 1 or pos_weight.data.size not in (1, cols):
            raise ValueError(f"{op}: pos_weight of shape {pos_weight.shape} does not match the "
                             f"last axis of input shape {input.shape} (expected ({cols},))")
        pw = np.ascontiguousarray(np.broadcast_to(pos_weight.data.reshape(-1), (cols,)))
    return BCEWithLogitsFn.apply(input, t, weight=w, pos_weight=pw, reduction=reduction)


# ---- activation family -------------------------------------------------------------------


def _check_real(op: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")


def _softmax_dim(op: str, x: Tensor, dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an integer, got {type(dim).__name__}")
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise ValueError(f"{op}: dim {dim} is out of range for input of shape {x.shape} "
                         f"(expected in [{-n}, {n - 1}])")
    return int(dim) % n


def relu(x: Tensor) -> Tensor:
    """Rectified linear unit, max(x, 0), elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("relu", "input", x)
    return ReluFn.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x, elementwise.

    Args:
        x: input of any shape.
        negative_slope: slope for negative inputs.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("leaky_relu", "input", x)
    _check_real("leaky_relu", "negative_slope", negative_slope)
    return LeakyReluFn.apply(x, negative_slope=float(negative_slope))


def sigmoid(x: Tensor) -> Tensor:
    """Logistic function 1 / (1 + exp(-x)), elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("sigmoid", "input", x)
    return SigmoidFn.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise.

    Args:
        x: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("tanh", "input", x)
    return TanhFn.apply(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x), elementwise.

    Args:
        x: input of any shape.
        approximate: "none" for the exact erf form, "tanh" for
            0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("gelu", "input", x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GeluFn.apply(x, approximate=approximate)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (computed stably, shifted by the maximum).

    Args:
        x: input of any shape.
        dim: the axis that sums to 1.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("softmax", "input", x)
    return SoftmaxFn.apply(x, dim=_softmax_dim("softmax", x, dim))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along ``dim``, computed as x - max - log(sum(exp(x - max))).

    Args:
        x: input of any shape.
        dim: the axis to normalise over.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("log_softmax", "input", x)
    return LogSoftmaxFn.apply(x, dim=_softmax_dim("log_softmax", x, dim))


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the others by 1 / (1 - p).

    The mask comes from a seed drawn from nncore's generator, so ``nncore.manual_seed`` makes it
    reproducible (independently of the thread count).

    Args:
        x: input of any shape.
        p: probability of zeroing an element, in [0, 1].
        training: apply dropout; when False (or p == 0) ``x`` is returned unchanged.
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    _check_float("dropout", "input", x)
    _check_real("dropout", "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return DropoutFn.apply(x, p=float(p), seed=next_seed())


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
        _check_float("l1_penalty", f"params[{i}]", p)
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        return Tensor(0.0)
    return total * weight if weight != 1.0 else total
