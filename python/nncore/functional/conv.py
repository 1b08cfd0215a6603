"""Functional forms of the conv family: conv1d/2d, conv_transpose1d/2d and pooling."""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from nncore.functional._checks import check_dtypes, check_float, check_numel
from nncore.ops.conv import (
    AdaptiveAvgPool2dFn,
    AdaptiveMaxPool2dFn,
    AvgPool2dFn,
    Conv1dFn,
    Conv2dFn,
    ConvTranspose1dFn,
    ConvTranspose2dFn,
    MaxPool2dFn,
)
from nncore.tensor import Tensor

IntOrPair = Union[int, tuple[int, int]]



def _ints(op: str, name: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of n ints, each >= minimum, as a tuple of n ints."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        ok = len(items) == n and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                     for v in items)
    except TypeError:
        ok = False
    if not ok or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in items):
        kind = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{op}: {name} must be {kind}, got {value!r}")
    return tuple(int(v) for v in items)


def _batched(op: str, input: Tensor, spatial: int) -> tuple[Tensor, bool]:
    """(input with a batch axis, whether one was added) for (C, *spatial) or (N, C, *spatial)."""
    check_float(op, "input", input)
    if input.ndim not in (spatial + 1, spatial + 2):
        names = "(C, H, W) or 4-D (N, C, H, W)" if spatial == 2 else "(C, L) or 3-D (N, C, L)"
        raise ValueError(f"{op}: expected {spatial + 1}-D {names} input, got shape "
                         f"{input.shape}")
    if input._array.size == 0:
        raise ValueError(f"{op}: empty input of shape {input.shape}")
    if input.ndim == spatial + 1:
        return input.reshape(1, *input.shape), True
    return input, False


def _unbatch(y: Tensor, added: bool) -> Tensor:
    return y.reshape(*y.shape[1:]) if added else y


# ---- convolution -------------------------------------------------------------------------


