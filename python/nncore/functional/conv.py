"""Functional forms of the conv family: conv1d/2d and pooling."""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from nncore.functional._checks import check_dtypes, check_float
from nncore.ops.conv import (
    AdaptiveAvgPool2dFn,
    AvgPool2dFn,
    Conv1dFn,
    Conv2dFn,
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


# ---- pooling ------------------------------------------------------------------------------


def _pool_out(n: int, k: int, p: int, s: int, d: int, ceil_mode: bool) -> int:
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_args(op: str, x: Tensor, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any, ceil_mode: bool) -> tuple:
    k = _ints(op, "kernel_size", kernel_size, 2, 1)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _ints(op, "stride", stride, 2, 1)
    p = _ints(op, "padding", padding, 2, 0)
    d = _ints(op, "dilation", dilation, 2, 1)
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} should be at most half of kernel size {k}")
    out = tuple(_pool_out(n, ki, pi, si, di, bool(ceil_mode))
                for n, ki, pi, si, di in zip(x.shape[2:], k, p, s, d))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: kernel {k} with dilation {d} and padding {p} is larger than the "
                         f"input of shape {input.shape} (output size {out})")
    return k, s, p, d


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
    op = "max_pool2d"
    x, added = _batched(op, input, 2)
    k, s, p, d = _pool_args(op, x, input, kernel_size, stride, padding, dilation, ceil_mode)
    sink: list | None = [] if return_indices else None
    y = _unbatch(MaxPool2dFn.apply(x, kernel_size=k, stride=s, padding=p, dilation=d,
                                   ceil_mode=bool(ceil_mode), indices_out=sink), added)
    if return_indices:
        idx = sink[0]
        return y, Tensor._wrap(idx.reshape(idx.shape[1:]) if added else idx)
    return y


def avg_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows, as ``torch.nn.functional.avg_pool2d``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride (defaults to kernel_size), padding (zeros, at most half the kernel),
            ceil_mode: as in :func:`max_pool2d`.
        count_include_pad: divide by the window size including the zero padding.
        divisor_override: divide every window sum by this instead.
    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out).
    Returns:
        Tensor of the input's dtype.
    """
    op = "avg_pool2d"
    x, added = _batched(op, input, 2)
    k, s, p, _ = _pool_args(op, x, input, kernel_size, stride, padding, 1, ceil_mode)
    div = 0
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override,
                                                                (int, np.integer)):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override <= 0:
            raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
        div = int(divisor_override)
    return _unbatch(AvgPool2dFn.apply(x, kernel_size=k, stride=s, padding=p,
                                      ceil_mode=bool(ceil_mode),
                                      count_include_pad=bool(count_include_pad),
                                      divisor_override=div), added)


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
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(n if o is None else o for o, n in zip(output_size, x.shape[2:]))
    out = _ints(op, "output_size", output_size, 2, 1)
    return _unbatch(AdaptiveAvgPool2dFn.apply(x, output_size=out), added)
