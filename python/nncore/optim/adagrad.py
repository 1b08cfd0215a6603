"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_non_negative, _fma


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) with PyTorch's formulas.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        lr_decay: the learning rate at step t is ``lr / (1 + (t - 1) * lr_decay)``.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the sum of squared gradients.
        eps: added to the denominator for numerical stability.
        foreach, fused: PyTorch's implementation switches; nncore always runs its fused native
            step (both True is a RuntimeError, as in PyTorch).
        maximize: maximize the objective instead of minimizing it.
        differentiable: must be False (autograd through the step is not supported).

    State per parameter (created here, as in PyTorch): ``step``, ``sum``.
    """

    _kernel = staticmethod(_C.adagrad_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p._array, group)

    @staticmethod
    def _init_state(st: dict[str, Any], p: np.ndarray, group: dict[str, Any]) -> None:
        st["step"] = np.zeros((), dtype=np.float64)
        st["sum"] = np.full_like(p, group["initial_accumulator_value"])

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("Adagrad", "learning rate", group["lr"])
        _check_non_negative("Adagrad", "lr_decay", group["lr_decay"])
        _check_non_negative("Adagrad", "weight_decay", group["weight_decay"])
        _check_non_negative("Adagrad", "initial_accumulator_value",
                            group["initial_accumulator_value"])
        _check_non_negative("Adagrad", "epsilon value", group["eps"])

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        sums, steps = [], []
        for p, st in zip(params, states):
            if not st:  # a param group added after construction
                self._init_state(st, p, group)
            step = st["step"]
            step += 1
            steps.append(float(step))
            sums.append(st["sum"])
        self._kernel(params, grads, sums, steps, float(group["lr"]), float(group["lr_decay"]),
                     float(group["weight_decay"]), float(group["eps"]), bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        state_sums: list[np.ndarray], steps: list[float], lr: float,
                        lr_decay: float, weight_decay: float, eps: float,
                        maximize: bool) -> None:
        """NumPy form of ``_C.adagrad_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = _fma(weight_decay, p, g)
            clr = lr / (1 + (steps[i] - 1) * lr_decay)
            state_sums[i][...] = _fma(g, g, state_sums[i])
            p += t(-clr) * g / (np.sqrt(state_sums[i]) + t(eps))
