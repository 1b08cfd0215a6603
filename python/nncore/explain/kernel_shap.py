"""KernelSHAP (Lundberg and Lee, 2017): Shapley values by weighted linear regression.

A coalition ``z`` in {0, 1}^M keeps the features where ``z`` is 1 and takes the others from each
background row; its value ``v(z)`` is the model output averaged over the background. The Shapley
values are the weighted least-squares fit ``v(z) ~ phi_0 + z . phi`` with the Shapley kernel
weights ``(M - 1) / (C(M, |z|) |z| (M - |z|))`` under the efficiency constraint
``sum(phi) = f(x) - E[f(background)]``. With few features every coalition is enumerated (the
result is then the exact Shapley value of this game); otherwise coalitions are sampled from the
kernel's distribution over sizes, in complementary pairs.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import numpy as np

from nncore.explain._common import as_array, numpy_function


class KernelShap(NamedTuple):
    """Shapley values and the base value ``E[f(background)]`` they are measured from.

    ``values`` has shape ``(N, *features)`` for one output, or ``(N, *features, K)`` for ``K``
    outputs; ``expected_value`` is a float or ``(K,)``.
    """

    values: np.ndarray
    expected_value: Any


def _enumerate(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Every coalition but the empty and the full one, with its Shapley kernel weight."""
    masks, weights = [], []
    for s in range(1, m):
        w = (m - 1) / (math.comb(m, s) * s * (m - s))
        for idx in itertools.combinations(range(m), s):
            z = np.zeros(m, dtype=bool)
            z[list(idx)] = True
            masks.append(z)
            weights.append(w)
    return np.array(masks), np.array(weights)


