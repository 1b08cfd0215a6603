"""Feature scaling with scikit-learn's semantics: ``StandardScaler`` and ``MinMaxScaler``.

Both take 2-D data ``(n_samples, n_features)`` as a NumPy array or a Tensor and return the same
kind: Tensor in, Tensor out (without autograd: scaling is preprocessing). float32 and float64
keep their dtype, other dtypes become float64 (as scikit-learn). Statistics are computed in
float64 and stored as float64 arrays under scikit-learn's attribute names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.tensor import Tensor


def _check_2d(name: str, x: Any) -> tuple[np.ndarray, bool]:
    is_tensor = isinstance(x, Tensor)
    arr = x._array if is_tensor else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected 2-D data (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    return arr, is_tensor


def _out_dtype(arr: np.ndarray) -> np.dtype:
    return arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _safe_scale(scale: np.ndarray) -> np.ndarray:
    """Constant features (scale 0, or numerically ~0) get scale 1, as scikit-learn."""
    scale = scale.copy()
    scale[scale < 10 * np.finfo(scale.dtype).eps] = 1.0
    return scale


class _Scaler:
    """Shared fit/transform plumbing; subclasses set their statistics in ``_fit``."""

    n_features_in_: int

    def _fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _apply(self, x: np.ndarray, inverse: bool) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x: Any, y: Any = None) -> _Scaler:
        """Compute the statistics of ``x``.

        Args:
            x: ``(n_samples, n_features)`` array or Tensor, finite, at least one row.
            y: ignored (scikit-learn compatibility).

        Returns:
            self.
        """
        name = f"{type(self).__name__}.fit"
        arr, _ = _check_2d(name, x)
        if arr.shape[0] == 0:
            raise ValueError(f"{name}: need at least one sample, got shape {arr.shape}")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: input contains NaN or infinity")
        self.n_features_in_ = arr.shape[1]
        self.n_samples_seen_ = arr.shape[0]
        self._fit(arr)
        return self

    def _run(self, x: Any, inverse: bool) -> Any:
        name = f"{type(self).__name__}.{'inverse_transform' if inverse else 'transform'}"
        if not hasattr(self, "n_features_in_"):
            raise ValueError(f"{name}: this scaler is not fitted yet; call fit first")
        arr, is_tensor = _check_2d(name, x)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name}: x has {arr.shape[1]} features (shape {arr.shape}), the scaler was "
                f"fitted on {self.n_features_in_}"
            )
        dtype = _out_dtype(arr)
        out = self._apply(arr.astype(np.float64), inverse).astype(dtype, copy=False)
        return Tensor._wrap(out) if is_tensor else out

    def transform(self, x: Any) -> Any:
        """Scale ``x`` with the fitted statistics.

        Args:
            x: ``(n_samples, n_features)`` array or Tensor.

        Returns:
            The scaled data, same kind and shape (float dtype kept, others float64).
        """
        return self._run(x, inverse=False)

    def inverse_transform(self, x: Any) -> Any:
        """Undo ``transform``.

        Args:
            x: ``(n_samples, n_features)`` scaled array or Tensor.

        Returns:
            The data in its original units, same kind and shape.
        """
        return self._run(x, inverse=True)

    def fit_transform(self, x: Any, y: Any = None) -> Any:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)


class StandardScaler(_Scaler):
    """Standardise features: ``(x - mean_) / scale_``, with the population std (ddof 0).

    Args:
        with_mean: subtract the mean.
        with_std: divide by the standard deviation (constant features are left unscaled).

    Attributes:
        mean_, var_, scale_: per-feature float64 arrays; as scikit-learn, ``mean_`` is None only
            when both options are off, ``var_`` and ``scale_`` when ``with_std`` is.
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def _fit(self, x: np.ndarray) -> None:
        self.mean_ = x.mean(axis=0) if self.with_mean or self.with_std else None
        if self.with_std:
            self.var_ = x.var(axis=0)
            self.scale_ = _safe_scale(np.sqrt(self.var_))
        else:
            self.var_ = self.scale_ = None

    def _apply(self, x: np.ndarray, inverse: bool) -> np.ndarray:
        if inverse:
            if self.scale_ is not None:
                x = x * self.scale_
            return x + self.mean_ if self.with_mean else x
        if self.with_mean:
            x = x - self.mean_
        return x / self.scale_ if self.scale_ is not None else x


class MinMaxScaler(_Scaler):
    """Scale each feature to ``feature_range``: ``x * scale_ + min_``.

    Args:
        feature_range: ``(low, high)`` with ``low < high``.
        clip: clip transformed values to ``feature_range`` (for data outside the fitted range).

    Attributes:
        data_min_, data_max_, data_range_, scale_, min_: per-feature float64 arrays.
    """

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False) -> None:
        low, high = feature_range
        if not low < high:
            raise ValueError(
                f"MinMaxScaler: feature_range must be (low, high) with low < high, got "
                f"{tuple(feature_range)!r}"
            )
        self.feature_range = (float(low), float(high))
        self.clip = clip

    def _fit(self, x: np.ndarray) -> None:
        low, high = self.feature_range
        self.data_min_ = x.min(axis=0)
        self.data_max_ = x.max(axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        self.scale_ = (high - low) / _safe_scale(self.data_range_)
        self.min_ = low - self.data_min_ * self.scale_

    def _apply(self, x: np.ndarray, inverse: bool) -> np.ndarray:
        if inverse:
            return (x - self.min_) / self.scale_
        out = x * self.scale_ + self.min_
        return np.clip(out, *self.feature_range) if self.clip else out