def _conv(op: str, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
          padding: Any, dilation: Any, groups: int, spatial: int) -> Tensor:
    x, added = _batched(op, input, spatial)
    check_float(op, "weight", weight)
    check_dtypes(op, input, weight=weight, bias=bias)
    if weight.ndim != spatial + 2:
        raise ValueError(f"{op}: expected {spatial + 2}-D weight (out_channels, in_channels / "
                         f"groups, *kernel), got shape {weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    c, k = x.shape[1], weight.shape[0]
    if c % groups or k % groups:
        raise ValueError(f"{op}: input channels {c} and output channels {k} must both be "
                         f"divisible by groups={groups} (input {input.shape}, weight "
                         f"{weight.shape})")
    if weight.shape[1] * groups != c:
        raise ValueError(f"{op}: weight of shape {weight.shape} expects "
                         f"{weight.shape[1] * groups} input channels (groups={groups}), but "
                         f"input of shape {input.shape} has {c}")
    if bias is not None and bias.shape != (k,):
        raise ValueError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape} (expected ({k},))")
    stride_t = _ints(op, "stride", stride, spatial, 1)
    dil_t = _ints(op, "dilation", dilation, spatial, 1)
    kernel = weight.shape[2:]
    eff = tuple(d * (kk - 1) + 1 for d, kk in zip(dil_t, kernel))
    extra = (0,) * spatial
    if isinstance(padding, str):
        if padding == "valid":
            pad_t = (0,) * spatial
        elif padding == "same":
            if any(s != 1 for s in stride_t):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride!r})")
            pad_t = tuple((e - 1) // 2 for e in eff)
            extra = tuple(e - 1 - 2 * p for e, p in zip(eff, pad_t))
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got "
                             f"{padding!r}")
    else:
        pad_t = _ints(op, "padding", padding, spatial, 0)
    padded = tuple(n + 2 * p + e for n, p, e in zip(x.shape[2:], pad_t, extra))
    if any(e > p for e, p in zip(eff, padded)):
        raise ValueError(f"{op}: kernel {tuple(kernel)} (dilated {eff}) is larger than the "
                         f"padded input {padded} (input {input.shape}, weight {weight.shape})")
    check_numel(op, f"padding {pad_t}", (x.shape[0], c) + padded)
    check_numel(op, f"dilation {dil_t}", eff)
    args = (x, weight) if bias is None else (x, weight, bias)
    if spatial == 1:
        y = Conv1dFn.apply(*args, stride=stride_t[0], padding=pad_t[0], dilation=dil_t[0],
                           groups=int(groups), extra=extra[0])
    else:
        y = Conv2dFn.apply(*args, stride=stride_t, padding=pad_t, dilation=dil_t,
                           groups=int(groups), extra=extra)
    return _unbatch(y, added)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
           padding: IntOrPair | str = 0, dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation over NCHW input, as ``torch.nn.functional.conv2d``.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        weight: (out_channels, C / groups, kH, kW).
        bias: (out_channels,) or None.
        stride: int or (sH, sW).
        padding: int, (pH, pW), 'valid' (none) or 'same' (output size = input size; stride 1).
        dilation: int or (dH, dW).
        groups: input and output channels split into this many independent groups
            (groups = C: depthwise).
    Shape:
        (N, C, H, W) -> (N, out_channels, H_out, W_out),
        H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1.
    Returns:
        Tensor of the input's dtype.
    """
    return _conv("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
           padding: int | str = 0, dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation over (N, C, L) input, as ``torch.nn.functional.conv1d``.

    Args:
        input: (N, C, L) or unbatched (C, L).
        weight: (out_channels, C / groups, kL).
        bias: (out_channels,) or None.
        stride, padding ('same', 'valid' or an int), dilation, groups: as in :func:`conv2d`.
    Shape:
        (N, C, L) -> (N, out_channels, L_out), L_out = (L + 2 p - d (kL - 1) - 1) // s + 1.
    Returns:
        Tensor of the input's dtype.
    """
    return _conv("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


# ---- transposed convolution --------------------------------------------------------------


def _conv_transpose(op: str, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
                    padding: Any, output_padding: Any, groups: int, dilation: Any,
                    spatial: int) -> Tensor:
    x, added = _batched(op, input, spatial)
    check_float(op, "weight", weight)
    check_dtypes(op, input, weight=weight, bias=bias)
    if weight.ndim != spatial + 2:
        raise RuntimeError(f"{op}: expected {spatial + 2}-D weight (in_channels, out_channels / "
                           f"groups, *kernel), got shape {weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise RuntimeError(f"{op}: groups must be a positive integer, got {groups!r}")
    if weight.shape[0] % groups:
        raise RuntimeError(f"{op}: given groups={groups}, expected weight to be divisible by "
                           f"{groups} at dimension 0, but got weight of shape {weight.shape}")
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(f"{op}: weight of shape {weight.shape} expects input with "
                           f"{weight.shape[0]} channels, but got input of shape {input.shape}")
    cout = weight.shape[1] * groups
    if bias is not None and bias.shape != (cout,):
        raise RuntimeError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                           f"{weight.shape} and groups={groups} (expected ({cout},))")
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of {spatial} ints, got "
                        f"{padding!r} (string padding is only for convolutions)")
    s = _ints(op, "stride", stride, spatial, 1)
    p = _ints(op, "padding", padding, spatial, 0)
    op_t = _ints(op, "output_padding", output_padding, spatial, 0)
    d = _ints(op, "dilation", dilation, spatial, 1)
    if any(o >= si and o >= di for o, si, di in zip(op_t, s, d)):
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or "
                           f"dilation, but got output_padding={op_t}, stride={s}, dilation={d}")
    kernel = weight.shape[2:]
    out = tuple((n - 1) * si - 2 * pi + di * (k - 1) + oi + 1
                for n, si, pi, di, k, oi in zip(x.shape[2:], s, p, d, kernel, op_t))
    if any(o < 1 for o in out):
        raise RuntimeError(f"{op}: given input of shape {input.shape}, the calculated output "
                           f"size per channel {out} is too small (weight {weight.shape}, "
                           f"stride {s}, padding {p}, dilation {d})")
    args = (x, weight) if bias is None else (x, weight, bias)
    if spatial == 1:
        y = ConvTranspose1dFn.apply(*args, stride=s[0], padding=p[0], dilation=d[0],
                                    groups=int(groups), out_len=out[0])
    else:
        y = ConvTranspose2dFn.apply(*args, stride=s, padding=p, dilation=d, groups=int(groups),
                                    out_hw=out)
    return _unbatch(y, added)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrPair = 1, padding: IntOrPair = 0,
                     output_padding: IntOrPair = 0, groups: int = 1,
                     dilation: IntOrPair = 1) -> Tensor:
    """2-D transposed convolution ("deconvolution"), as ``torch.nn.functional.conv_transpose2d``:
    the gradient of conv2d with respect to its input.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW).
        bias: (C_out,) or None.
        stride, padding, dilation: those of the conv2d this op transposes (int or pair).
        output_padding: extra rows/columns added to one side of the output (each smaller than
            the stride or the dilation), to pick among the sizes a strided conv2d maps down.
        groups: channel groups, as in conv2d.
    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding_H + 1.
    Returns:
        Tensor of the input's dtype.
    """
    return _conv_transpose("conv_transpose2d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation, 2)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: int = 1, padding: int = 0, output_padding: int = 0, groups: int = 1,
                     dilation: int = 1) -> Tensor:
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_in, C_out / groups, kL).
        bias, stride, padding, output_padding, groups, dilation: as :func:`conv_transpose2d`.
    Shape:
        (N, C_in, L) -> (N, C_out, (L - 1) s - 2 p + d (kL - 1) + output_padding + 1).
    Returns:
        Tensor of the input's dtype.
    """
    return _conv_transpose("conv_transpose1d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation, 1)


# ---- pooling ------------------------------------------------------------------------------


def _pool_out(n: int, k: int, p: int, s: int, d: int, ceil_mode: bool) -> int:
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_args(op: str, x: Tensor, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any, ceil_mode: bool, spatial: int) -> tuple:
    """(kernel, stride, padding, dilation) as pairs for the 2-D kernels (a 1-d pool is a (1, k)
    pool over (N, C, 1, L)), after PyTorch's checks."""
    k = _ints(op, "kernel_size", kernel_size, spatial, 1)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if no_stride else _ints(op, "stride", stride, spatial, 1)
    p = _ints(op, "padding", padding, spatial, 0)
    d = _ints(op, "dilation", dilation, spatial, 1)
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} should be at most half of kernel size {k}")
    out = tuple(_pool_out(n, ki, pi, si, di, bool(ceil_mode))
                for n, ki, pi, si, di in zip(x.shape[2:], k, p, s, d))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: kernel {k} with dilation {d} and padding {p} is larger than the "
                         f"input of shape {input.shape} (output size {out})")
    lift = (1,) * (2 - spatial)
    return lift + k, lift + s, (0,) * (2 - spatial) + p, lift + d


