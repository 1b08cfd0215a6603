"""Gradient attributions of nncore models: saliency, gradient x input, integrated gradients."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from nncore.explain._common import as_array, numpy_function, resolve_target, target_gradient
from nncore.tensor import Tensor

Model = Callable[[Tensor], Tensor]


def _input(name: str, x: Any) -> np.ndarray:
    arr = as_array(name, x)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a batch of inputs (N, ...), got shape {arr.shape}")
    return arr


def saliency(model: Model, x: Any, target: Any = None, abs: bool = False) -> np.ndarray:
    """Input gradient of the target output (Simonyan et al., 2014).

    Args:
        model: an nncore model (or function of Tensors) returning ``(N,)`` or ``(N, K)``.
        x: inputs ``(N, ...)``, Tensor or array.
        target: output index per sample (int or ``(N,)``); None takes the predicted class
            (the argmax), or the single output.
        abs: return ``|gradient|`` (the usual saliency map) instead of the signed gradient.

    Shape:
        Returns an array of ``x``'s shape.

    Returns:
        ``d model(x)[i, target_i] / d x_i`` for every sample ``i``.
    """
    arr = _input("saliency", x)
    grad, _, _ = target_gradient("saliency", model, arr, target)
    return np.abs(grad) if abs else grad


def gradient_x_input(model: Model, x: Any, target: Any = None) -> np.ndarray:
    """Gradient times input, elementwise (Shrikumar et al., 2016). Arguments as ``saliency``.

    Returns:
        ``x * d model(x)[i, target_i] / d x``, of ``x``'s shape.
    """
    arr = _input("gradient_x_input", x)
    grad, _, _ = target_gradient("gradient_x_input", model, arr, target)
    return grad * arr


class IntegratedGradients(NamedTuple):
    """Attributions and the completeness gap ``sum(attributions) - (f(x) - f(baseline))``."""

    attributions: np.ndarray
    delta: np.ndarray


def _path_points(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alpha`` in [0, 1] and quadrature weights of the path integral."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return alphas, weights
    if method == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise ValueError(f"integrated_gradients: method must be 'gausslegendre', "
                     f"'riemann_trapezoid' or 'riemann_middle', got {method!r}")


def integrated_gradients(model: Model, x: Any, baseline: Any = None, target: Any = None,
                         steps: int = 50, method: str = "gausslegendre",
                         internal_batch_size: int | None = None) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al., 2017) along the straight path from a baseline.

    ``attr = (x - b) * integral_0^1 d f(b + a (x - b)) / dx da``, computed by quadrature over
    ``steps`` points; all points of all samples go through the model as one batch (or chunks of
    ``internal_batch_size`` rows). By completeness, ``attr`` sums to ``f(x) - f(b)``; ``delta``
    reports how far the quadrature is from that (raise ``steps`` if it is large).

    Args:
        model: an nncore model returning ``(N,)`` or ``(N, K)``.
        x: inputs ``(N, ...)``.
        baseline: reference input: None (zeros), a scalar, one input of shape ``x.shape[1:]``
            or one per sample, ``x``'s shape.
        target: output index per sample; None takes the predicted class at ``x``.
        steps: quadrature points (>= 2 for the trapezoid rule, >= 1 otherwise).
        method: ``"gausslegendre"`` (default, exact for polynomial paths of degree < 2 steps),
            ``"riemann_trapezoid"`` or ``"riemann_middle"``.
        internal_batch_size: rows per model call (default: everything in one call).

    Returns:
        ``IntegratedGradients(attributions (x's shape), delta (N,))``.
    """
    name = "integrated_gradients"
    arr = _input(name, x)
    if not isinstance(steps, (int, np.integer)) or steps < (2 if method == "riemann_trapezoid"
                                                            else 1):
        raise ValueError(f"{name}: steps must be a positive integer (>= 2 for the trapezoid "
                         f"rule), got {steps!r}")
    if internal_batch_size is not None and internal_batch_size < 1:
        raise ValueError(f"{name}: internal_batch_size must be positive, got "
                         f"{internal_batch_size}")
    alphas, weights = _path_points(method, int(steps))
    base = np.zeros_like(arr) if baseline is None else as_array(name, baseline).astype(arr.dtype)
    try:
        base = np.broadcast_to(base, arr.shape)
    except ValueError:
        raise ValueError(f"{name}: baseline of shape {base.shape} does not fit inputs of shape "
                         f"{arr.shape}") from None
    f = numpy_function(name, model)
    out_x = f(arr)
    t = resolve_target(name, target, out_x)
    n = len(arr)
    diff = arr - base
    # (steps, N, ...) path points, flattened to one batch of steps * N rows.
    shape = (len(alphas),) + (1,) * arr.ndim
    points = (base[None] + alphas.reshape(shape).astype(arr.dtype) * diff[None]).reshape(
        (-1,) + arr.shape[1:])
    t_rep = np.tile(t, len(alphas))
    chunk = internal_batch_size or len(points)
    grads = np.concatenate([
        target_gradient(name, model, points[i:i + chunk], t_rep[i:i + chunk])[0]
        for i in range(0, len(points), chunk)
    ]).reshape((len(alphas),) + arr.shape)
    avg = np.tensordot(weights, grads.astype(np.float64), axes=1)
    attributions = (diff * avg).astype(arr.dtype)
    out_b = f(np.ascontiguousarray(base))
    rows = np.arange(n)
    expected = out_x[rows, t] - out_b[rows, t]
    delta = attributions.reshape(n, -1).sum(axis=1, dtype=np.float64) - expected
    return IntegratedGradients(attributions, delta)
