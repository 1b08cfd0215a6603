"""Adamax (torch.optim.Adamax)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_betas, _check_non_negative, _fma, _lerp


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (Kingma & Ba), PyTorch's formulas.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        betas: decay rates of the first moment and of the infinity norm, each in [0, 1).
        eps: added to the infinity norm for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        maximize: maximize the objective instead of minimizing it.
        differentiable, capturable: must be False (autograd through the step and CUDA graphs
            are not supported).

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``.
    """

    _kernel = staticmethod(_C.adamax_step)

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("Adamax", "learning rate", group["lr"])
        _check_non_negative("Adamax", "epsilon value", group["eps"])
        _check_betas("Adamax", group["betas"])
        _check_non_negative("Adamax", "weight_decay", group["weight_decay"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        exp_avgs, exp_infs, steps = [], [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["exp_avg"] = np.zeros_like(p)
                st["exp_inf"] = np.zeros_like(p)
            st["step"] += 1
            steps.append(float(st["step"]))
            exp_avgs.append(st["exp_avg"])
            exp_infs.append(st["exp_inf"])
        beta1, beta2 = group["betas"]
        self._kernel(params, grads, exp_avgs, exp_infs, steps, float(group["lr"]), float(beta1),
                     float(beta2), float(group["eps"]), float(group["weight_decay"]),
                     bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        exp_avgs: list[np.ndarray], exp_infs: list[np.ndarray],
                        steps: list[float], lr: float, beta1: float, beta2: float, eps: float,
                        weight_decay: float, maximize: bool) -> None:
        """NumPy form of ``_C.adamax_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = _fma(weight_decay, p, g)
            m, u = exp_avgs[i], exp_infs[i]
            m[...] = _lerp(m, g, 1 - beta1)
            u[...] = np.maximum(u * t(beta2), np.abs(g) + t(eps))
            clr = lr / (1 - beta1 ** steps[i])
            p[...] = p + t(-clr) * m / u
