"""NAdam (torch.optim.NAdam)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import (
    Optimizer,
    _check_betas,
    _check_non_negative,
    _fma,
    _lerp,
    _scalar_dtype,
)


def _momentum(beta1: float, step: float, momentum_decay: float) -> float:
    """mu_t of Dozat's schedule, as PyTorch computes it."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


class NAdam(Optimizer):
    """NAdam, Adam with Nesterov momentum (Dozat), PyTorch's formulas.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient (decoupled: parameters shrink by
            ``1 - lr * weight_decay`` each step, NAdamW).
        momentum_decay: psi of the momentum schedule ``mu_t = beta1 (1 - 0.96^(t psi) / 2)``.
        decoupled_weight_decay: AdamW-style weight decay.
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        maximize: maximize the objective instead of minimizing it.
        capturable, differentiable: must be False (CUDA graphs and autograd through the step
            are not supported).

    State per parameter: ``step``, ``mu_product`` (a 0-d array of PyTorch's scalar dtype:
    float32 unless the default dtype is float64, rounded as PyTorch rounds it), ``exp_avg``,
    ``exp_avg_sq``.
    """

    _kernel = staticmethod(_C.nadam_step)
    _scalar_state = ("mu_product",)

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("NAdam", "learning rate", group["lr"])
        _check_non_negative("NAdam", "epsilon value", group["eps"])
        _check_betas("NAdam", group["betas"])
        _check_non_negative("NAdam", "weight_decay", group["weight_decay"])
        _check_non_negative("NAdam", "momentum_decay", group["momentum_decay"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        beta1, beta2 = group["betas"]
        exp_avgs, exp_avg_sqs, mu_products, steps = [], [], [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["mu_product"] = np.ones((), dtype=_scalar_dtype())
                st["exp_avg"] = np.zeros_like(p)
                st["exp_avg_sq"] = np.zeros_like(p)
            st["step"] += 1
            step = float(st["step"])
            # NOTE: rounded to the state's dtype at every step, as PyTorch's 0-d tensor is.
            st["mu_product"] *= _momentum(beta1, step, group["momentum_decay"])
            steps.append(step)
            mu_products.append(float(st["mu_product"]))
            exp_avgs.append(st["exp_avg"])
            exp_avg_sqs.append(st["exp_avg_sq"])
        self._kernel(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps,
                     float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                     float(group["weight_decay"]), float(group["momentum_decay"]),
                     bool(group["decoupled_weight_decay"]), bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        exp_avgs: list[np.ndarray], exp_avg_sqs: list[np.ndarray],
                        mu_products: list[float], steps: list[float], lr: float, beta1: float,
                        beta2: float, eps: float, weight_decay: float, momentum_decay: float,
                        decoupled_weight_decay: bool, maximize: bool) -> None:
        """NumPy form of ``_C.nadam_step`` (same arguments, updates in place; ``mu_products``
        already include this step's momentum)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                if decoupled_weight_decay:
                    p *= t(1 - lr * weight_decay)
                else:
                    g = _fma(weight_decay, p, g)
            mu = _momentum(beta1, steps[i], momentum_decay)
            mu_next = _momentum(beta1, steps[i] + 1, momentum_decay)
            m, v = exp_avgs[i], exp_avg_sqs[i]
            m[...] = _lerp(m, g, 1 - beta1)
            v[...] = _fma(t(1 - beta2) * g, g, v * t(beta2))
            denom = np.sqrt(v / t(1 - beta2 ** steps[i])) + t(eps)
            grad_coef = -lr * (1.0 - mu) / (1.0 - mu_products[i])
            avg_coef = (-lr * mu_next) / (1.0 - mu_products[i] * mu_next)
            p[...] = p + t(grad_coef) * g / denom
            p[...] = p + t(avg_coef) * m / denom
