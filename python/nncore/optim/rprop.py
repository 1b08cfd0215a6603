"""Rprop (torch.optim.Rprop)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_non_negative


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun), PyTorch's formulas: each element keeps
    its own step size, grown by ``etaplus`` while the gradient keeps its sign and shrunk by
    ``etaminus`` (with the update skipped) when it flips.

    Args:
        params: Parameters or param-group dicts.
        lr: initial step size.
        etas: (etaminus, etaplus), with 0 < etaminus < 1 < etaplus.
        step_sizes: (minimum, maximum) step size.
        capturable, differentiable: must be False (CUDA graphs and autograd through the step
            are not supported).
        foreach: PyTorch's implementation switch; nncore always runs its fused native step.
        maximize: maximize the objective instead of minimizing it.

    State per parameter: ``step``, ``prev`` (last gradient used), ``step_size``.
    """

    _kernel = staticmethod(_C.rprop_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("Rprop", "learning rate", group["lr"])
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Rprop: invalid eta values {etaminus}, {etaplus} (expected "
                             f"0 < etaminus < 1 < etaplus)")

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        prevs, step_sizes = [], []
        for p, st in zip(params, states):
            if not st:
                st["step"] = np.zeros((), dtype=np.float64)
                st["prev"] = np.zeros_like(p)
                st["step_size"] = np.full_like(p, group["lr"])
            st["step"] += 1
            prevs.append(st["prev"])
            step_sizes.append(st["step_size"])
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        self._kernel(params, grads, prevs, step_sizes, float(etaminus), float(etaplus),
                     float(lo), float(hi), bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        prevs: list[np.ndarray], step_sizes: list[np.ndarray], etaminus: float,
                        etaplus: float, step_size_min: float, step_size_max: float,
                        maximize: bool) -> None:
        """NumPy form of ``_C.rprop_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            t = p.dtype.type
            g = -grads[i] if maximize else grads[i]
            change = g * prevs[i]
            factor = np.where(change > 0, t(etaplus),
                              np.where(change < 0, t(etaminus), np.where(change == 0, t(1),
                                                                         change)))
            ss = step_sizes[i]
            ss[...] = np.minimum(np.maximum(ss * factor, t(step_size_min)), t(step_size_max))
            g = np.where(change < 0, t(0), g)
            p[...] = p - np.sign(g) * ss
            prevs[i][...] = g
