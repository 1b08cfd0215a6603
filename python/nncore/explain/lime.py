"""LIME (Ribeiro et al., 2016): a weighted local linear surrogate fitted around one input.

Perturbations of the input are scored by the model and weighted by their proximity with the
exponential kernel ``sqrt(exp(-d^2 / width^2))`` (the ``lime`` package's); a ridge regression
(alpha 1, unpenalised intercept) of the target output on the perturbations' interpretable
features gives the explanation. Tabular data is perturbed with Gaussian noise scaled by the
training data's spread; images switch segments (superpixels or square patches) on and off.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from nncore.explain._common import as_array, numpy_function, resolve_target


class LimeExplanation(NamedTuple):
    """A local linear surrogate.

    Attributes:
        coefficients: one weight per interpretable feature (a tabular feature, in units of its
            training standard deviation; or an image segment, for switching it on).
        intercept: the surrogate's value with every feature at the instance (tabular) or every
            segment off (images).
        score: weighted R^2 of the surrogate on the perturbations.
        local_prediction: the surrogate's prediction at the instance itself.
        top_features: feature (segment) indices by decreasing ``|coefficient|``.
        target: the output index explained.
        segments: for images, the segment label of each pixel ``(H, W)``; else None.
    """

    coefficients: np.ndarray
    intercept: float
    score: float
    local_prediction: float
    top_features: np.ndarray
    target: int
    segments: np.ndarray | None = None


def _kernel(d: np.ndarray, width: float) -> np.ndarray:
    return np.sqrt(np.exp(-(d ** 2) / width ** 2))


def _ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float = 1.0
           ) -> tuple[np.ndarray, float, float]:
    """Weighted ridge regression with an unpenalised intercept: (coef, intercept, R^2)."""
    wn = w / w.sum()
    xm, ym = wn @ x, wn @ y
    xc, yc = x - xm, y - ym
    gram = (xc * w[:, None]).T @ xc + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, (xc * w[:, None]).T @ yc)
    intercept = float(ym - xm @ coef)
    resid = y - (x @ coef + intercept)
    ss_tot = float(w @ yc ** 2)
    score = 1.0 - float(w @ resid ** 2) / ss_tot if ss_tot > 0 else 1.0
    return coef, intercept, score


def _fit(name: str, features: np.ndarray, outputs: np.ndarray, weights: np.ndarray,
         target: Any, num_features: int | None, instance: np.ndarray) -> tuple:
    t = int(resolve_target(name, target, outputs[:1])[0])
    y = outputs[:, t]
    coef, intercept, score = _ridge(features, y, weights)
    top = np.argsort(-np.abs(coef), kind="stable")
    if num_features is not None and num_features < len(coef):
        # NOTE: lime's "highest_weights" selection: keep the strongest features of the full
        # fit, refit on them alone; the others get 0.
        keep = np.sort(top[:num_features])
        sub, intercept, score = _ridge(features[:, keep], y, weights)
        coef = np.zeros_like(coef)
        coef[keep] = sub
        top = np.argsort(-np.abs(coef), kind="stable")[:num_features]
    return coef, intercept, score, float(instance @ coef + intercept), top, t


def _check_budget(name: str, num_samples: int, num_features: int | None) -> None:
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 2:
        raise ValueError(f"{name}: num_samples must be an integer >= 2, got {num_samples!r}")
    if num_features is not None and num_features < 1:
        raise ValueError(f"{name}: num_features must be positive, got {num_features}")


def lime_tabular(model: Any, x: Any, training_data: Any, target: int | None = None,
                 num_samples: int = 5000, kernel_width: float | None = None,
                 num_features: int | None = None, seed: int | None = 0) -> LimeExplanation:
    """Explain one tabular input with a local linear surrogate.

    Perturbations are ``x + std * N(0, 1)`` (the training data's per-feature standard
    deviation; constant features stay fixed); the surrogate's features are the standardised
    offsets ``(z - x) / std`` and the proximity is their Euclidean norm.

    Args:
        model: an nncore Module or any callable mapping ``(R, d)`` arrays to ``(R,)`` or
            ``(R, K)`` outputs (probabilities, as ``predict_proba``, or scores).
        x: the instance ``(d,)``.
        training_data: rows ``(T, d)`` giving each feature's scale.
        target: output index to explain; None takes the model's top output at ``x``.
        num_samples: perturbations (the first is ``x`` itself).
        kernel_width: proximity kernel width; default ``0.75 * sqrt(d)`` (lime's).
        num_features: keep only this many features (the strongest), refitting on them.
        seed: seed of the perturbations.

    Returns:
        A ``LimeExplanation`` with one coefficient per feature.
    """
    name = "lime_tabular"
    xa, train = as_array(name, x), as_array(name, training_data)
    if xa.ndim != 1:
        raise ValueError(f"{name}: expected one instance x of shape (d,), got {xa.shape}")
    if train.ndim != 2 or train.shape[1] != xa.shape[0] or len(train) == 0:
        raise ValueError(f"{name}: training_data must be (T, {xa.shape[0]}), got {train.shape}")
    _check_budget(name, num_samples, num_features)
    d = xa.shape[0]
    width = 0.75 * np.sqrt(d) if kernel_width is None else float(kernel_width)
    if width <= 0:
        raise ValueError(f"{name}: kernel_width must be positive, got {kernel_width}")
    std = train.std(axis=0).astype(np.float64)
    std[std == 0] = 1.0
    rng = np.random.default_rng(seed)
    offsets = rng.standard_normal((num_samples, d))
    offsets[0] = 0.0
    z = (xa.astype(np.float64) + offsets * std).astype(xa.dtype)
    outputs = numpy_function(name, model)(z)
    weights = _kernel(np.linalg.norm(offsets, axis=1), width)
    return LimeExplanation(*_fit(name, offsets, outputs, weights, target, num_features,
                                 np.zeros(d)))


def patch_segments(height: int, width: int, patch_size: int) -> np.ndarray:
    """Square-patch segmentation ``(height, width)``: patches numbered row by row."""
    if patch_size < 1:
        raise ValueError(f"patch_segments: patch_size must be positive, got {patch_size}")
    rows = np.arange(height) // patch_size
    cols = np.arange(width) // patch_size
    return rows[:, None] * (-(-width // patch_size)) + cols[None, :]


def superpixels(image: Any, n_segments: int = 50, compactness: float = 10.0) -> np.ndarray:
    """SLIC superpixels ``(H, W)`` of a ``(C, H, W)`` or ``(H, W)`` image (needs scikit-image)."""
    try:
        from skimage.segmentation import slic
    except ImportError:
        raise ImportError("superpixels needs scikit-image (pip install scikit-image); "
                          "patch_segments needs nothing") from None
    img = as_array("superpixels", image)
    if img.ndim == 3:
        return slic(np.moveaxis(img, 0, -1).astype(np.float64), n_segments=n_segments,
                    compactness=compactness, start_label=0)
    return slic(img.astype(np.float64), n_segments=n_segments, compactness=compactness,
                start_label=0, channel_axis=None)


def lime_image(model: Any, image: Any, target: int | None = None, segments: Any = None,
               patch_size: int | None = None, hide_color: float | None = None,
               num_samples: int = 1000, kernel_width: float = 0.25,
               num_features: int | None = None, seed: int | None = 0,
               batch_size: int = 256) -> LimeExplanation:
    """Explain one image by switching its segments on and off.

    Each perturbation keeps a random subset of segments and fills the rest with ``hide_color``
    (or, when None, each hidden segment's own mean colour, as lime); proximity is the cosine
    distance of the on/off vector to all-on.

    Args:
        model: an nncore Module or callable mapping ``(R, *image.shape)`` batches to ``(R, K)``.
        image: ``(C, H, W)`` or ``(H, W)``.
        target: output index to explain; None takes the model's top output for the image.
        segments: integer label per pixel ``(H, W)`` (superpixels, e.g. ``superpixels(image)``);
            default square patches of ``patch_size`` (default ``max(H, W) // 7``, at least 1).
        hide_color: fill value of hidden segments (None: the segment's mean).
        num_samples: perturbations (the first keeps every segment).
        kernel_width: width of the exponential kernel on the cosine distance.
        num_features: keep only the strongest segments, refitting on them.
        seed: seed of the perturbations.
        batch_size: images per model call.

    Returns:
        A ``LimeExplanation``: one coefficient per segment and ``segments``;
        ``coefficients[segments]`` is the pixel heat map.
    """
    name = "lime_image"
    img = as_array(name, image)
    if img.ndim not in (2, 3):
        raise ValueError(f"{name}: expected an image (C, H, W) or (H, W), got {img.shape}")
    _check_budget(name, num_samples, num_features)
    h, w = img.shape[-2:]
    if segments is None:
        seg = patch_segments(h, w, patch_size or max(max(h, w) // 7, 1))
    else:
        seg = np.asarray(segments)
        if seg.shape != (h, w) or seg.dtype.kind not in "iu":
            raise ValueError(f"{name}: segments must be integer labels of shape {(h, w)}, got "
                             f"{seg.shape} {seg.dtype}")
    labels, seg = np.unique(seg, return_inverse=True)
    seg = seg.reshape(h, w)
    s = len(labels)
    chw = img.reshape((-1, h, w))
    if hide_color is None:
        counts = np.bincount(seg.ravel(), minlength=s)
        means = np.stack([np.bincount(seg.ravel(), c.ravel(), minlength=s) / counts
                          for c in chw])  # (C, S)
        fill = means[:, seg].astype(img.dtype)  # (C, H, W)
    else:
        fill = np.full(chw.shape, hide_color, dtype=img.dtype)
    rng = np.random.default_rng(seed)
    on = np.ones((num_samples, s), dtype=bool)
    for row in on[1:]:
        row[rng.choice(s, size=rng.integers(1, s + 1), replace=False)] = False
    f = numpy_function(name, model, batch_size)

    def render(rows: np.ndarray) -> np.ndarray:
        keep = rows[:, seg][:, None]  # (R, 1, H, W)
        return np.where(keep, chw[None], fill[None]).reshape((len(rows),) + img.shape)

    outputs = np.concatenate([f(render(on[i:i + batch_size]))
                              for i in range(0, num_samples, batch_size)])
    onf = on.astype(np.float64)
    cos = 1.0 - onf.sum(axis=1) / (np.sqrt(onf.sum(axis=1)) * np.sqrt(s) + 1e-12)
    weights = _kernel(cos, kernel_width)
    fit = _fit(name, onf, outputs, weights, target, num_features, np.ones(s))
    return LimeExplanation(*fit, segments=seg)
