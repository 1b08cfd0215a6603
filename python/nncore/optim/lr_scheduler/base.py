"""LRScheduler: PyTorch's base class of learning-rate schedules, and its helpers.

Schedules update ``group["lr"]`` recursively from the current value (PyTorch's chainable
form), so several can drive one optimizer; ``step(epoch)`` (deprecated in PyTorch) uses the
closed form where a schedule has one.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nncore.optim.optimizer import Optimizer
from nncore.tensor import Tensor

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where "
    "possible. Please use `scheduler.step()` to step the scheduler. During the deprecation, if "
    "epoch is different from None, the closed form is used instead of the new chainable form, "
    "where available.")

STEP_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and "
    "later, you should call them in the opposite order: `optimizer.step()` before "
    "`lr_scheduler.step()`.  Failure to do this will result in PyTorch skipping the first value "
    "of the learning rate schedule.")


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """``value`` for every param group: a list or tuple must have one entry per group."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. "
                             f"{name} has {len(value)} values, param_groups has {groups}.")
        return [v.clone() if isinstance(v, Tensor) else v for v in value]
    return [value.clone() if isinstance(value, Tensor) else value] * groups


def _group_values(optimizer: Optimizer, key: str) -> list[Any]:
    """``group[key]`` of every group (Tensors copied, so the list never aliases a group)."""
    return [g[key].clone() if isinstance(g[key], Tensor) else g[key]
            for g in optimizer.param_groups]


def _set_group_value(group: dict[str, Any], key: str, value: Any) -> None:
    """``group[key] = value``; a Tensor hyperparameter is filled in place, as PyTorch does."""
    current = group[key]
    if isinstance(current, Tensor):
        current._write("lr_scheduler", np.asarray(float(value), dtype=current._array.dtype))
    else:
        group[key] = value


class _Flag:
    """Sets a boolean attribute of a scheduler for the duration of a ``with`` block."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name = owner, name

    def __enter__(self) -> None:
        setattr(self.owner, self.name, True)

    def __exit__(self, *exc: Any) -> None:
        setattr(self.owner, self.name, False)


class LRScheduler:
    """Base class: sets each group's ``lr`` to ``get_lr()`` at every ``step()``.

    Construction sets the rates for epoch 0 (one initial step). Call ``scheduler.step()`` after
    ``optimizer.step()``; the other order skips the schedule's first value and warns (a
    UserWarning, as in PyTorch).

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last epoch when resuming (-1 to start fresh; otherwise every
            group needs ``"initial_lr"``).

    Raises:
        TypeError: when ``optimizer`` is not an Optimizer.
        KeyError: when resuming (``last_epoch >= 0``) without ``"initial_lr"`` in the groups.
    """

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not an "
                            f"Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                lr = group["lr"]
                group.setdefault("initial_lr", lr.clone() if isinstance(lr, Tensor) else lr)
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not specified "
                                   f"in param_groups[{i}] when resuming with last_epoch >= 0 "
                                   f"(load the optimizer's state first)")
        self.base_lrs: list[Any] = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and set the rates of the starting epoch."""
        self._step_count = 0
        with _Flag(self, "_is_initial"):
            self.step()

    def get_lr(self) -> list[Any]:
        """Learning rates of every group for epoch ``last_epoch`` (subclasses; called by
        ``step``, use ``get_last_lr()`` to read the current rates)."""
        raise NotImplementedError

    def _warn_if_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use "
                          "`get_last_lr()`.", UserWarning, stacklevel=3)

    def get_last_lr(self) -> list[Any]:
        """Learning rates set by the last ``step()``."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or, deprecated in PyTorch, jump to ``epoch`` with a UserWarning)
        and set the rates."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(STEP_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        with _Flag(self, "_get_lr_called_within_step"):
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            _set_group_value(group, "lr", lr)
        self._last_lr = _group_values(self.optimizer, "lr")

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore attributes saved by ``state_dict``.

        Args:
            state_dict: a dict from ``state_dict()``.
        """
        self.__dict__.update(state_dict)


_LRScheduler = LRScheduler
