"""Normalisation layers: BatchNorm, LayerNorm, GroupNorm, InstanceNorm and LocalResponseNorm,
with PyTorch's names, parameters and defaults."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.module import Module
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor

# ==== batch_norm ===============================================================================


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        dtype = param_dtype(type(self).__name__, device, dtype)
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got "
                             f"{num_features}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features), dtype=dtype)
            if bias:
                self.bias = Parameter(np.zeros(num_features), dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor._wrap(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._array[...] = 0
            self.running_var._array[...] = 1
            self.num_batches_tracked._array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._ranks:
            expected = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{type(self).__name__}: expected {expected} input (got {x.ndim}D "
                             f"input of shape {x.shape})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._array[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked._array)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input (``torch.nn.BatchNorm1d``).

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: factor of the new statistic in the running update; None for a cumulative
            average.
        affine: learn weight (init 1) and bias (init 0).
        track_running_stats: keep running_mean/running_var/num_batches_tracked buffers and use
            them in eval mode.
        device: the CPU (the only device).
        dtype: parameter and buffer dtype (``nncore.get_default_dtype()`` when None).
        bias: learn the bias (with ``affine``).
    Shape:
        (N, C) or (N, C, L) -> the same.
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input (``torch.nn.BatchNorm2d``).

    Args:
        num_features, eps, momentum, affine, track_running_stats, dtype: as
            :class:`BatchNorm1d`.
    Shape:
        (N, C, H, W) -> the same.
    """

    _ranks = (4,)


# ==== end batch_norm ===========================================================================


# ==== layer_norm ==================================================================================


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims, then scales and shifts per element.

    Args:
        normalized_shape: int or tuple, the trailing dims to normalise over.
        eps: added to the (biased) variance.
        elementwise_affine: learn ``weight`` (init 1) and, when ``bias``, ``bias`` (init 0).
        bias: learn an additive bias (with elementwise_affine).
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input (*, *normalized_shape) -> output of the same shape.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dtype = param_dtype("LayerNorm", device, dtype)
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
            normalized_shape)
        if not shape or math.prod(shape) <= 0:
            raise ValueError(f"LayerNorm: normalized_shape must be non-empty and positive, got "
                             f"{normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(shape), dtype=dtype) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape), dtype=dtype) if elementwise_affine and bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


# ==== end layer_norm ==============================================================================


# ==== batch_norm 3d, group_norm, instance_norm, local_response_norm ===============================


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input (``torch.nn.BatchNorm3d``).

    Args:
        num_features, eps, momentum, affine, track_running_stats, dtype: as
            :class:`BatchNorm1d`.
    Shape:
        (N, C, D, H, W) -> the same.
    """

    _ranks = (5,)


def _affine_parameters(module: Module, size: int, affine: bool, bias: bool,
                       dtype: np.dtype) -> None:
    """weight (ones) and, with ``bias``, bias (zeros) of shape (size,) when ``affine``; the
    missing ones registered as None, as PyTorch's norm layers do."""
    module.register_parameter("weight", Parameter(np.ones(size, dtype=dtype)) if affine else None)
    module.register_parameter("bias", Parameter(np.zeros(size, dtype=dtype))
                              if affine and bias else None)


class GroupNorm(Module):
    """Group normalisation (``torch.nn.GroupNorm``): the channels split into ``num_groups``
    groups, each normalised per sample, then a per-channel affine.

    Args:
        num_groups: number of groups (divides num_channels).
        num_channels: C.
        eps: added to the variance.
        affine: learn weight (init 1) and bias (init 0) of shape (C,).
        device: CPU only.
        bias: learn the bias (with ``affine``).
        dtype: parameter dtype (the default dtype when None).
    Shape:
        (N, C, *) -> the same.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        dtype = param_dtype("GroupNorm", device, dtype)
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        _affine_parameters(self, num_channels, affine, bias, dtype)

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    _no_batch_dim = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        dtype = param_dtype(type(self).__name__, device, dtype)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, num_features, affine, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor._wrap(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._array[...] = 0
            self.running_var._array[...] = 1
            self.num_batches_tracked._array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        name, nb = type(self).__name__, self._no_batch_dim
        if x.ndim not in (nb, nb + 1):
            raise ValueError(f"{name}: expected {nb}D or {nb + 1}D input (got {x.ndim}D input of "
                             f"shape {x.shape})")
        feature_dim = x.ndim - nb
        if x.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"{name}: expected input's size at dim={feature_dim} to match "
                                 f"num_features ({self.num_features}), but got: "
                                 f"{x.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You "
                          f"can silence this warning by not passing in num_features, which is "
                          f"not used because affine=False", UserWarning, stacklevel=2)
        unbatched = x.ndim == nb
        if unbatched:
            x = x.reshape(1, *x.shape)
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return y.reshape(*y.shape[1:]) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or unbatched (C, L) input
    (``torch.nn.InstanceNorm1d``).

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: factor of the new statistic in the running update (None: 0).
        affine: learn weight (init 1) and bias (init 0).
        track_running_stats: keep running_mean/running_var and use them in eval mode.
        device: CPU only.
        dtype: parameter and buffer dtype (the default dtype when None).
        bias: learn the bias (with ``affine``).
    Shape:
        (N, C, L) or (C, L) -> the same.
    """

    _no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or (C, H, W) input (``torch.nn.InstanceNorm2d``).

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as
            :class:`InstanceNorm1d`.
    Shape:
        (N, C, H, W) or (C, H, W) -> the same.
    """

    _no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation over (N, C, D, H, W) or (C, D, H, W) input
    (``torch.nn.InstanceNorm3d``).

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as
            :class:`InstanceNorm1d`.
    Shape:
        (N, C, D, H, W) or (C, D, H, W) -> the same.
    """

    _no_batch_dim = 4


class LocalResponseNorm(Module):
    """Local response normalisation across channels (``torch.nn.LocalResponseNorm``).

    Args:
        size, alpha, beta, k: as :func:`nncore.functional.local_response_norm`.
    Shape:
        (N, C, *) -> the same.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# ==== end batch_norm 3d, group_norm, instance_norm, local_response_norm ===========================
