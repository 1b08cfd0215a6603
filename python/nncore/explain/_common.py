"""Shared plumbing of the explainers and attacks: models as NumPy functions, input gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from nncore.autograd import enable_grad, no_grad
from nncore.tensor import Tensor


def as_array(name: str, x: Any) -> np.ndarray:
    """``x`` as a NumPy array (Tensors unwrapped, no copy); floats kept, others to float64."""
    arr = x._array if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _parameters(model: Any) -> list[Tensor]:
    params = getattr(model, "parameters", None)
    return list(params()) if callable(params) else []


@contextlib.contextmanager
def frozen(model: Any) -> Iterator[None]:
    """Eval mode and parameters without ``requires_grad`` for the block; both restored after.

    Why: an explanation or an attack needs only the input gradient; frozen parameters skip the
    weight-gradient products and leave ``.grad`` of the model untouched.
    """
    params = _parameters(model)
    flags = [p.requires_grad for p in params]
    training = getattr(model, "training", None)
    if training is not None:
        model.eval()
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
        if training is not None:
            model.train(training)


def outputs_2d(name: str, out: np.ndarray, n: int) -> np.ndarray:
    """Model outputs as ``(n, K)``: a scalar output per sample becomes one column."""
    if out.ndim == 0 or out.shape[0] != n:
        raise ValueError(f"{name}: the model returned shape {out.shape} for {n} inputs; "
                         f"expected (N,) or (N, K)")
    return out.reshape(n, -1)


def resolve_target(name: str, target: Any, out2d: np.ndarray) -> np.ndarray:
    """Per-sample output index: ``target`` (int or (N,) ints), or the argmax when None."""
    n, k = out2d.shape
    if target is None:
        return out2d.argmax(axis=1) if k > 1 else np.zeros(n, dtype=np.int64)
    t = np.asarray(target._array if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must be an integer or integer array, got dtype {t.dtype}")
    t = np.broadcast_to(t, (n,)) if t.ndim == 0 else t
    if t.shape != (n,):
        raise ValueError(f"{name}: target has shape {t.shape}, expected () or ({n},)")
    if t.size and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"{name}: target {t.tolist()} out of range for {k} model outputs")
    return t.astype(np.int64)


def input_gradient(model: Callable[[Tensor], Tensor], x: np.ndarray,
                   objective: Callable[[Tensor], Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of ``objective(model(x))`` (a scalar Tensor) with respect to ``x``.

    Returns:
        ``(gradient with x's shape and dtype, model output as an array)``.
    """
    with frozen(model), enable_grad():
        xt = Tensor(x, requires_grad=True, dtype=x.dtype)
        out = model(xt)
        obj = objective(out)
        if not obj.requires_grad:
            raise ValueError("the model output does not depend on its input through autograd "
                             "(is it an nncore model?)")
        obj.backward()
    return xt.grad._array, out._array


def target_gradient(name: str, model: Callable[[Tensor], Tensor], x: np.ndarray, target: Any
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of each sample's ``target`` output with respect to its input.

    Returns:
        ``(gradient (N, ...), outputs (N, K), target indices (N,))``.
    """
    picked: dict[str, np.ndarray] = {}

    def objective(out: Tensor) -> Tensor:
        o2 = outputs_2d(name, out._array, len(x))
        t = resolve_target(name, target, o2)
        mask = np.zeros(o2.shape, dtype=out._array.dtype)
        mask[np.arange(len(t)), t] = 1
        picked["t"], picked["out"] = t, o2
        # NOTE: samples are independent in eval mode, so the gradient of the masked sum is
        # every sample's own d out[i, t_i] / d x_i in one backward pass.
        return (out.reshape(o2.shape) * mask).sum()

    grad, _ = input_gradient(model, x, objective)
    return grad, picked["out"], picked["t"]


def numpy_function(name: str, f: Any, batch_size: int = 4096) -> Callable[[np.ndarray], np.ndarray]:
    """A NumPy-in, NumPy-out view of ``f``: an nncore Module (run under no_grad in eval mode) or
    any callable of arrays (its Tensor outputs unwrapped), evaluated in chunks of
    ``batch_size`` rows."""
    if not callable(f):
        raise TypeError(f"{name}: the model must be callable, got {type(f).__name__}")
    is_module = hasattr(f, "parameters") and hasattr(f, "training")

    def call(a: np.ndarray) -> np.ndarray:
        if is_module:
            with frozen(f), no_grad():
                out = f(Tensor(a, dtype=a.dtype if a.dtype.kind == "f" else np.float32))
        else:
            out = f(a)
        out = out._array if isinstance(out, Tensor) else np.asarray(out)
        return outputs_2d(name, out, len(a)).astype(np.float64)

    def run(a: np.ndarray) -> np.ndarray:
        if len(a) <= batch_size:
            return call(a)
        return np.concatenate([call(a[i:i + batch_size]) for i in range(0, len(a), batch_size)])

    return run
