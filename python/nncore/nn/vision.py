"""Padding, upsampling, pixel shuffle and fold layers (``torch.nn.modules.padding``,
``upsampling``, ``pixelshuffle`` and ``fold``), each a thin wrapper of its functional."""

from __future__ import annotations

from typing import Any

from nncore import functional as F
from nncore.nn.module import Module
from nncore.tensor import Tensor

# ---- padding -----------------------------------------------------------------------------------


class _PadNd(Module):
    _dims = 2
    _mode = "constant"

    def __init__(self, padding: Any, value: float = 0.0) -> None:
        super().__init__()
        n = 2 * self._dims
        self.padding = (padding,) * n if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} "
                             f"ints, got {padding!r}")
        if self._mode == "constant":
            self.value = value

    def forward(self, x: Tensor) -> Tensor:
        if self._mode == "constant":
            return F.pad(x, self.padding, "constant", self.value)
        return F.pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        if self._mode == "constant":
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pads the last dimension with ``value`` (``torch.nn.ConstantPad1d``).

    Args:
        padding: int or (left, right).
        value: the fill.
    Shape:
        (C, W) or (N, C, W) -> (.., W + left + right).
    """

    _dims = 1

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    """Pads the last two dimensions with ``value`` (``torch.nn.ConstantPad2d``).

    Args:
        padding: int or (left, right, top, bottom).
        value: the fill.
    Shape:
        (N, C, H, W) -> (N, C, H + top + bottom, W + left + right).
    """

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ZeroPad1d(ConstantPad1d):
    """Pads the last dimension with zeros (``torch.nn.ZeroPad1d``).

    Args:
        padding: int or (left, right).
    """

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dimensions with zeros (``torch.nn.ZeroPad2d``).

    Args:
        padding: int or (left, right, top, bottom).
    """

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Pads the last dimension with its reflection (``torch.nn.ReflectionPad1d``).

    Args:
        padding: int or (left, right), each smaller than the dimension.
    """

    _dims, _mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Pads the last two dimensions with their reflection (``torch.nn.ReflectionPad2d``).

    Args:
        padding: int or (left, right, top, bottom), each smaller than its dimension.
    """

    _mode = "reflect"


class ReplicationPad1d(_PadNd):
    """Pads the last dimension by repeating its edge (``torch.nn.ReplicationPad1d``).

    Args:
        padding: int or (left, right).
    """

    _dims, _mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Pads the last two dimensions by repeating their edges (``torch.nn.ReplicationPad2d``).

    Args:
        padding: int or (left, right, top, bottom).
    """

    _mode = "replicate"


class CircularPad1d(_PadNd):
    """Pads the last dimension circularly (``torch.nn.CircularPad1d``).

    Args:
        padding: int or (left, right).
    """

    _dims, _mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Pads the last two dimensions circularly (``torch.nn.CircularPad2d``).

    Args:
        padding: int or (left, right, top, bottom).
    """

    _mode = "circular"


class ConstantPad3d(_PadNd):
    """Pads the last three dimensions with ``value`` (``torch.nn.ConstantPad3d``).

    Args:
        padding: int or (left, right, top, bottom, front, back).
        value: the fill.
    """

    _dims = 3

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dimensions with zeros (``torch.nn.ZeroPad3d``).

    Args:
        padding: int or (left, right, top, bottom, front, back).
    """

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad3d(_PadNd):
    """Pads the last three dimensions with their reflection (``torch.nn.ReflectionPad3d``).

    Args:
        padding: int or a 6-tuple, each smaller than its dimension.
    """

    _dims, _mode = 3, "reflect"


class ReplicationPad3d(_PadNd):
    """Pads the last three dimensions by repeating their edges (``torch.nn.ReplicationPad3d``).

    Args:
        padding: int or a 6-tuple.
    """

    _dims, _mode = 3, "replicate"


class CircularPad3d(_PadNd):
    """Pads the last three dimensions circularly (``torch.nn.CircularPad3d``).

    Args:
        padding: int or a 6-tuple.
    """

    _dims, _mode = 3, "circular"


# ---- upsampling --------------------------------------------------------------------------------


class Upsample(Module):
    """Resizes by ``size`` or ``scale_factor`` (``torch.nn.Upsample``).

    Args:
        size, scale_factor, mode, align_corners, recompute_scale_factor: as
            :func:`nncore.functional.interpolate`.
    Shape:
        (N, C, *spatial) -> (N, C, *size).
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour 2-D upsampling (``torch.nn.UpsamplingNearest2d``).

    Args:
        size, scale_factor: as :class:`Upsample`.
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear 2-D upsampling with align_corners=True (``torch.nn.UpsamplingBilinear2d``).

    Args:
        size, scale_factor: as :class:`Upsample`.
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ---- pixel shuffle and fold --------------------------------------------------------------------


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r) (``torch.nn.PixelShuffle``).

    Args:
        upscale_factor: r.
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W) (``torch.nn.PixelUnshuffle``).

    Args:
        downscale_factor: r.
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Unfold(Module):
    """Sliding local blocks as columns (``torch.nn.Unfold``).

    Args:
        kernel_size, dilation, padding, stride: as :func:`nncore.functional.unfold`.
    """

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Unfold):
    """Columns summed back into an image (``torch.nn.Fold``).

    Args:
        output_size, kernel_size, dilation, padding, stride: as :func:`nncore.functional.fold`.
    """

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, " + super().extra_repr()
