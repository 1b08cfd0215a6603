"""Vision and utility functionals with PyTorch's signatures: pad, interpolate, pixel_shuffle,
pixel_unshuffle, unfold, fold and one_hot."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.functional._checks import check_float
from nncore.functional.conv import _ints, adaptive_avg_pool1d, adaptive_avg_pool2d
from nncore.ops.vision import ConstantPadFn, FoldFn, GatherAxesFn, UnfoldFn
from nncore.tensor import Tensor

_NON_CONSTANT_RANKS = {2: (2, 3), 4: (3, 4), 6: (4, 5)}


# ---- pad ---------------------------------------------------------------------------------------


def _pad_index(mode: str, n: int, before: int, after: int) -> np.ndarray:
    """Source position of every output position along one padded axis."""
    src = np.arange(-before, n + after)
    if mode == "reflect":
        src = np.abs(src)
        return np.where(src >= n, 2 * (n - 1) - src, src)
    if mode == "replicate":
        return np.clip(src, 0, n - 1)
    # NOTE: circular wraps within what is left after any negative (cropping) padding, as
    # PyTorch's copies do.
    lo = max(-before, 0)
    kept = n - lo - max(-after, 0)
    return lo + (np.arange(n + before + after) - max(before, 0)) % kept


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads (or, with negative counts, crops) the trailing dimensions, as
    ``torch.nn.functional.pad``.

    Args:
        input: a tensor.
        pad: (before_last, after_last, before_second_last, after_second_last, ...), at most
            two per dimension.
        mode: 'constant' (any number of dims), or 'reflect', 'replicate', 'circular' (the last
            1, 2 or 3 dims of a batched or unbatched input, as PyTorch).
        value: the fill of constant mode (default 0); other modes take none.
    Shape:
        (*, d_k, ..., d_1) -> (*, d_k + pads, ..., d_1 + pad[0] + pad[1]).
    Returns:
        Tensor of the input's dtype.
    """
    op = "pad"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    try:
        counts = [int(p) for p in pad]
    except TypeError:
        raise TypeError(f"{op}: pad must be a sequence of ints, got {pad!r}") from None
    if len(counts) % 2:
        raise RuntimeError(f"{op}: padding length must be divisible by 2, got {tuple(pad)}")
    if len(counts) // 2 > input.ndim:
        raise RuntimeError(f"{op}: padding length should be less than or equal to two times the "
                           f"input dimension but got padding length {len(counts)} and input of "
                           f"dimension {input.ndim}")
    k = len(counts) // 2
    pairs = tuple((counts[2 * (k - 1 - i)], counts[2 * (k - 1 - i) + 1]) for i in range(k))
    dims = input.shape[input.ndim - k:]
    for axis, (n, (a, b)) in enumerate(zip(dims, pairs)):
        if n + a + b < 0:
            raise RuntimeError(f"{op}: the input size {n}, plus negative padding {a} and {b} "
                               f"resulted in a negative output size, which is invalid. Check "
                               f"dimension {input.ndim - k + axis} of your input.")
    if mode == "constant":
        fill = 0.0 if value is None else value
        return ConstantPadFn.apply(input, pads=pairs, value=fill)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"{op}: unrecognised padding mode {mode!r} (expected "
                                  f"'constant', 'reflect', 'replicate' or 'circular')")
    if value is not None and value != 0:
        raise RuntimeError(f'{op}: padding mode "{mode}" doesn\'t take in value argument')
    if input.ndim not in _NON_CONSTANT_RANKS.get(len(counts), ()):
        raise NotImplementedError(
            f"{op}: padding size {len(counts)} is not supported for {input.ndim}D input tensor "
            f"in mode {mode!r}. Supported combinations for non-constant padding: 2D or 3D input "
            f"with padding size 2, 3D or 4D with 4, 4D or 5D with 6")
    check_float(op, "input", input)
    plan = []
    for i, (n, (a, b)) in enumerate(zip(dims, pairs)):
        axis = input.ndim - k + i
        if n + a + b < 1:
            raise RuntimeError(f"{op}: input (size {n} at dimension {axis}) is too small: the "
                               f"calculated output size with padding ({a}, {b}) is {n + a + b}")
        if mode == "reflect" and (a >= n or b >= n):
            raise RuntimeError(f"{op}: padding size should be less than the corresponding input "
                               f"dimension, but got: padding ({a}, {b}) at dimension {axis} of "
                               f"input {list(input.shape)}")
        kept = n + min(a, 0) + min(b, 0)  # what is left to wrap around after cropping
        if mode == "circular" and (a > kept or b > kept):
            raise RuntimeError(f"{op}: padding value causes wrapping around more than once "
                               f"(padding ({a}, {b}) at dimension {axis} of input "
                               f"{list(input.shape)})")
        if a or b:
            plan.append((axis, n, ((_pad_index(mode, n, a, b), None),)))
    if not plan:
        return input.clone()
    return GatherAxesFn.apply(input, plan=tuple(plan))


