"""Adadelta (torch.optim.Adadelta)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_non_negative, _fma


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's formulas.

    Args:
        params: Parameters or param-group dicts.
        lr: coefficient scaling the delta before it is applied.
        rho: decay rate of the running averages, in [0, 1].
        eps: added inside the square roots for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        capturable, differentiable: must be False (CUDA graphs and autograd through the step
            are not supported).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    _kernel = staticmethod(_C.adadelta_step)

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("Adadelta", "learning rate", group["lr"])
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value {group['rho']!r} (expected in [0, 1])")
        _check_non_negative("Adadelta", "epsilon value", group["eps"])
        _check_non_negative("Adadelta", "weight_decay", group["weight_decay"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        square_avgs, acc_deltas = [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["square_avg"] = np.zeros_like(p)
                st["acc_delta"] = np.zeros_like(p)
            st["step"] += 1
            square_avgs.append(st["square_avg"])
            acc_deltas.append(st["acc_delta"])
        self._kernel(params, grads, square_avgs, acc_deltas, float(group["lr"]),
                     float(group["rho"]), float(group["eps"]), float(group["weight_decay"]),
                     bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        square_avgs: list[np.ndarray], acc_deltas: list[np.ndarray], lr: float,
                        rho: float, eps: float, weight_decay: float, maximize: bool) -> None:
        """NumPy form of ``_C.adadelta_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = _fma(weight_decay, p, g)
            s, acc = square_avgs[i], acc_deltas[i]
            s[...] = _fma(t(1 - rho) * g, g, s * t(rho))
            delta = np.sqrt(acc + t(eps)) / np.sqrt(s + t(eps)) * g
            acc[...] = _fma(t(1 - rho) * delta, delta, acc * t(rho))
            p[...] = _fma(-lr, delta, p)
