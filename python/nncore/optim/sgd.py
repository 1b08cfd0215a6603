"""Stochastic gradient descent with momentum (torch.optim.SGD)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _C
from nncore.optim.optimizer import Optimizer, _check_non_negative, _fma


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum (PyTorch's formulas).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate.
        momentum: momentum factor (0 = plain SGD).
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: maximize the objective instead of minimizing it.
        foreach, fused: PyTorch's implementation switches; nncore always runs its fused native
            step (both True is a RuntimeError, as in PyTorch).
        differentiable: must be False (autograd through the step is not supported).

    State per parameter: ``momentum_buffer`` (when momentum != 0).
    """

    _kernel = staticmethod(_C.sgd_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_non_negative("SGD", "learning rate", group["lr"])
        _check_non_negative("SGD", "momentum", group["momentum"])
        _check_non_negative("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum and zero dampening, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        bufs: list[np.ndarray] = []
        fresh: list[bool] = []
        if group["momentum"] != 0:
            for p, st in zip(params, states):
                buf = st.get("momentum_buffer")
                fresh.append(buf is None)
                if buf is None:
                    buf = st["momentum_buffer"] = np.empty_like(p)
                bufs.append(buf)
        self._kernel(params, grads, bufs, fresh, float(group["lr"]), float(group["momentum"]),
                     float(group["dampening"]), float(group["weight_decay"]),
                     bool(group["nesterov"]), bool(group["maximize"]))

    @staticmethod
    def _step_reference(params: list[np.ndarray], grads: list[np.ndarray],
                        momentum_buffers: list[np.ndarray], fresh_buffers: list[bool],
                        lr: float, momentum: float, dampening: float, weight_decay: float,
                        nesterov: bool, maximize: bool) -> None:
        """NumPy form of ``_C.sgd_step`` (same arguments, updates in place)."""
        for i, p in enumerate(params):
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = _fma(weight_decay, p, g)
            if momentum != 0:
                buf = momentum_buffers[i]
                if fresh_buffers[i]:
                    buf[...] = g
                else:
                    buf[...] = _fma(1 - dampening, g, buf * p.dtype.type(momentum))
                g = _fma(momentum, buf, g) if nesterov else buf
            p[...] = _fma(-lr, g, p)