# ---- interpolate ---------------------------------------------------------------------------


_MODE_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _nearest_taps(n_in: int, n_out: int, scale: float | None, exact: bool,
                  shortcuts: bool) -> tuple:
    """PyTorch's nearest source index, computed in float32 as its kernels do. ``shortcuts``:
    its 2-D nearest kernel copies when the size is kept and halves indices when it doubles,
    whatever the scale factor (measured: its 1-D and 3-D kernels do not)."""
    j = np.arange(n_out)
    if shortcuts and not exact and n_out == n_in:
        idx = j
    elif shortcuts and not exact and n_out == 2 * n_in:
        idx = j >> 1
    else:
        s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
        if exact:
            src = np.floor(((j + 0.5) * np.float64(s)).astype(np.float32))
        else:
            src = np.floor(j.astype(np.float32) * s)
        idx = np.minimum(src.astype(np.int64), n_in - 1)
    return ((idx, None),)


def _linear_taps(n_in: int, n_out: int, scale: float | None, align_corners: bool,
                 dtype: np.dtype) -> tuple:
    """PyTorch's two-tap linear weights (area_pixel_compute_source_index), in the input's
    dtype as its kernels compute them."""
    j = np.arange(n_out)
    if n_out == n_in:
        return ((j, None),)
    t = dtype.type
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * j.astype(dtype)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        src = np.maximum(ratio * (j.astype(dtype) + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam1 = np.clip(src - i0.astype(dtype), 0, 1).astype(dtype)
    i1 = i0 + (i0 < n_in - 1)
    return ((i0, (t(1) - lam1).astype(dtype)), (i1, lam1))


def _output_size(op: str, input: Tensor, size: Any, scale_factor: Any,
                 recompute_scale_factor: bool | None, mode: str) -> tuple[list, list | None]:
    """interpolate's output spatial size and the scales its kernel uses (None: from the sizes),
    from exactly one of ``size`` and ``scale_factor``, with PyTorch's errors."""
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    scales: list | None = None
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(f"Input and output must have the same number of spatial "
                                 f"dimensions, but got input with spatial dimensions of "
                                 f"{spatial} and output size of {size}.")
            if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                       for s in size):
                raise TypeError(f"{op}: expected size to be an int or a tuple of ints, got "
                                f"{size!r}")
            out = [int(s) for s in size]
        else:
            out = [int(size)] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(f"Input and scale_factor must have the same number of spatial "
                                 f"dimensions, but got input with spatial dimensions of "
                                 f"{spatial} and scale_factor of shape {scale_factor}.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        if not all(np.isfinite(s) and 0 < n * s < 2**48 for n, s in zip(spatial, scales)):
            raise ValueError(f"{op}: scale_factor {scale_factor!r} gives no valid output size "
                             f"for input of spatial size {tuple(spatial)}")
        out = [int(n * s) for n, s in zip(spatial, scales)]
        if recompute_scale_factor or mode == "area":
            scales = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    return out, scales


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resizes (N, C, *spatial) input, as ``torch.nn.functional.interpolate`` (differentiable).

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W).
        size: output spatial size (int or one per spatial dim).
        scale_factor: multiplier of the spatial size (float or one per dim); exactly one of
            size and scale_factor.
        mode: 'nearest', 'nearest-exact', 'linear' (3-D), 'bilinear' (4-D), 'trilinear' (5-D)
            or 'area' (3-D/4-D); 'bicubic' and 'lanczos' are not supported.
        align_corners: for the linear modes, map the corner pixels' centres onto each other.
        recompute_scale_factor: compute the kernel's scale from the output size instead of
            using scale_factor.
        antialias: not supported (True raises NotImplementedError).
    Returns:
        Tensor of the input's dtype.
    """
    op = "interpolate"
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    check_float(op, "input", input)
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    out, scales = _output_size(op, input, size, scale_factor, recompute_scale_factor, mode)
    if antialias:
        if mode not in ("bilinear", "bicubic", "lanczos") or input.ndim != 4:
            raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos "
                             "modes and requires a 4-D tensor as input")
        raise NotImplementedError(f"{op}: antialias=True is not supported by nncore")
    if mode in _MODE_RANK and input.ndim in (3, 4, 5) and input.ndim != _MODE_RANK[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_MODE_RANK[mode]}D input")
    known = ("nearest", "nearest-exact", "area") + tuple(_MODE_RANK)
    if input.ndim not in (3, 4, 5) or mode not in known:
        if mode in ("bicubic", "lanczos") and input.ndim == 4:
            raise NotImplementedError(f"{op}: mode={mode!r} is not supported by nncore "
                                      f"(nearest, nearest-exact, linear, bilinear, trilinear "
                                      f"and area are)")
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | trilinear | area | nearest-exact (got "
            f"{mode})")
    if any(o <= 0 for o in out) or any(n <= 0 for n in spatial):
        raise RuntimeError(f"{op}: input and output sizes should be greater than 0, but got "
                           f"input {tuple(spatial)} output {tuple(out)}")
    if mode == "area":
        if dim == 3:
            raise NotImplementedError(f"{op}: mode='area' on 5-D input (adaptive_avg_pool3d) "
                                      f"is not supported by nncore")
        return (adaptive_avg_pool1d if dim == 1 else adaptive_avg_pool2d)(input, tuple(out))
    dtype = input._array.dtype
    plan = []
    # NOTE: the last axis first, so the linear weights combine in PyTorch's order
    # (h0 * (w0 * x00 + w1 * x01) + h1 * (...)).
    for i in reversed(range(dim)):
        s = scales[i] if scales is not None else None
        if mode in _MODE_RANK:
            taps = _linear_taps(spatial[i], out[i], s, bool(align_corners), dtype)
        else:
            taps = _nearest_taps(spatial[i], out[i], s, mode == "nearest-exact", dim == 2)
        plan.append((2 + i, spatial[i], taps))
    return GatherAxesFn.apply(input, plan=tuple(plan))


# ---- pixel shuffle, unfold and fold ------------------------------------------------------------


def _factor(op: str, name: str, r: Any) -> int:
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise RuntimeError(f"{op}: {name} must be a positive integer, got {r!r}")
    return int(r)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r), as ``torch.nn.functional.pixel_shuffle``.

    Args:
        input: at least 3-D, its channel dimension divisible by upscale_factor^2.
        upscale_factor: r.
    Returns:
        Tensor of the input's dtype (a differentiable reshape and permute).
    """
    op = "pixel_shuffle"
    r = _factor(op, "upscale_factor", upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"{op} expects its input's 'channel' dimension to be divisible by the "
                           f"square of upscale_factor, but input.size(-3)={c} is not divisible "
                           f"by {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of :func:`pixel_shuffle`.

    Args:
        input: at least 3-D, its height and width divisible by downscale_factor.
        downscale_factor: r.
    Returns:
        Tensor of the input's dtype.
    """
    op = "pixel_unshuffle"
    r = _factor(op, "downscale_factor", downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    for name, n, axis in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise RuntimeError(f"{op} expects {name} to be divisible by downscale_factor, but "
                               f"input.size({axis})={n} is not divisible by {r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _fold_args(op: str, kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> tuple:
    return (_ints(op, "kernel_size", kernel_size, 2, 1), _ints(op, "dilation", dilation, 2, 1),
            _ints(op, "padding", padding, 2, 0), _ints(op, "stride", stride, 2, 1))


def _blocks(op: str, hw: tuple, k: tuple, d: tuple, p: tuple, s: tuple) -> tuple[int, int]:
    blocks = tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1
                   for n, ki, di, pi, si in zip(hw, k, d, p, s))
    if any(b < 1 for b in blocks):
        raise RuntimeError(f"{op}: given input spatial size {tuple(hw)}, kernel_size {k}, "
                           f"dilation {d}, padding {p}, stride {s}, the calculated shape of the "
                           f"array of sliding blocks {blocks} is too small")
    return blocks


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Sliding local blocks as columns (im2col), as ``torch.nn.functional.unfold``.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        kernel_size, dilation, padding, stride: int or pair.
    Shape:
        (N, C, H, W) -> (N, C * kh * kw, L), L the number of blocks.
    Returns:
        Tensor of the input's dtype.
    """
    op = "unfold"
    check_float(op, "input", input)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected 3D (unbatched) or 4D (batched) input, got shape "
                           f"{input.shape}")
    x = input if input.ndim == 4 else input.reshape(1, *input.shape)
    k, d, p, s = _fold_args(op, kernel_size, dilation, padding, stride)
    blocks = _blocks(op, x.shape[2:], k, d, p, s)
    y = UnfoldFn.apply(x, kernel=k, dilation=d, padding=p, stride=s, blocks=blocks)
    return y if input.ndim == 4 else y.reshape(*y.shape[1:])


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """Columns of sliding blocks summed back into an image (col2im), as
    ``torch.nn.functional.fold``.

    Args:
        input: (N, C * kh * kw, L) or unbatched (C * kh * kw, L).
        output_size: (H, W) or an int.
        kernel_size, dilation, padding, stride: int or pair.
    Shape:
        (N, C * kh * kw, L) -> (N, C, H, W).
    Returns:
        Tensor of the input's dtype.
    """
    op = "fold"
    check_float(op, "input", input)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected 2D (unbatched) or 3D (batched) input, got shape "
                           f"{input.shape}")
    x = input if input.ndim == 3 else input.reshape(1, *input.shape)
    hw = _ints(op, "output_size", output_size, 2, 1)
    k, d, p, s = _fold_args(op, kernel_size, dilation, padding, stride)
    if x.shape[1] % (k[0] * k[1]):
        raise RuntimeError(f"{op}: expected size of input's dimension 1 to be divisible by the "
                           f"product of kernel_size, but got input.size(1)={x.shape[1]} and "
                           f"kernel_size={k}")
    blocks = _blocks(op, hw, k, d, p, s)
    if x.shape[2] != blocks[0] * blocks[1]:
        raise RuntimeError(f"{op}: given output_size={hw}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}, expected size of input's dimension 2 to "
                           f"match the calculated number of sliding blocks {blocks[0]} * "
                           f"{blocks[1]} = {blocks[0] * blocks[1]}, but got "
                           f"input.size(2)={x.shape[2]}.")
    y = FoldFn.apply(x, output_size=hw, kernel=k, dilation=d, padding=p, stride=s,
                     blocks=blocks)
    return y if input.ndim == 3 else y.reshape(*y.shape[1:])


# ---- one_hot --------------------------------------------------------------------------------


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding of class indices, as ``torch.nn.functional.one_hot``.

    Args:
        tensor: int64 indices (Tensor or NumPy array) of any shape.
        num_classes: number of classes; -1 infers max + 1.
    Shape:
        (*) -> (*, num_classes).
    Returns:
        int64 Tensor (no gradient).
    """
    idx = tensor._array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype != np.int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, got "
                           f"{idx.dtype}.")
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    if idx.size:
        if idx.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if idx.max() >= num_classes:
            raise RuntimeError(f"Class values must be smaller than num_classes "
                               f"({num_classes}), got {int(idx.max())}.")
    out = np.zeros(idx.shape + (int(num_classes),), dtype=np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return Tensor._wrap(out)

