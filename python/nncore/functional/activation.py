"""Functional forms of the activation family: nonlinearities, softmax and the dropouts.

``inplace=True`` is accepted everywhere PyTorch has it and computes out of place (the result is
the same; only the input's storage is left untouched); the ``*_`` functions (``relu_``,
``elu_``...) write into their input with PyTorch's in-place rules.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nncore.functional._checks import check_float
from nncore.ops import activation as A
from nncore.random import default_generator, next_seed
from nncore.tensor import Tensor


def _check_real(op: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")


def _softmax_dim(op: str, x: Tensor, dim: Any, stacklevel: int) -> int:
    if dim is None:
        # NOTE: PyTorch's legacy rule for a call without dim, warning as PyTorch does.
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call "
                      f"to include dim={dim} as an argument.", UserWarning, stacklevel=stacklevel)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an integer, got {type(dim).__name__}")
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise ValueError(f"{op}: dim {dim} is out of range for input of shape {x.shape} "
                         f"(expected in [{-n}, {n - 1}])")
    return int(dim) % n


def _cast(x: Tensor, dtype: Any) -> Tensor:
    return x if dtype is None else x.to(dtype)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Rectified linear unit, max(x, 0), elementwise (native).

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("relu", "input", input)
    return A.ReluFn.apply(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x, elementwise (native).

    Args:
        input: input of any shape.
        negative_slope: slope for negative inputs.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("leaky_relu", "input", input)
    _check_real("leaky_relu", "negative_slope", negative_slope)
    return A.LeakyReluFn.apply(input, negative_slope=float(negative_slope))


def sigmoid(input: Tensor) -> Tensor:
    """Logistic function 1 / (1 + exp(-x)), elementwise (native).

    Args:
        input: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("sigmoid", "input", input)
    return A.SigmoidFn.apply(input)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise (native).

    Args:
        input: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("tanh", "input", input)
    return A.TanhFn.apply(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x), elementwise (native).

    Args:
        input: input of any shape.
        approximate: "none" for the exact erf form, "tanh" for
            0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("gelu", "input", input)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return A.GeluFn.apply(input, approximate=approximate)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (native, shifted by the maximum).

    Args:
        input: input of any shape.
        dim: the axis that sums to 1 (None: PyTorch's legacy choice, with a warning).
        dtype: cast the input to this dtype first.
    Returns:
        Tensor of the shape of ``input``.
    """
    check_float("softmax", "input", input)
    d = _softmax_dim("softmax", input, dim, _stacklevel)
    return A.SoftmaxFn.apply(_cast(input, dtype), dim=d)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, as x - max - log(sum(exp(x - max))) (native).

    Args:
        input: input of any shape.
        dim: the axis to normalise over (None: PyTorch's legacy choice, with a warning).
        dtype: cast the input to this dtype first.
    Returns:
        Tensor of the shape of ``input``.
    """
    check_float("log_softmax", "input", input)
    d = _softmax_dim("log_softmax", input, dim, _stacklevel)
    return A.LogSoftmaxFn.apply(_cast(input, dtype), dim=d)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``.

    Args:
        input: input of any shape.
        dim: the axis that sums to 1 (None: PyTorch's legacy choice, with a warning).
        dtype: cast the input to this dtype first.
    Returns:
        Tensor of the shape of ``input``.
    """
    check_float("softmin", "input", input)
    d = _softmax_dim("softmin", input, dim, _stacklevel)
    return A.SoftmaxFn.apply(-_cast(input, dtype), dim=d)


def _check_p(op: str, p: Any) -> None:
    _check_real(op, "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
            ) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the others by 1 / (1 - p).

    The mask comes from a seed drawn from nncore's generator, so ``nncore.manual_seed`` makes it
    reproducible (independently of the thread count).

    Args:
        input: input of any shape.
        p: probability of zeroing an element, in [0, 1].
        training: apply dropout; when False (or p == 0) ``input`` is returned unchanged.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("dropout", "input", input)
    _check_p("dropout", p)
    if not training or p == 0:
        return input
    return A.DropoutFn.apply(input, p=float(p), seed=next_seed())


def _channel_dropout(op: str, input: Tensor, p: float, training: bool, ranks: tuple[int, int],
                     what: str) -> Tensor:
    check_float(op, "input", input)
    _check_p(op, p)
    if input.ndim not in ranks:
        raise ValueError(f"{op}: expected {ranks[0]}-D (C, {what}) or {ranks[1]}-D (N, C, {what}) "
                         f"input, got shape {input.shape}")
    if not training or p == 0:
        return input
    # NOTE: the channel axes are those before the spatial ones: 2 when batched, 1 otherwise.
    return A.Dropout2dFn.apply(input, p=float(p), seed=next_seed(),
                               channel_axes=1 + (input.ndim == ranks[1]))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zeroes whole channels of (N, C, L) or (C, L) input with probability ``p``, scaling the
    rest by 1 / (1 - p).

    Args:
        input: the input (see the summary for its layout).
        p: probability of dropping a channel, in [0, 1].
        training: apply it; otherwise ``input`` is returned unchanged.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _channel_dropout("dropout1d", input, p, training, (2, 3), "L")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) input with probability ``p``, scaling
    the rest by 1 / (1 - p).

    Args:
        input: the input (see the summary for its layout).
        p: probability of dropping a channel, in [0, 1].
        training: apply it; otherwise ``input`` is returned unchanged.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _channel_dropout("dropout2d", input, p, training, (3, 4), "H, W")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability ``p``,
    scaling the rest by 1 / (1 - p).

    Args:
        input: the input (see the summary for its layout).
        p: probability of dropping a channel, in [0, 1].
        training: apply it; otherwise ``input`` is returned unchanged.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _channel_dropout("dropout3d", input, p, training, (4, 5), "D, H, W")


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
                  ) -> Tensor:
    """Dropout that keeps SELU's zero mean and unit variance: dropped elements take SELU's
    negative saturation value, then an affine map restores the moments.

    Args:
        input: input of any shape.
        p: probability of dropping an element.
        training: apply it (PyTorch's functional default is False).
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("alpha_dropout", "input", input)
    _check_p("alpha_dropout", p)
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return A.AlphaDropoutFn.apply(input, p=float(p), seed=next_seed(), channel_axes=None)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels (dim 1; one draw per sample and channel).

    Args:
        input: the input (see the summary for its layout).
        p: probability of dropping a channel, in [0, 1].
        training: apply it; otherwise ``input`` is returned unchanged.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("feature_alpha_dropout", "input", input)
    _check_p("feature_alpha_dropout", p)
    if input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return A.AlphaDropoutFn.apply(input, p=float(p), seed=next_seed(), channel_axes=2)


# ---- NumPy elementwise activations -----------------------------------------------------------


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``.

    Args:
        input: input of any shape.
        threshold: the threshold.
        value: the replacement at and below it.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("threshold", "input", input)
    _check_real("threshold", "threshold", threshold)
    _check_real("threshold", "value", value)
    return A.ThresholdFn.apply(input, threshold=threshold, value=value)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val] (gradient 1 strictly inside).

    Args:
        input: input of any shape.
        min_val, max_val: the bounds.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("hardtanh", "input", input)
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return A.HardtanhFn.apply(input, lo=min_val, hi=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6).

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("relu6", "input", input)
    return A.HardtanhFn.apply(input, lo=0.0, hi=6.0)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1).

    Args:
        input: input of any shape.
        alpha: the negative saturation magnitude.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("elu", "input", input)
    _check_real("elu", "alpha", alpha)
    return A.EluFn.apply(input, alpha=float(alpha), scale=1.0, input_scale=1.0)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with SELU's constants (alpha ~ 1.6733, scale ~ 1.0507).

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("selu", "input", input)
    return A.EluFn.apply(input, alpha=A.SELU_ALPHA, scale=A.SELU_SCALE, input_scale=1.0)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

    Args:
        input: input of any shape.
        alpha: the negative saturation magnitude (not 0).
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("celu", "input", input)
    _check_real("celu", "alpha", alpha)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return A.EluFn.apply(input, alpha=float(alpha), scale=1.0, input_scale=1.0 / alpha)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """max(0, x) + weight * min(0, x), one slope per channel (dim 1) or one for all.

    Args:
        input: (N, C, *) (or any shape when weight has one element).
        weight: (C,) or (1,).
    Returns:
        Tensor of the shape of ``input``.
    """
    check_float("prelu", "input", input)
    check_float("prelu", "weight", weight)
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                           f"parameter numbers = {weight.numel()} and channel size = "
                           f"{channels}.")
    if weight.dtype != input.dtype:
        raise TypeError(f"prelu: expected one dtype, but input is {input.dtype} and weight is "
                        f"{weight.dtype}")
    return A.PreluFn.apply(input, weight)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: in training each non-positive element gets a slope drawn from
    U(lower, upper) (nncore's generator); in eval the slope is (lower + upper) / 2.

    Args:
        input: input of any shape.
        lower, upper: bounds of the slope distribution.
        training: draw random slopes.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    check_float("rrelu", "input", input)
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return A.LeakyReluFn.apply(input, negative_slope=(lower + upper) / 2)
    slopes = default_generator().uniform(lower, upper, input.shape).astype(input.dtype)
    return A.RreluFn.apply(input, slopes=slopes)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit a * sigmoid(b), a and b the two halves of ``dim``.

    Args:
        input: input whose ``dim`` has an even size.
        dim: the dim to halve.
    Returns:
        Tensor with ``dim`` halved.
    """
    check_float("glu", "input", input)
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _softmax_dim("glu", input, dim, 3)
    if input.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size "
                           f"{input.shape[d]}")
    return A.GluFn.apply(input, dim=d)


def _unary(op: str, fn: Any, input: Tensor, **kw: Any) -> Tensor:
    check_float(op, "input", input)
    return fn.apply(input, **kw)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed without overflow.

    Args:
        input: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("logsigmoid", A.LogSigmoidFn, input)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0.

    Args:
        input: input of any shape.
        lambd: the threshold.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("hardshrink", A.HardshrinkFn, input, lambd=lambd)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0.

    Args:
        input: input of any shape.
        lambd: the threshold (>= 0).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return _unary("softshrink", A.SoftshrinkFn, input, lambd=lambd)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x).

    Args:
        input: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("tanhshrink", A.TanhshrinkFn, input)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|).

    Args:
        input: input of any shape.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("softsign", A.SoftsignFn, input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold.

    Args:
        input: input of any shape.
        beta: the sharpness.
        threshold: above it the function is the identity.
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("softplus", A.SoftplusFn, input, beta=beta, threshold=threshold)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish).

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("silu", A.SiluFn, input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)).

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("mish", A.MishFn, input)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6.

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("hardswish", A.HardswishFn, input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6.

    Args:
        input: input of any shape.
        inplace: accepted for PyTorch compatibility (computed out of place).
    Returns:
        Tensor of the shape and dtype of ``input``.
    """
    return _unary("hardsigmoid", A.HardsigmoidFn, input)


# ---- in place (PyTorch's trailing-underscore functions) --------------------------------------


def _in_place(name: str, fn: Any) -> Any:
    def f(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return input._inplace(name, lambda: fn(input, *args, **kwargs))

    f.__name__ = name
    f.__doc__ = f"In-place ``{fn.__name__}``: writes the result into ``input`` and returns it."
    return f


relu_ = _in_place("relu_", relu)
leaky_relu_ = _in_place("leaky_relu_", leaky_relu)
threshold_ = _in_place("threshold_", threshold)
hardtanh_ = _in_place("hardtanh_", hardtanh)
elu_ = _in_place("elu_", elu)
selu_ = _in_place("selu_", selu)
celu_ = _in_place("celu_", celu)
rrelu_ = _in_place("rrelu_", rrelu)

__all__ = [
    "alpha_dropout", "celu", "celu_", "dropout", "dropout1d", "dropout2d", "dropout3d", "elu",
    "elu_", "feature_alpha_dropout", "gelu", "glu", "hardshrink", "hardsigmoid", "hardswish",
    "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "log_softmax", "logsigmoid", "mish",
    "prelu", "relu", "relu6", "relu_", "rrelu", "rrelu_", "selu", "selu_", "sigmoid", "silu",
    "softmax", "softmin", "softplus", "softshrink", "softsign", "tanh", "tanhshrink",
    "threshold", "threshold_",
]