def _as_2d(x: Tensor, spatial: int) -> Tensor:
    """(N, C, L) -> (N, C, 1, L) for the 2-D kernels; 2-D input unchanged."""
    return x if spatial == 2 else x.reshape(x.shape[0], x.shape[1], 1, x.shape[2])


def _from_2d(y: Tensor, spatial: int, added: bool) -> Tensor:
    if spatial == 1:
        y = y.reshape(y.shape[0], y.shape[1], y.shape[3])
    return _unbatch(y, added)


def _indices(idx: np.ndarray, spatial: int, added: bool) -> Tensor:
    """The int64 index Tensor of a pool run through the 2-D kernel, in the input's layout."""
    if spatial == 1:
        idx = idx.reshape(idx.shape[0], idx.shape[1], idx.shape[3])
    return Tensor._wrap(idx.reshape(idx.shape[1:]) if added else idx)


def _max_pool(op: str, input: Tensor, spatial: int, kernel_size: Any, stride: Any,
              padding: Any, dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    x, added = _batched(op, input, spatial)
    k, s, p, d = _pool_args(op, x, input, kernel_size, stride, padding, dilation, ceil_mode,
                            spatial)
    sink: list | None = [] if return_indices else None
    y = _from_2d(MaxPool2dFn.apply(_as_2d(x, spatial), kernel_size=k, stride=s, padding=p,
                                   dilation=d, ceil_mode=bool(ceil_mode), indices_out=sink),
                 spatial, added)
    return (y, _indices(sink[0], spatial, added)) if return_indices else y


def max_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, dilation: IntOrPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Maximum over sliding windows, as ``torch.nn.functional.max_pool2d``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size: window (kH, kW) or an int.
        stride: window step; defaults to kernel_size.
        padding: implicit -inf padding on both sides, at most half the kernel.
        dilation: spacing between window elements.
        ceil_mode: round the output size up (a window must still start inside the input or its
            left padding).
        return_indices: also return the flat h*w positions of the maxima (int64 Tensor).
    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    Returns:
        Tensor, or (Tensor, indices) when return_indices.
    """
    return _max_pool("max_pool2d", input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0,
               dilation: int = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Maximum over sliding windows of (N, C, L) input, as ``torch.nn.functional.max_pool1d``.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride, padding, dilation, ceil_mode, return_indices: as
            :func:`max_pool2d`, ints for the one axis (``stride`` defaults to ``kernel_size``).
    Shape:
        (N, C, L) -> (N, C, L_out).
    Returns:
        Tensor, or (Tensor, indices along L) when return_indices.
    """
    return _max_pool("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_pool(op: str, input: Tensor, spatial: int, kernel_size: Any, stride: Any,
              padding: Any, ceil_mode: bool, count_include_pad: bool,
              divisor_override: Any) -> Tensor:
    x, added = _batched(op, input, spatial)
    k, s, p, _ = _pool_args(op, x, input, kernel_size, stride, padding, 1, ceil_mode, spatial)
    div = 0
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override,
                                                                (int, np.integer)):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override <= 0:
            raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
        div = int(divisor_override)
    y = AvgPool2dFn.apply(_as_2d(x, spatial), kernel_size=k, stride=s, padding=p,
                          ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                          divisor_override=div)
    return _from_2d(y, spatial, added)


