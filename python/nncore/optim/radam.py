"""RAdam (torch.optim.RAdam)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_betas, _check_non_negative, _fma, _lerp


class RAdam(Optimizer):
    """Rectified Adam (Liu et al.), PyTorch's formulas: plain momentum SGD while the variance
    of the adaptive rate is intractable (rho_t <= 5), rectified Adam afterwards.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient (decoupled: parameters shrink by
            ``1 - lr * weight_decay`` each step).
        decoupled_weight_decay: AdamW-style weight decay.
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        maximize: maximize the objective instead of minimizing it.
        capturable, differentiable: must be False (CUDA graphs and autograd through the step
            are not supported).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    _kernel = staticmethod(_C.radam_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("RAdam", "learning rate", group["lr"])
        _check_non_negative("RAdam", "epsilon value", group["eps"])
        _check_betas("RAdam", group["betas"])
        _check_non_negative("RAdam", "weight_decay", group["weight_decay"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        exp_avgs, exp_avg_sqs, steps = [], [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["exp_avg"] = np.zeros_like(p)
                st["exp_avg_sq"] = np.zeros_like(p)
            st["step"] += 1
            steps.append(float(st["step"]))
            exp_avgs.append(st["exp_avg"])
            exp_avg_sqs.append(st["exp_avg_sq"])
        beta1, beta2 = group["betas"]
        self._kernel(params, grads, exp_avgs, exp_avg_sqs, steps, float(group["lr"]),
                     float(beta1), float(beta2), float(group["eps"]),
                     float(group["weight_decay"]), bool(group["decoupled_weight_decay"]),
                     bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        exp_avgs: list[np.ndarray], exp_avg_sqs: list[np.ndarray],
                        steps: list[float], lr: float, beta1: float, beta2: float, eps: float,
                        weight_decay: float, decoupled_weight_decay: bool,
                        maximize: bool) -> None:
        """NumPy form of ``_C.radam_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t, step = p.dtype.type, steps[i]
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                if decoupled_weight_decay:
                    p *= t(1 - lr * weight_decay)
                else:
                    g = _fma(weight_decay, p, g)
            m, v = exp_avgs[i], exp_avg_sqs[i]
            m[...] = _lerp(m, g, 1 - beta1)
            v[...] = _fma(t(1 - beta2) * g, g, v * t(beta2))
            bias_correction2 = 1 - beta2 ** step
            corrected = m / t(1 - beta1 ** step) * t(lr)
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                adaptive = t(1) / (np.sqrt(v) + t(eps)) * t(bias_correction2 ** 0.5)
                corrected = corrected * adaptive * t(rect)
            p[...] = p - corrected
