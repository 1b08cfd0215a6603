"""Convolution, transposed convolution and pooling layers with PyTorch's names, parameter
layouts, defaults and init."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.dropout import Dropout2d  # noqa: F401  (kept importable from here: old pickles)
from nncore.nn.module import Module
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor


def _tuple(value: Any, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _ConvNd(Module):
    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any, padding: Any, dilation: Any, groups: int, bias: bool,
                 padding_mode: str, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        if in_channels <= 0 or out_channels <= 0 or groups <= 0:
            raise ValueError(f"{name}: in_channels, out_channels and groups must be positive, got "
                             f"{in_channels}, {out_channels}, {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} "
                             f"must both be divisible by groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got "
                             f"{padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, dims)
        self.stride = _tuple(stride, dims)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, dims)
        self.dilation = _tuple(dilation, dims)
        self.padding_mode = padding_mode
        self.weight = Parameter(np.zeros((out_channels, in_channels // groups) + self.kernel_size),
                                dtype=dtype)
        self.bias = Parameter(np.zeros(out_channels), dtype=dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * int(np.prod(self.kernel_size))
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        n = len(self.kernel_size)
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over NCHW input (``torch.nn.Conv2d``); weight (out, in / groups, kH, kW)
    initialised with kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or (kH, kW).
        stride, padding (int, pair, 'same' or 'valid'), dilation, groups: as
            :func:`nncore.functional.conv2d`.
        bias: learn an additive bias.
        padding_mode: 'zeros' only.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        dtype = param_dtype(type(self).__name__, device, dtype)
        super().__init__(2, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) input (``torch.nn.Conv1d``); weight (out, in / groups, k).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups: as
            :class:`Conv2d`, with ints for the one spatial axis.
        bias, padding_mode, device, dtype: as :class:`Conv2d`.
    Shape:
        (N, C_in, L) -> (N, C_out, L_out).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        dtype = param_dtype(type(self).__name__, device, dtype)
        super().__init__(1, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)

    def forward(self, x: Tensor) -> Tensor:
        pad = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], pad, self.dilation[0],
                        self.groups)


class MaxPool2d(Module):
    """Maximum over sliding windows (``torch.nn.MaxPool2d``).

    Args:
        kernel_size, stride, padding, dilation, return_indices, ceil_mode: as
            :func:`nncore.functional.max_pool2d` (``stride`` defaults to ``kernel_size``).
    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over sliding windows (``torch.nn.AvgPool2d``).

    Args:
        kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override: as
            :func:`nncore.functional.avg_pool2d` (``stride`` defaults to ``kernel_size``).
    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean over windows that produce ``output_size`` (``torch.nn.AdaptiveAvgPool2d``).

    Args:
        output_size: int or (oH, oW) (None keeps that input size).
    Shape:
        (N, C, H, W) -> (N, C, oH, oW).
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---- transposed convolution ----------------------------------------------------------------


