"""Adversarial robustness: FGSM and PGD attacks, robust accuracy, adversarial training.

The attacks perturb inputs to raise the loss of the true label (or, ``targeted``, to lower the
loss of a chosen label) within a budget ``eps`` in the L-infinity or L2 norm, and clamp to the
valid input range (``(0, 1)`` for images scaled so, ``None`` for no limit). They run the model in
eval mode with frozen parameters, so they neither touch ``.grad`` of the model nor its
training flag.

Adversarial training with ``nncore.train.train_epoch`` (or any loop over ``(x, y)`` batches)
wraps the training loader so every batch is attacked against the current weights::

    from nncore.robust import AdversarialLoader
    adv = AdversarialLoader(loader, model, eps=0.1, attack="pgd", steps=5)
    for epoch in range(epochs):
        train_epoch(model, loss_fn, optimizer, adv)

or, inside a hand-written loop, ``x = adversarial_batch(model, x, y, eps=0.1)`` before the
forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from nncore import functional as F
from nncore import random as _random
from nncore.autograd import no_grad
from nncore.explain._common import as_array, frozen, input_gradient
from nncore.tensor import Tensor

__all__ = ["AdversarialLoader", "adversarial_batch", "fgsm", "pgd", "robust_accuracy"]

Model = Callable[[Tensor], Tensor]


def _sum_ce(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


def _check(name: str, x: Any, y: Any, eps: float, clamp: tuple[float, float] | None
           ) -> tuple[np.ndarray, np.ndarray]:
    xa = as_array(name, x)
    ya = y._array if isinstance(y, Tensor) else np.asarray(y)
    if xa.ndim < 1 or len(xa) == 0:
        raise ValueError(f"{name}: expected a batch of inputs (N, ...), got shape {xa.shape}")
    if ya.ndim < 1 or ya.shape[0] != xa.shape[0]:
        raise ValueError(f"{name}: labels of shape {ya.shape} do not match inputs of shape "
                         f"{xa.shape} (one label per input)")
    if not np.isscalar(eps) or not np.isfinite(eps) or eps < 0:
        raise ValueError(f"{name}: eps must be a finite number >= 0, got {eps!r}")
    if clamp is not None and (len(clamp) != 2 or not clamp[0] < clamp[1]):
        raise ValueError(f"{name}: clamp must be a (min, max) pair with min < max, got {clamp!r}")
    return xa, ya


def _clamp(x: np.ndarray, clamp: tuple[float, float] | None) -> np.ndarray:
    return x if clamp is None else np.clip(x, clamp[0], clamp[1])


def _grad(model: Model, x: np.ndarray, y: np.ndarray, loss_fn: Any) -> np.ndarray:
    yt = Tensor._wrap(y)
    grad, _ = input_gradient(model, x, lambda out: (loss_fn or _sum_ce)(out, yt))
    return grad


def _per_sample_norm(g: np.ndarray) -> np.ndarray:
    """L2 norm of each sample, shaped to broadcast against the batch."""
    flat = g.reshape(len(g), -1)
    return np.sqrt((flat.astype(np.float64) ** 2).sum(axis=1)).reshape(
        (len(g),) + (1,) * (g.ndim - 1))


def fgsm(model: Model, x: Any, y: Any, eps: float, loss_fn: Any = None,
         clamp: tuple[float, float] | None = (0.0, 1.0), targeted: bool = False) -> Tensor:
    """Fast gradient sign method (Goodfellow et al., 2015): one step of size ``eps`` along the
    sign of the input gradient of the loss.

    Args:
        model: an nncore classifier returning logits ``(N, K)``.
        x: inputs ``(N, ...)``.
        y: true labels ``(N,)`` (or, ``targeted``, the labels to reach).
        eps: L-infinity budget, >= 0.
        loss_fn: ``loss_fn(logits, y)`` to raise; default summed cross-entropy.
        clamp: valid input range ``(min, max)``, or None.
        targeted: step to lower the loss of ``y`` instead of raising it.

    Shape:
        Returns a Tensor of ``x``'s shape and dtype.

    Returns:
        The adversarial inputs, with ``|x_adv - x| <= eps`` everywhere.
    """
    xa, ya = _check("fgsm", x, y, eps, clamp)
    if eps == 0:
        return Tensor._wrap(xa.copy())
    g = _grad(model, xa, ya, loss_fn)
    sign = -1 if targeted else 1
    return Tensor._wrap(_clamp(xa + (sign * eps) * np.sign(g).astype(xa.dtype), clamp))


def pgd(model: Model, x: Any, y: Any, eps: float, alpha: float | None = None, steps: int = 10,
        norm: str = "linf", random_start: bool = True, loss_fn: Any = None,
        clamp: tuple[float, float] | None = (0.0, 1.0), targeted: bool = False,
        seed: int | None = None) -> Tensor:
    """Projected gradient descent (Madry et al., 2018) in the L-infinity or L2 ball.

    Each step moves ``alpha`` along the gradient's sign (L-infinity) or its per-sample unit
    direction (L2), then projects back onto the ``eps`` ball around ``x`` and into ``clamp``.

    Args:
        model: an nncore classifier returning logits ``(N, K)``.
        x: inputs ``(N, ...)``.
        y: true labels ``(N,)`` (or, ``targeted``, the labels to reach).
        eps: budget in ``norm``, >= 0.
        alpha: step size; default ``2.5 * eps / steps``.
        steps: gradient steps, >= 1.
        norm: ``"linf"`` or ``"l2"`` (the L2 norm is taken over each whole sample).
        random_start: start from a uniform point of the ball instead of ``x``.
        loss_fn: ``loss_fn(logits, y)`` to raise; default summed cross-entropy.
        clamp: valid input range ``(min, max)``, or None.
        targeted: lower the loss of ``y`` instead of raising it.
        seed: seed of the random start (default: drawn from ``nncore.manual_seed``'s generator).

    Shape:
        Returns a Tensor of ``x``'s shape and dtype.

    Returns:
        The adversarial inputs, within ``eps`` of ``x`` in ``norm`` and inside ``clamp``.
    """
    xa, ya = _check("pgd", x, y, eps, clamp)
    if norm not in ("linf", "l2"):
        raise ValueError(f"pgd: norm must be 'linf' or 'l2', got {norm!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"pgd: steps must be a positive integer, got {steps!r}")
    if alpha is not None and not alpha > 0:
        raise ValueError(f"pgd: alpha must be positive, got {alpha!r}")
    if eps == 0:
        return Tensor._wrap(xa.copy())
    step = 2.5 * eps / steps if alpha is None else float(alpha)
    rng = np.random.default_rng(_random.next_seed() if seed is None else seed)
    if not random_start:
        delta = np.zeros_like(xa)
    elif norm == "linf":
        delta = rng.uniform(-eps, eps, size=xa.shape).astype(xa.dtype)
    else:
        direction = rng.standard_normal(xa.shape)
        radius = eps * rng.random((len(xa),) + (1,) * (xa.ndim - 1)) ** (1 / xa[0].size)
        delta = (direction / np.maximum(_per_sample_norm(direction), 1e-12) * radius
                 ).astype(xa.dtype)
    sign = -1 if targeted else 1
    adv = _clamp(xa + delta, clamp)
    for _ in range(int(steps)):
        g = _grad(model, adv, ya, loss_fn)
        if norm == "linf":
            adv = adv + (sign * step) * np.sign(g).astype(xa.dtype)
            delta = np.clip(adv - xa, -eps, eps)
        else:
            unit = g / np.maximum(_per_sample_norm(g), 1e-12)
            adv = adv + (sign * step) * unit.astype(xa.dtype)
            delta = adv - xa
            # NOTE: the 1e-6 margin keeps float32 rounding from leaving the ball.
            scale = np.minimum(1.0, eps * (1 - 1e-6) / np.maximum(_per_sample_norm(delta), 1e-12))
            delta = delta * scale.astype(xa.dtype)
        adv = _clamp(xa + delta, clamp)
    return Tensor._wrap(adv.astype(xa.dtype, copy=False))


_ATTACKS = {"fgsm": fgsm, "pgd": pgd}


def _attack(name: str, attack: str | Callable) -> Callable:
    if callable(attack):
        return attack
    if attack not in _ATTACKS:
        raise ValueError(f"{name}: attack must be 'fgsm', 'pgd' or a callable, got {attack!r}")
    return _ATTACKS[attack]


def robust_accuracy(model: Model, x: Any, y: Any, epsilons: Sequence[float],
                    attack: str | Callable = "pgd", batch_size: int = 1000,
                    **attack_kwargs: Any) -> dict[float, float]:
    """Accuracy of ``model`` on inputs attacked with each budget in ``epsilons``.

    Args:
        model: an nncore classifier returning logits ``(N, K)``.
        x: inputs ``(N, ...)``.
        y: labels ``(N,)``.
        epsilons: budgets, each >= 0 (0 gives the clean accuracy).
        attack: ``"pgd"``, ``"fgsm"`` or a callable ``attack(model, x, y, eps, **kw)``.
        batch_size: inputs attacked at a time.
        **attack_kwargs: passed to the attack (``steps``, ``norm``, ``clamp``, ``seed``...).

    Returns:
        ``{eps: accuracy}`` in the order of ``epsilons``.
    """
    name = "robust_accuracy"
    fn = _attack(name, attack)
    eps_list = [float(e) for e in np.atleast_1d(np.asarray(epsilons, dtype=np.float64))]
    for e in eps_list:
        _check(name, x, y, e, attack_kwargs.get("clamp"))
    xa, ya = _check(name, x, y, 0.0, None)
    if batch_size < 1:
        raise ValueError(f"{name}: batch_size must be positive, got {batch_size}")
    result = {}
    for e in eps_list:
        correct = 0
        for i in range(0, len(xa), batch_size):
            xb, yb = xa[i:i + batch_size], ya[i:i + batch_size]
            adv = fn(model, xb, yb, e, **attack_kwargs)
            with frozen(model), no_grad():
                pred = model(adv if isinstance(adv, Tensor) else Tensor._wrap(adv))._array
            correct += int(np.count_nonzero(pred.argmax(axis=-1) == yb))
        result[e] = correct / len(xa)
    return result


def adversarial_batch(model: Model, x: Any, y: Any, eps: float, attack: str | Callable = "pgd",
                      **attack_kwargs: Any) -> Tensor:
    """One training batch attacked against the current weights (for adversarial training).

    Args:
        model: the model being trained (its training flag and ``.grad`` are left as they are).
        x: inputs ``(N, ...)``. y: labels ``(N,)``.
        eps: budget, >= 0.
        attack: ``"pgd"`` (default), ``"fgsm"`` or a callable.
        **attack_kwargs: passed to the attack.

    Returns:
        The adversarial inputs as a Tensor (use them in place of ``x`` for the update).
    """
    return _attack("adversarial_batch", attack)(model, x, y, eps, **attack_kwargs)


class AdversarialLoader:
    """A loader of ``(x, y)`` batches whose inputs are attacked on the fly.

    Args:
        loader: any iterable of ``(x, y)`` batches with ``len``.
        model: the model under training (attacked with its weights at each batch).
        eps: budget, >= 0.
        attack: ``"pgd"`` (default), ``"fgsm"`` or a callable.
        fraction: share of each batch replaced by its adversarial version (1.0: all of it;
            0.5 trains on half clean, half adversarial samples).
        **attack_kwargs: passed to the attack.
    """

    def __init__(self, loader: Any, model: Model, eps: float, attack: str | Callable = "pgd",
                 fraction: float = 1.0, **attack_kwargs: Any) -> None:
        if not np.isscalar(eps) or not np.isfinite(eps) or eps < 0:
            raise ValueError(f"AdversarialLoader: eps must be a finite number >= 0, got {eps!r}")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"AdversarialLoader: fraction must be in (0, 1], got {fraction!r}")
        self.loader, self.model, self.eps = loader, model, float(eps)
        self.attack = _attack("AdversarialLoader", attack)
        self.fraction, self.attack_kwargs = float(fraction), attack_kwargs

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Any]]:
        for x, y in self.loader:
            xa = as_array("AdversarialLoader", x)
            k = int(round(self.fraction * len(xa)))
            if k == 0:
                yield x, y
                continue
            ya = y._array if isinstance(y, Tensor) else np.asarray(y)
            adv = self.attack(self.model, xa[:k], ya[:k], self.eps, **self.attack_kwargs)
            adv = adv._array if isinstance(adv, Tensor) else np.asarray(adv)
            out = adv if k == len(xa) else np.concatenate([adv, xa[k:]])
            yield Tensor._wrap(out), y