def _sample(m: int, budget: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``budget`` coalitions drawn from the kernel's distribution, paired with complements;
    repeats merge, and each distinct coalition weighs its count."""
    sizes = np.arange(1, m)
    p = (m - 1) / (sizes * (m - sizes))
    p /= p.sum()
    counts: dict[bytes, int] = {}
    masks: dict[bytes, np.ndarray] = {}
    for _ in range(max(budget // 2, 1)):
        s = rng.choice(sizes, p=p)
        z = np.zeros(m, dtype=bool)
        z[rng.choice(m, size=s, replace=False)] = True
        for c in (z, ~z):
            key = np.packbits(c).tobytes()
            counts[key] = counts.get(key, 0) + 1
            masks[key] = c
    keys = list(masks)
    return np.array([masks[k] for k in keys]), np.array([counts[k] for k in keys], dtype=float)


def _solve(z: np.ndarray, w: np.ndarray, v: np.ndarray, fx: np.ndarray, ev: np.ndarray
           ) -> np.ndarray:
    """Weighted least squares of ``v - ev`` on ``z`` with ``sum(phi) = fx - ev``: the last
    coefficient is eliminated as ``(fx - ev) - sum(others)``."""
    m = z.shape[1]
    total = fx - ev
    if m == 1:
        return total[None, :]
    zf = z.astype(np.float64)
    y = v - ev - zf[:, -1:] * total
    a = zf[:, :-1] - zf[:, -1:]
    sw = np.sqrt(w)[:, None]
    head, *_ = np.linalg.lstsq(a * sw, y * sw, rcond=None)
    return np.vstack([head, total - head.sum(axis=0, keepdims=True)])


def kernel_shap(model: Any, x: Any, background: Any, nsamples: int | str = "auto",
                target: int | None = None, groups: Any = None, seed: int | None = 0,
                batch_size: int = 4096) -> KernelShap:
    """Shapley values of a model's outputs for each input, against a background set.

    Args:
        model: an nncore Module, or any callable mapping a NumPy batch ``(R, *features)`` to
            outputs ``(R,)`` or ``(R, K)``.
        x: inputs to explain ``(N, *features)``.
        background: reference rows ``(B, *features)`` standing in for absent features (a
            few dozen rows, e.g. a k-means summary of the training data).
        nsamples: coalitions evaluated per input: an int, or ``"auto"`` (``2 M + 2048``, as
            the ``shap`` package). When ``2^M - 2 <= nsamples`` every coalition is used and the
            values are exact.
        target: output column to explain; None explains all of them.
        groups: optional integer array of shape ``features`` with values ``0..G-1``: the
            players are these groups (image patches, one-hot blocks) instead of single
            elements.
        seed: seed of the coalition sampler (None: fresh randomness).
        batch_size: rows per model call.

    Shape:
        ``values``: ``(N, *features)`` (or ``(N, G)`` with groups), plus a trailing ``K`` when
        all ``K > 1`` outputs are explained.

    Returns:
        ``KernelShap(values, expected_value)``; each sample's values sum to
        ``f(x) - expected_value``.
    """
    name = "kernel_shap"
    xa, bg = as_array(name, x), as_array(name, background)
    if xa.ndim < 2:
        raise ValueError(f"{name}: expected a batch x (N, *features), got shape {xa.shape}")
    if bg.ndim != xa.ndim or bg.shape[1:] != xa.shape[1:] or len(bg) == 0:
        raise ValueError(f"{name}: background {bg.shape} must be a non-empty batch of x's "
                         f"feature shape {xa.shape[1:]}")
    if nsamples != "auto" and (not isinstance(nsamples, (int, np.integer)) or nsamples < 2):
        raise ValueError(f"{name}: nsamples must be 'auto' or an integer >= 2, got {nsamples!r}")
    feat_shape = xa.shape[1:]
    d = int(np.prod(feat_shape))
    if groups is None:
        gid = np.arange(d)
    else:
        gid = np.asarray(groups).reshape(-1) if np.shape(groups) == feat_shape else None
        if gid is None or gid.dtype.kind not in "iu" or gid.min() < 0:
            raise ValueError(f"{name}: groups must be non-negative integers of shape "
                             f"{feat_shape}, got {np.shape(groups)}")
        gid = np.unique(gid, return_inverse=True)[1].reshape(-1)
    n_players = int(gid.max()) + 1
    f = numpy_function(name, model, batch_size)
    dtype = xa.dtype
    xf, bf = xa.reshape(len(xa), d), bg.reshape(len(bg), d).astype(dtype)
    bg_out = f(bg.astype(dtype))
    ev = bg_out.mean(axis=0)
    if target is not None and not 0 <= target < len(ev):
        raise ValueError(f"{name}: target {target} out of range for {len(ev)} model outputs")
    fx_all = f(xa)
    rng = np.random.default_rng(seed)
    budget = 2 * n_players + 2048 if nsamples == "auto" else int(nsamples)
    phis = []
    for i in range(len(xa)):
        # NOTE: as the shap package, players equal to every background row cannot change the
        # output and get exactly 0; the game is played by the others.
        differs = (bf != xf[i]).any(axis=0)
        varying = np.unique(gid[differs])
        phi = np.zeros((n_players, len(ev)))
        m = len(varying)
        if m > 0:
            if m <= 30 and 2 ** m - 2 <= budget:
                z, w = _enumerate(m) if m > 1 else (np.ones((1, 1), bool), np.ones(1))
            else:
                z, w = _sample(m, budget, rng)
            player_mask = np.zeros((len(z), n_players), dtype=bool)
            player_mask[:, varying] = z
            elem_mask = player_mask[:, gid]  # (S, d)
            rows = np.where(elem_mask[:, None, :], xf[i][None, None, :], bf[None, :, :])
            v = f(rows.reshape((-1,) + feat_shape)).reshape(len(z), len(bf), -1).mean(axis=1)
            phi[varying] = _solve(z, w, v, fx_all[i], ev)
        phis.append(phi)
    values = np.stack(phis)  # (N, players, K)
    out_shape = (len(xa),) + (feat_shape if groups is None else (n_players,))
    values = values.reshape(out_shape + (len(ev),))
    if target is not None:
        return KernelShap(values[..., target], float(ev[target]))
    if len(ev) == 1:
        return KernelShap(values[..., 0], float(ev[0]))
    return KernelShap(values, ev)