class _ConvTransposeNd(Module):
    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name, dims = type(self).__name__, self._dims
        dtype = param_dtype(name, device, dtype)
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {name}, got '
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of ints, got "
                             f"{padding!r} (string padding is only for convolutions)")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, dims)
        self.stride = _tuple(stride, dims)
        self.padding = _tuple(padding, dims)
        self.output_padding = _tuple(output_padding, dims)
        self.dilation = _tuple(dilation, dims)
        self.padding_mode, self.transposed = padding_mode, True
        self.weight = Parameter(np.zeros((in_channels, out_channels // groups) + self.kernel_size,
                                         dtype=dtype))
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    reset_parameters = _ConvNd.reset_parameters

    def extra_repr(self) -> str:
        n = self._dims
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        for name, default in (("padding", 0), ("dilation", 1), ("output_padding", 0)):
            if getattr(self, name) != (default,) * n:
                s += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        """output_padding, or the one that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        dims, name = self._dims, type(self).__name__
        size = list(output_size)
        if len(size) == dims + 2:
            size = size[2:]
        if len(size) != dims:
            raise ValueError(f"{name}: output_size must have {dims} or {dims + 2} elements "
                             f"(got {len(output_size)})")
        spatial = x.shape[-dims:]
        low = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
               zip(spatial, self.stride, self.padding, self.dilation, self.kernel_size)]
        high = [lo + s - 1 for lo, s in zip(low, self.stride)]
        if any(not lo <= o <= hi for o, lo, hi in zip(size, low, high)):
            raise ValueError(f"requested an output size of {size}, but valid sizes range from "
                             f"{low} to {high} (for an input of {tuple(spatial)})")
        return tuple(int(o) - lo for o, lo in zip(size, low))


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (``torch.nn.ConvTranspose2d``); weight (in, out / groups, kH,
    kW) initialised with kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = out / groups * kH * kW (PyTorch's rule for transposed weights).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or (kH, kW).
        stride, padding, output_padding, groups, dilation: as
            :func:`nncore.functional.conv_transpose2d`.
        bias: learn an additive bias.
        padding_mode: 'zeros' only (as PyTorch).
        device: CPU only.
        dtype: parameter dtype (the default dtype when None).
    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out); ``forward(x, output_size)`` picks the
        output_padding that gives ``output_size``.
    """

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution (``torch.nn.ConvTranspose1d``); weight (in, out / groups, k).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, output_padding, groups: as
            :class:`ConvTranspose2d`, ints for the one spatial axis.
        bias, dilation, padding_mode, device, dtype: as :class:`ConvTranspose2d`.
    Shape:
        (N, C_in, L) -> (N, C_out, L_out).
    """

    _dims = 1

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride[0], self.padding[0],
                                  self._output_padding(x, output_size)[0], self.groups,
                                  self.dilation[0])


# ---- 1-d and adaptive pooling ----------------------------------------------------------------


class MaxPool1d(MaxPool2d):
    """Maximum over sliding windows of (N, C, L) input (``torch.nn.MaxPool1d``).

    Args:
        kernel_size, stride, padding, dilation, return_indices, ceil_mode: as
            :func:`nncore.functional.max_pool1d` (``stride`` defaults to ``kernel_size``).
    Shape:
        (N, C, L) -> (N, C, L_out).
    """

    def forward(self, x: Tensor) -> Any:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    """Mean over sliding windows of (N, C, L) input (``torch.nn.AvgPool1d``).

    Args:
        kernel_size, stride (defaults to kernel_size), padding, ceil_mode, count_include_pad:
            as :func:`nncore.functional.avg_pool1d`.
    Shape:
        (N, C, L) -> (N, C, L_out).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 1)
        self.stride = _tuple(stride if stride is not None else kernel_size, 1)
        self.padding = _tuple(padding, 1)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Mean over adaptive windows of (N, C, L) input (``torch.nn.AdaptiveAvgPool1d``).

    Args:
        output_size: int (oL).
    Shape:
        (N, C, L) -> (N, C, oL).
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveMaxPool2d(Module):
    """Maximum over adaptive windows (``torch.nn.AdaptiveMaxPool2d``).

    Args:
        output_size: int or (oH, oW) (None keeps that input size).
        return_indices: also return the flat h*w positions of the maxima.
    Shape:
        (N, C, H, W) -> (N, C, oH, oW).
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Maximum over adaptive windows of (N, C, L) input (``torch.nn.AdaptiveMaxPool1d``).

    Args:
        output_size: int (oL).
        return_indices: also return the positions of the maxima along L.
    Shape:
        (N, C, L) -> (N, C, oL).
    """

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


# ---- 3-d layers: not supported -------------------------------------------------------------


class _Unsupported3d(Module):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"nn.{type(self).__name__}: 3-D convolution and pooling are not supported by nncore "
            f"(its native kernels cover 1-D and 2-D layers); reshape to a 2-D layer or use "
            f"PyTorch for volumetric data")


class Conv3d(_Unsupported3d):
    """``torch.nn.Conv3d``: not supported (raises NotImplementedError when constructed)."""


class ConvTranspose3d(_Unsupported3d):
    """``torch.nn.ConvTranspose3d``: not supported (raises NotImplementedError)."""


class MaxPool3d(_Unsupported3d):
    """``torch.nn.MaxPool3d``: not supported (raises NotImplementedError)."""


class AvgPool3d(_Unsupported3d):
    """``torch.nn.AvgPool3d``: not supported (raises NotImplementedError)."""


class AdaptiveAvgPool3d(_Unsupported3d):
    """``torch.nn.AdaptiveAvgPool3d``: not supported (raises NotImplementedError)."""


class AdaptiveMaxPool3d(_Unsupported3d):
    """``torch.nn.AdaptiveMaxPool3d``: not supported (raises NotImplementedError)."""