def avg_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows, as ``torch.nn.functional.avg_pool2d``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding, ceil_mode: as in :func:`max_pool2d` (``stride``
            defaults to ``kernel_size``; ``padding`` is zeros, at most half the kernel).
        count_include_pad: divide by the window size including the zero padding.
        divisor_override: divide every window sum by this instead.
    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    Returns:
        Tensor of the input's dtype.
    """
    return _avg_pool("avg_pool2d", input, 2, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over sliding windows of (N, C, L) input, as ``torch.nn.functional.avg_pool1d``.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride (defaults to kernel_size), padding, ceil_mode, count_include_pad:
            as :func:`avg_pool2d`, ints for the one axis.
    Shape:
        (N, C, L) -> (N, C, L_out).
    Returns:
        Tensor of the input's dtype.
    """
    return _avg_pool("avg_pool1d", input, 1, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def _output_size(op: str, x: Tensor, output_size: Any, spatial: int) -> tuple[int, ...]:
    """output_size as ints; None in a tuple keeps that input size, as PyTorch."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == spatial:
        output_size = tuple(n if o is None else o for o, n in zip(output_size, x.shape[2:]))
    return _ints(op, "output_size", output_size, spatial, 1)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over windows chosen so the output has ``output_size``, as PyTorch.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: int or (oH, oW); None in the pair keeps that input size.
    Shape:
        (N, C, H, W) -> (N, C, oH, oW).
    Returns:
        Tensor of the input's dtype.
    """
    op = "adaptive_avg_pool2d"
    x, added = _batched(op, input, 2)
    out = _output_size(op, x, output_size, 2)
    return _unbatch(AdaptiveAvgPool2dFn.apply(x, output_size=out), added)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over adaptive windows of (N, C, L) input, as PyTorch.

    Args:
        input: (N, C, L) or (C, L).
        output_size: int or (oL,).
    Shape:
        (N, C, L) -> (N, C, oL).
    Returns:
        Tensor of the input's dtype.
    """
    op = "adaptive_avg_pool1d"
    x, added = _batched(op, input, 1)
    out = _output_size(op, x, output_size, 1)
    y = AdaptiveAvgPool2dFn.apply(_as_2d(x, 1), output_size=(1,) + out)
    return _from_2d(y, 1, added)


def _adaptive_max(op: str, input: Tensor, output_size: Any, return_indices: bool,
                  spatial: int) -> Any:
    x, added = _batched(op, input, spatial)
    out = (1,) * (2 - spatial) + _output_size(op, x, output_size, spatial)
    sink: list | None = [] if return_indices else None
    y = _from_2d(AdaptiveMaxPool2dFn.apply(_as_2d(x, spatial), output_size=out,
                                           indices_out=sink), spatial, added)
    return (y, _indices(sink[0], spatial, added)) if return_indices else y


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Maximum over PyTorch's adaptive windows [floor(i H / oH), ceil((i + 1) H / oH)).

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: int or (oH, oW); None in the pair keeps that input size.
        return_indices: also return the flat h*w positions of the maxima (int64 Tensor).
    Shape:
        (N, C, H, W) -> (N, C, oH, oW).
    Returns:
        Tensor, or (Tensor, indices) when return_indices.
    """
    return _adaptive_max("adaptive_max_pool2d", input, output_size, return_indices, 2)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Maximum over adaptive windows of (N, C, L) input, as PyTorch.

    Args:
        input: (N, C, L) or (C, L).
        output_size: int or (oL,).
        return_indices: also return the positions of the maxima along L (int64 Tensor).
    Shape:
        (N, C, L) -> (N, C, oL).
    Returns:
        Tensor, or (Tensor, indices) when return_indices.
    """
    return _adaptive_max("adaptive_max_pool1d", input, output_size, return_indices, 1)


# ---- 3-d forms: not supported ------------------------------------------------------------


def _unsupported_3d(op: str) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{op}: 3-D convolution and pooling are not supported by nncore "
                                  f"(its native kernels cover 1-D and 2-D); use the 2-D form or "
                                  f"PyTorch for volumetric data")

    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"``torch.nn.functional.{op}``: not supported (raises NotImplementedError)."
    return fn


conv3d = _unsupported_3d("conv3d")
conv_transpose3d = _unsupported_3d("conv_transpose3d")
max_pool3d = _unsupported_3d("max_pool3d")
avg_pool3d = _unsupported_3d("avg_pool3d")
adaptive_avg_pool3d = _unsupported_3d("adaptive_avg_pool3d")
adaptive_max_pool3d = _unsupported_3d("adaptive_max_pool3d")
