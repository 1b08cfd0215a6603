"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_betas, _check_non_negative, _fma, _lerp


class Adam(Optimizer):
    """Adam (Kingma & Ba), optionally AMSGrad and decoupled weight decay (PyTorch's formulas).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient (decoupled: parameters shrink by
            ``1 - lr * weight_decay`` each step).
        amsgrad: use the maximum of past second moments (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: AdamW's weight decay.
        foreach, fused: PyTorch's implementation switches; nncore always runs its fused native
            step (both True is a RuntimeError, as in PyTorch).
        capturable, differentiable: must be False (CUDA graphs and autograd through the step
            are not supported).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad).
    """

    _kernel = staticmethod(_C.adam_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        _check_non_negative(name, "learning rate", group["lr"])
        _check_non_negative(name, "epsilon value", group["eps"])
        _check_non_negative(name, "weight_decay", group["weight_decay"])
        _check_betas(name, group["betas"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        amsgrad = bool(group["amsgrad"])
        exp_avgs, exp_avg_sqs, max_sqs, steps = [], [], [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["exp_avg"] = np.zeros_like(p)
                st["exp_avg_sq"] = np.zeros_like(p)
                if amsgrad:
                    st["max_exp_avg_sq"] = np.zeros_like(p)
            step = st["step"]
            step += 1
            steps.append(float(step))
            exp_avgs.append(st["exp_avg"])
            exp_avg_sqs.append(st["exp_avg_sq"])
            if amsgrad:
                max_sqs.append(st["max_exp_avg_sq"])
        beta1, beta2 = group["betas"]
        self._kernel(params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps, float(group["lr"]),
                     float(beta1), float(beta2), float(group["eps"]),
                     float(group["weight_decay"]), amsgrad, bool(group["maximize"]),
                     bool(group["decoupled_weight_decay"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        exp_avgs: list[np.ndarray], exp_avg_sqs: list[np.ndarray],
                        max_exp_avg_sqs: list[np.ndarray], steps: list[float], lr: float,
                        beta1: float, beta2: float, eps: float, weight_decay: float,
                        amsgrad: bool, maximize: bool, decoupled_weight_decay: bool) -> None:
        """NumPy form of ``_C.adam_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                if decoupled_weight_decay:
                    p *= t(1 - lr * weight_decay)
                else:
                    g = _fma(weight_decay, p, g)
            m, v = exp_avgs[i], exp_avg_sqs[i]
            m[...] = _lerp(m, g, 1 - beta1)
            v[...] = _fma(t(1 - beta2) * g, g, v * t(beta2))
            if amsgrad:
                np.maximum(max_exp_avg_sqs[i], v, out=max_exp_avg_sqs[i])
                v = max_exp_avg_sqs[i]
            step_size = lr / (1 - beta1 ** steps[i])
            denom = np.sqrt(v) / t(math.sqrt(1 - beta2 ** steps[i])) + t(eps)
            p += t(-step_size) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); ``weight_decay`` defaults to
    1e-2 as in PyTorch. Arguments as :class:`Adam`."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
