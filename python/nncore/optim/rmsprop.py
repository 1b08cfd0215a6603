"""RMSprop (torch.optim.RMSprop)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_non_negative, _fma, _lerp


class RMSprop(Optimizer):
    """RMSprop (Hinton), optionally centered and with momentum (PyTorch's formulas).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor.
        centered: normalise by an estimate of the gradient's variance.
        maximize: maximize the objective instead of minimizing it.
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        capturable, differentiable: must be False (CUDA graphs and autograd through the step
            are not supported).

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    _kernel = staticmethod(_C.rmsprop_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("RMSprop", "learning rate", group["lr"])
        _check_non_negative("RMSprop", "epsilon value", group["eps"])
        _check_non_negative("RMSprop", "momentum", group["momentum"])
        _check_non_negative("RMSprop", "weight_decay", group["weight_decay"])
        _check_non_negative("RMSprop", "alpha", group["alpha"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        use_momentum, centered = group["momentum"] > 0, bool(group["centered"])
        square_avgs, bufs, grad_avgs = [], [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["square_avg"] = np.zeros_like(p)
                if use_momentum:
                    st["momentum_buffer"] = np.zeros_like(p)
                if centered:
                    st["grad_avg"] = np.zeros_like(p)
            st["step"] += 1
            square_avgs.append(st["square_avg"])
            if use_momentum:
                bufs.append(st["momentum_buffer"])
            if centered:
                grad_avgs.append(st["grad_avg"])
        self._kernel(params, grads, square_avgs, bufs, grad_avgs, float(group["lr"]),
                     float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]),
                     float(group["momentum"]), centered, bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        square_avgs: list[np.ndarray], momentum_buffers: list[np.ndarray],
                        grad_avgs: list[np.ndarray], lr: float, alpha: float, eps: float,
                        weight_decay: float, momentum: float, centered: bool,
                        maximize: bool) -> None:
        """NumPy form of ``_C.rmsprop_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = _fma(weight_decay, p, g)
            s = square_avgs[i]
            s[...] = _fma(t(1 - alpha) * g, g, s * t(alpha))
            if centered:
                ga = grad_avgs[i]
                ga[...] = _lerp(ga, g, 1 - alpha)
                avg = np.sqrt(_fma(-ga, ga, s)) + t(eps)
            else:
                avg = np.sqrt(s) + t(eps)
            if momentum > 0:
                buf = momentum_buffers[i]
                buf[...] = buf * t(momentum) + g / avg
                p[...] = _fma(-lr, buf, p)
            else:
                p += t(-lr) * g / avg
