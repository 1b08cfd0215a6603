"""Averaged SGD (torch.optim.ASGD)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_non_negative, _fma, _scalar_dtype


class ASGD(Optimizer):
    """Averaged stochastic gradient descent (Polyak & Juditsky), PyTorch's formulas.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        lambd: decay term.
        alpha: power of the step-size decay ``eta_t = lr / (1 + lambd lr t)^alpha``.
        t0: step at which averaging starts.
        weight_decay: L2 penalty added to the gradient.
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        maximize: maximize the objective instead of minimizing it.
        differentiable, capturable: must be False (autograd through the step and CUDA graphs
            are not supported).

    State per parameter: ``step``, ``eta`` and ``mu`` (0-d arrays of PyTorch's scalar dtype:
    float32 unless the default dtype is float64), ``ax`` (the averaged parameter).
    """

    _kernel = staticmethod(_C.asgd_step)
    _scalar_state = ("eta", "mu")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0.0,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("ASGD", "learning rate", group["lr"])
        _check_non_negative("ASGD", "weight_decay", group["weight_decay"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        axs, etas, mus = [], [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["eta"] = np.array(float(group["lr"]), dtype=_scalar_dtype())
                st["mu"] = np.ones((), dtype=_scalar_dtype())
                st["ax"] = np.zeros_like(p)
            st["step"] += 1
            axs.append(st["ax"])
            etas.append(float(st["eta"]))
            mus.append(float(st["mu"]))
        self._kernel(params, grads, axs, etas, mus, float(group["lambd"]),
                     float(group["weight_decay"]), bool(group["maximize"]))
        lr, lambd = float(group["lr"]), float(group["lambd"])
        for st in states:
            step = float(st["step"])
            st["eta"][...] = lr / ((1 + lambd * lr * step) ** group["alpha"])
            st["mu"][...] = 1 / max(1, step - group["t0"])

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        axs: list[np.ndarray], etas: list[float], mus: list[float],
                        lambd: float, weight_decay: float, maximize: bool) -> None:
        """NumPy form of ``_C.asgd_step`` (same arguments, updates in place; the caller updates
        eta and mu afterwards)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = _fma(weight_decay, p, g)
            p *= t(1 - lambd * etas[i])
            p[...] = _fma(-etas[i], g, p)
            if mus[i] != 1:
                axs[i][...] = axs[i] + (p - axs[i]) * t(mus[i])
            else:
                axs[i][...] = p
