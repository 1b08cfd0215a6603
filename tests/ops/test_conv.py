"""The conv family: conv2d/conv1d, pooling and dropout2d against NumPy references, finite
differences and PyTorch over random configurations; layers vs torch.nn; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import nn

# ---- NumPy references (float64) -------------------------------------------------------------


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    s, d = _pair(stride), _pair(dilation)
    kh, kw = w.shape[2:]
    if padding == "same":
        tot = [d[0] * (kh - 1), d[1] * (kw - 1)]
        pads = [(t // 2, t - t // 2) for t in tot]
    else:
        p = (0, 0) if padding == "valid" else _pair(padding)
        pads = [(p[0], p[0]), (p[1], p[1])]
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    oh = (xp.shape[2] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (xp.shape[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    n, c = x.shape[:2]
    k, cg = w.shape[0], c // groups
    kg = k // groups
    y = np.zeros((n, k, oh, ow))
    for i in range(kh):
        for j in range(kw):
            xs = xp[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
                    j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]]
            for g in range(groups):
                y[:, g * kg:(g + 1) * kg] += np.einsum(
                    "nchw,kc->nkhw", xs[:, g * cg:(g + 1) * cg], w[g * kg:(g + 1) * kg, :, i, j])
    return y if b is None else y + b[None, :, None, None]


def conv1d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    pad = padding if isinstance(padding, str) else (0, padding)
    y = conv2d_ref(x[:, :, None], w[:, :, None], b, (1, stride), pad, (1, dilation), groups)
    return y[:, :, 0]


def _windows(x, k, s, p, d, ceil_mode, fill):
    """(N, C, oh, ow, kh*kw) windows of x padded with `fill` as PyTorch's pooling sees them."""
    k, s, p, d = _pair(k), _pair(s if s is not None else k), _pair(p), _pair(d)
    outs = []
    for ax in range(2):
        n = x.shape[2 + ax]
        num = n + 2 * p[ax] - d[ax] * (k[ax] - 1) - 1 + (s[ax] - 1 if ceil_mode else 0)
        o = num // s[ax] + 1
        if ceil_mode and (o - 1) * s[ax] >= n + p[ax]:
            o -= 1
        outs.append(o)
    big = [(p[ax], p[ax] + s[ax] * outs[ax] + d[ax] * k[ax]) for ax in range(2)]
    xp = np.pad(x, ((0, 0), (0, 0), big[0], big[1]), constant_values=fill)
    cols = []
    for i in range(k[0]):
        for j in range(k[1]):
            cols.append(xp[:, :, i * d[0]: i * d[0] + s[0] * (outs[0] - 1) + 1: s[0],
                           j * d[1]: j * d[1] + s[1] * (outs[1] - 1) + 1: s[1]])
    return np.stack(cols, -1)


def max_pool2d_ref(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _windows(x, kernel_size, stride, padding, dilation, ceil_mode, -np.inf).max(-1)


def avg_pool2d_ref(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
    k, p = _pair(kernel_size), _pair(padding)
    s = _pair(stride if stride is not None else kernel_size)
    sums = _windows(x, k, s, p, 1, ceil_mode, 0.0).sum(-1)
    h, w = x.shape[2:]
    y = np.empty_like(sums)
    for oh in range(sums.shape[2]):
        for ow in range(sums.shape[3]):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            pool = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            div = divisor_override or (pool if count_include_pad else (h1 - h0) * (w1 - w0))
            y[:, :, oh, ow] = sums[:, :, oh, ow] / div
    return y


def adaptive_avg_pool2d_ref(x, output_size):
    oh, ow = _pair(output_size)
    h, w = x.shape[2:]
    y = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = i * h // oh, -(-(i + 1) * h // oh)
            w0, w1 = j * w // ow, -(-(j + 1) * w // ow)
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


# ---- specs ------------------------------------------------------------------------------------


def _tf(name):
    return getattr(torch.nn.functional, name) if torch else None


def _conv_spec(n, c, h, w, k, kh, kw, stride, padding, dilation, groups, bias=True, tag=""):
    def make(rng):
        arrays = [rng.standard_normal((n, c, h, w)),
                  rng.standard_normal((k, c // groups, kh, kw))]
        return arrays + [rng.standard_normal(k)] if bias else arrays

    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    sid = (f"conv2d-{tag}N{n}C{c}{h}x{w}-K{k}k{kh}x{kw}-s{stride}-p{padding}-d{dilation}"
           f"-g{groups}{'' if bias else '-nobias'}")
    return OpSpec("conv2d", F.conv2d, make, conv2d_ref, _tf("conv2d"), kwargs, id=sid)


def _random_conv_specs(count: int, seed: int) -> list[OpSpec]:
    """Random configurations (stride 1-3, padding 0-2, dilation 1-2, groups 1/2/C, non-square
    kernels and inputs, batch 1-2, 1-4 channels), kept tiny for the finite differences."""
    rng = np.random.default_rng(seed)
    specs = []
    while len(specs) < count:
        c = int(rng.choice([1, 2, 3, 4]))
        groups = int(rng.choice([g for g in (1, 2, c) if c % g == 0]))
        k = groups * int(rng.integers(1, 3))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        p = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        h, w = (int(v) for v in rng.integers(3, 8, size=2))
        if d[0] * (kh - 1) + 1 > h + 2 * p[0] or d[1] * (kw - 1) + 1 > w + 2 * p[1]:
            continue
        specs.append(_conv_spec(int(rng.integers(1, 3)), c, h, w, k, kh, kw, s, p, d, groups,
                                bias=bool(rng.integers(0, 2)), tag=f"rand{len(specs)}-"))
    return specs


def _pool_spec(name, fn, ref, shape, tag, **kwargs):
    return OpSpec(name, fn, lambda rng: [rng.standard_normal(shape)], ref, _tf(name), kwargs,
                  id=f"{name}-{tag}")


def _conv1d_spec(n, c, length, k, kl, tag, **kwargs):
    groups = kwargs.get("groups", 1)

    def make(rng):
        return [rng.standard_normal((n, c, length)), rng.standard_normal((k, c // groups, kl)),
                rng.standard_normal(k)]

    return OpSpec("conv1d", F.conv1d, make, conv1d_ref, _tf("conv1d"), kwargs, id=f"conv1d-{tag}")


SPECS = [
    _conv_spec(1, 1, 6, 5, 3, 3, 3, 1, 1, 1, 1, tag="mnist-first-layer-"),
    _conv_spec(2, 3, 5, 7, 6, 2, 3, (2, 1), (1, 2), (2, 1), 3, tag="depthwise-"),
    _conv_spec(2, 4, 4, 5, 4, 1, 1, 1, 0, 1, 2, tag="pointwise-"),
    _conv_spec(1, 8, 5, 4, 3, 3, 2, 1, 1, 1, 1, tag="im2col-"),
    _conv_spec(2, 2, 5, 6, 2, 2, 3, 1, "same", (2, 1), 1, tag="same-even-"),
    _conv_spec(1, 3, 4, 6, 2, 3, 3, 1, "valid", 1, 1, tag="valid-"),
    _conv_spec(2, 1, 7, 7, 5, 3, 3, 1, 1, 1, 1, tag="direct-tile-over-the-end-"),
    _conv_spec(1, 2, 9, 17, 6, 2, 3, 1, (0, 2), (2, 1), 2, tag="direct-dilated-groups-"),
    _conv_spec(3, 1, 1, 1, 3, 3, 3, 1, 1, 1, 1, tag="direct-one-output-"),
    _conv_spec(2, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1, tag="direct-forward-27-taps-"),
    *_random_conv_specs(8, seed=2024),
    _conv1d_spec(2, 3, 9, 4, 3, "basic", stride=2, padding=1),
    _conv1d_spec(1, 4, 7, 4, 2, "same-groups", padding="same", dilation=2, groups=2),
    _pool_spec("max_pool2d", F.max_pool2d, max_pool2d_ref, (2, 3, 7, 6), "k3s2p1-ceil",
               kernel_size=3, stride=2, padding=1, ceil_mode=True),
    _pool_spec("max_pool2d", F.max_pool2d, max_pool2d_ref, (1, 1, 9, 8), "k2x3-dil2",
               kernel_size=(2, 3), stride=(1, 2), dilation=2),
    _pool_spec("max_pool2d", F.max_pool2d, max_pool2d_ref, (3, 2, 4, 4), "k2", kernel_size=2),
    _pool_spec("avg_pool2d", F.avg_pool2d, avg_pool2d_ref, (2, 3, 7, 6), "k3s2p1-ceil",
               kernel_size=3, stride=2, padding=1, ceil_mode=True),
    _pool_spec("avg_pool2d", F.avg_pool2d, avg_pool2d_ref, (2, 3, 7, 6), "exclude-pad",
               kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    _pool_spec("avg_pool2d", F.avg_pool2d, avg_pool2d_ref, (1, 2, 5, 5), "divisor",
               kernel_size=(2, 3), padding=(1, 1), divisor_override=5),
    _pool_spec("adaptive_avg_pool2d", F.adaptive_avg_pool2d, adaptive_avg_pool2d_ref,
               (2, 3, 7, 5), "3x2", output_size=(3, 2)),
    _pool_spec("adaptive_avg_pool2d", F.adaptive_avg_pool2d, adaptive_avg_pool2d_ref,
               (1, 2, 4, 6), "global", output_size=1),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_unbatched_input_matches_batched() -> None:
    x, w = nc.randn(3, 6, 5), nc.randn(2, 3, 3, 3)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1).detach().numpy(),
                                  F.conv2d(x.reshape(1, 3, 6, 5), w, padding=1).detach().numpy()[0])
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert y.shape == (3, 3, 2) and idx.shape == (3, 3, 2) and idx.dtype == np.int64


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_max_pool_indices_match_torch() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    _, idx = F.max_pool2d(nc.tensor(x), 3, 2, 1, return_indices=True)
    _, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(idx.detach().numpy(), tidx.detach().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(2, 2), (4, 6), (2, 34), (14, 14), (16, 18), (28, 28)])
@pytest.mark.parametrize("nc_", [(3, 5), (9, 37)])  # 333 planes: runs of planes on 2 threads
def test_max_pool_2x2_taps_match_indices(dtype, hw, nc_) -> None:
    """A 2x2 stride-2 pool over even planes keeps a uint8 tap per window (a register's width of
    windows at a time, across rows and planes); forward and backward give the bits of the
    int64-index path, with ties and NaNs, at 1 and 2 threads."""
    rng, seed = fresh_rng()
    x = rng.integers(-3, 4, nc_ + hw).astype(dtype)  # small integers: many ties
    x[rng.random(x.shape) < 0.02] = np.nan
    dy = rng.standard_normal(nc_ + (hw[0] // 2, hw[1] // 2)).astype(dtype)
    args = ((2, 2), (2, 2), (0, 0), (1, 1), False)
    threads = nc.get_num_threads()
    try:
        for t in (1, 2):
            nc.set_num_threads(t)
            y_idx, idx = nc._C.max_pool2d_forward(x, *args)
            y_tap, tap = nc._C.max_pool2d_forward(x, *args, need_indices=False)
            assert tap.dtype == np.uint8 and tap.max() <= 3
            np.testing.assert_array_equal(y_tap, y_idx, f"seed {seed}")
            np.testing.assert_array_equal(
                nc._C.max_pool2d_backward(dy, tap, hw, *args),
                nc._C.max_pool2d_backward(dy, idx, hw, *args), f"seed {seed}")
    finally:
        nc.set_num_threads(threads)


def test_max_pool_taps_only_for_even_2x2() -> None:
    x = np.zeros((1, 1, 5, 4), np.float32)
    _, idx = nc._C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False, False)
    assert idx.dtype == np.int64  # odd height: int64 indices all the same
    taps = np.zeros((1, 1, 2, 2), np.uint8)
    with pytest.raises(ValueError, match=r"max_pool2d.*uint8 taps come only from a 2x2"):
        nc._C.max_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), taps, (5, 4), (2, 2),
                                  (2, 2), (0, 0), (1, 1), False)


def test_conv_backward_is_bit_identical_across_runs() -> None:
    """dw sums per-thread partials in thread order: reruns give the same bits."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((8, 32, 12, 12)).astype(np.float32)
    threads = nc.get_num_threads()
    try:
        nc.set_num_threads(2)
        args = ((1, 1), (1, 1), (1, 1), 1)
        first = nc._C.conv2d_backward(dy, x, w, *args)
        second = nc._C.conv2d_backward(dy, x[...].copy(), w, *args)
    finally:
        nc.set_num_threads(threads)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n,c,k,h,w,groups", [
    (19, 16, 24, 10, 9, 1),   # small planes: several images per GEMM, a short last group
    (5, 8, 6, 7, 7, 2),       # grouped, image groups
    (3, 64, 16, 12, 12, 1),   # 576 rows: planes split into column blocks
    (2, 32, 8, 40, 40, 1),    # large planes, one column block per image
    (19, 1, 8, 11, 9, 1),     # direct kernel (9 taps): images split between threads for dw
    (5, 4, 8, 9, 10, 4),      # direct kernel, groups of one input channel
])
def test_conv_paths_match_torch(threads, n, c, k, h, w, groups) -> None:
    """Forward and every gradient of the direct and im2col kernels against torch, at 1 and 2
    threads."""
    if torch is None:
        pytest.skip("torch not installed")
    rng = np.random.default_rng(n * 100 + c)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c // groups, 3, 3)) * 0.2).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    dy = rng.standard_normal((n, k, h, w)).astype(np.float32)
    saved = nc.get_num_threads()
    try:
        nc.set_num_threads(threads)
        xs, ws, bs = (nc.tensor(a, requires_grad=True) for a in (x, wt, b))
        y = F.conv2d(xs, ws, bs, padding=1, groups=groups)
        y.backward(dy)
    finally:
        nc.set_num_threads(saved)
    xt, wtt, bt = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    yt = torch.nn.functional.conv2d(xt, wtt, bt, padding=1, groups=groups)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    for ours, theirs in [(xs, xt), (ws, wtt), (bs, bt)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=2e-3)


def _check_conv_vs_torch(threads: int, dtype, x_shape: tuple, w_shape: tuple, **conv) -> None:
    """conv2d's forward and its x, weight and bias gradients at ``threads`` threads against
    torch: float32 within 1e-4 (gradients 2e-3 absolute), float64 within 1e-10 (2e-9)."""
    n, c, k = x_shape[0], x_shape[1], w_shape[0]
    rng = np.random.default_rng(n * 1000 + c * 10 + k)
    x = rng.standard_normal(x_shape).astype(dtype)
    wt = (rng.standard_normal(w_shape) * 0.2).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    saved = nc.get_num_threads()
    try:
        nc.set_num_threads(threads)
        xs, ws, bs = (nc.tensor(a, dtype=dtype, requires_grad=True) for a in (x, wt, b))
        y = F.conv2d(xs, ws, bs, **conv)
        dy = rng.standard_normal(y.shape).astype(dtype)
        y.backward(dy)
    finally:
        nc.set_num_threads(saved)
    xt, wtt, bt = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    yt = torch.nn.functional.conv2d(xt, wtt, bt, **conv)
    yt.backward(torch.from_numpy(dy))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    for ours, theirs in [(xs, xt), (ws, wtt), (bs, bt)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tol,
                                   atol=20 * tol)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, k, h, w, kernel, padding, dilation, groups", [
    (5, 32, 64, 14, 14, (3, 3), (1, 1), (1, 1), 1),  # LeNet's layer; images handed out one by one
    (1, 5, 17, 9, 13, (3, 3), (1, 1), (1, 1), 1),    # partial tiles: 17 channels, 45 taps
    (2, 12, 9, 11, 10, (2, 3), (0, 2), (2, 1), 3),   # non-square kernel, dilation, groups
    (2, 26, 10, 11, 10, (2, 3), (0, 2), (2, 1), 2),  # the same past 72 taps: blocked forward
    (3, 64, 8, 20, 20, (3, 3), (1, 1), (1, 1), 1),   # chunks of tiles; few images: static runs
    (2, 9, 7, 5, 6, (1, 3), (1, 1), (1, 1), 1),      # padding past the kernel: dx via im2col
    (1, 8, 7, 6, 5, (3, 1), (1, 1), (1, 1), 1),      # rows padded on both sides (1-wide kernel)
    (2, 3, 20, 9, 8, (5, 5), (2, 1), (1, 2), 1),     # 5x5, dilation 2, less padding than reach
])
def test_blocked_kernel_matches_torch(threads, dtype, n, c, k, h, w, kernel, padding, dilation,
                                      groups) -> None:
    """The blocked stride-1 kernel (dx, dw; the forward past 72 taps, below that the direct
    one) against torch, at 1 and 2 threads."""
    if torch is None:
        pytest.skip("torch not installed")
    assert c // groups * kernel[0] * kernel[1] > 16  # more taps than the direct dx/dw take
    _check_conv_vs_torch(threads, dtype, (n, c, h, w), (k, c // groups, *kernel),
                         padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, k, h, w, kernel, stride, padding, dilation, groups", [
    (64, 1, 32, 28, 28, (3, 3), 1, 1, 1, 1),       # the MNIST first layer: tiles, a half tile
    (1, 1, 32, 28, 28, (3, 3), 1, 1, 1, 1),        # one image: blocks of channels as items
    (3, 1, 5, 1, 1, (3, 3), 1, 1, 1, 1),           # one output: a plane shorter than a tile
    (2, 1, 17, 5, 5, (3, 3), 1, 1, 1, 1),          # 25 outputs; 17 channels: 2 blocks, odd pair
    (2, 1, 6, 7, 7, (3, 3), 1, 1, 1, 1),           # 49 outputs: a whole tile over the end
    (3, 1, 7, 9, 5, (3, 3), 1, 1, 1, 1),           # 45 outputs: the other kind of last tile
    (2, 1, 7, 17, 9, (3, 3), 1, (2, 0), (1, 2), 1),  # dilation, padding in H only
    (2, 4, 8, 9, 10, (3, 3), 1, 1, 1, 4),          # groups of one input channel
    (3, 2, 14, 6, 5, (2, 3), 1, (0, 2), (2, 1), 2),  # non-square kernel, 6 taps, groups
    (2, 16, 9, 5, 7, (1, 1), 1, 0, 1, 1),          # pointwise, 16 taps
    (1, 1, 3, 4, 4, (4, 4), 1, 0, 1, 1),           # 16 taps, no padding
    (2, 8, 11, 9, 7, (3, 3), 1, 1, 1, 1),          # 72 taps: direct forward, blocked dx/dw
    (3, 6, 9, 8, 13, (3, 3), 1, (1, 0), (2, 1), 3),  # 18 taps, groups, dilation: direct dw
    (2, 3, 5, 7, 9, (3, 3), 1, 1, 1, 1),           # 27 taps: 9-tap chunks of the direct dw
    (2, 1, 4, 7, 8, (3, 3), (2, 1), 1, 1, 1),      # strided: the row loops
    (2, 1, 4, 9, 8, (3, 3), (1, 2), 1, 2, 1),      # strided in W, dilated
])
def test_direct_kernel_matches_torch(threads, dtype, n, c, k, h, w, kernel, stride, padding,
                                     dilation, groups) -> None:
    """The direct kernels (few taps per output: forward, dx, dw, db; at stride 1 the forward up
    to 72 taps, dw and db up to 27) against torch at 1, 2 and 3 threads, with planes that end in
    every kind of tile."""
    if torch is None:
        pytest.skip("torch not installed")
    assert c // groups * kernel[0] * kernel[1] <= 72  # few enough taps for the direct forward
    _check_conv_vs_torch(threads, dtype, (n, c, h, w), (k, c // groups, *kernel), stride=stride,
                         padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, hw", [(37, 1, 28), (19, 3, 20)])
def test_direct_kernel_same_bits_at_any_thread_count(dtype, n, c, hw) -> None:
    """The direct kernels' y, dw and db (1 and 3 input channels, large enough for the parallel
    paths) are the same bits at 1, 2 and 3 threads: each output and each sum has one order."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    w = rng.standard_normal((32, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(32).astype(dtype)
    dy = rng.standard_normal((n, 32, hw, hw)).astype(dtype)
    args = ((1, 1), (1, 1), (1, 1), 1)
    saved = nc.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            nc.set_num_threads(threads)
            _, dw, db = nc._C.conv2d_backward(dy, x, w, *args, need_dx=False)
            results.append((nc._C.conv2d_forward(x, w, b, *args), dw, db))
    finally:
        nc.set_num_threads(saved)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, k, h, w, padding", [
    (5, 32, 64, 14, 14, (1, 1)),   # LeNet's second layer
    (3, 32, 32, 1, 1, (1, 1)),     # one output, one tile mostly of padding
    (2, 32, 48, 7, 11, (1, 1)),    # odd planes: half tiles at the edges; 48 channels padded
    (1, 48, 32, 9, 6, (0, 2)),     # no padding in H, dx padded by 2 - p = 0 in W
    (2, 32, 32, 30, 28, (2, 1)),   # several chunks of tile rows per image (y, dx: F(4x4, 3x3))
])
def test_winograd_kernel_matches_torch(threads, dtype, n, c, k, h, w, padding) -> None:
    """The Winograd F(2x2, 3x3) kernels (forward, dx, dw, db; F(4x4, 3x3) where conv.cpp picks
    it: test_conv_winograd43.py) against torch, 1 and 2 threads: float32 within 1e-4 (the
    transforms add and halve only), float64 within 1e-10."""
    if torch is None:
        pytest.skip("torch not installed")
    _check_conv_vs_torch(threads, dtype, (n, c, h, w), (k, c, 3, 3), padding=padding)


@pytest.mark.parametrize("n, c, k, h, w, padding", [(2, 32, 32, 5, 7, (1, 1)),
                                                    (1, 48, 32, 4, 3, (2, 0))])
def test_winograd_gradients_match_finite_differences(n, c, k, h, w, padding) -> None:
    """Float64 gradients of the Winograd path along random directions."""
    check_conv3x3_finite_differences(n, c, k, h, w, padding, directions=3)


def check_conv3x3_finite_differences(n: int, c: int, k: int, h: int, w: int, padding: tuple,
                                     directions: int) -> None:
    """Float64 gradients of a 3x3 conv2d along `directions` random directions: <grad, v>
    against the central difference (f(a + eps v) - f(a - eps v)) / 2 eps for x, weight and
    bias (also used by test_conv_winograd43.py)."""
    rng, seed = fresh_rng()
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal((k, c, 3, 3)),
              rng.standard_normal(k)]
    ts = [nc.tensor(a, requires_grad=True) for a in arrays]
    y = F.conv2d(*ts, padding=padding)
    weights = rng.standard_normal(y.shape)
    y.backward(weights)
    eps = 1e-6
    for i, t in enumerate(ts):
        for _ in range(directions):
            v = rng.standard_normal(arrays[i].shape)

            def f(sign: float, i: int = i, v: np.ndarray = v) -> float:
                moved = [a + sign * eps * v if j == i else a for j, a in enumerate(arrays)]
                with nc.no_grad():
                    out = F.conv2d(*(nc.tensor(a) for a in moved), padding=padding)
                return float(np.sum(out.numpy() * weights))

            expected = (f(1.0) - f(-1.0)) / (2 * eps)
            np.testing.assert_allclose(np.sum(t.grad.numpy() * v), expected, rtol=1e-6,
                                       err_msg=f"input {i}, seed {seed}")


# ---- dropout2d --------------------------------------------------------------------------------


def test_dropout2d_zeroes_whole_channels_and_is_seeded() -> None:
    x = nc.tensor(np.ones((8, 16, 3, 4), np.float32), requires_grad=True)
    nc.manual_seed(3)
    y = F.dropout2d(x, 0.5)
    nc.manual_seed(3)
    np.testing.assert_array_equal(y.detach().numpy(), F.dropout2d(x, 0.5).detach().numpy())
    per_channel = y.detach().numpy().reshape(8, 16, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # a channel is kept or dropped
    assert set(np.unique(per_channel)) == {0.0, 2.0}
    y.backward(np.ones(y.shape, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    assert F.dropout2d(x, 0.5, training=False) is x
    assert F.dropout2d(nc.ones(4, 2, 2), 0.5).shape == (4, 2, 2)


# ---- layers vs torch.nn -----------------------------------------------------------------------

LAYERS = [
    ("Conv2d", (3, 6, 3), dict(stride=2, padding=1), (2, 3, 9, 8)),
    ("Conv2d", (4, 4, (2, 3)), dict(groups=4, bias=False, dilation=(2, 1)), (1, 4, 7, 6)),
    ("Conv2d", (2, 3, 4), dict(padding="same"), (2, 2, 6, 5)),
    ("Conv1d", (3, 5, 3), dict(padding=2, stride=2), (2, 3, 11)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    ("AvgPool2d", (2,), dict(count_include_pad=False, padding=1), (2, 3, 5, 5)),
    ("AdaptiveAvgPool2d", ((2, 3),), {}, (2, 3, 7, 8)),
]


# NOTE: torch warns that padding='same' with an even kernel copies the input; not our concern.
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), LAYERS,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(LAYERS)])
def test_layer_matches_torch(name, args, kwargs, shape) -> None:
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in
                            ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xo, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    yo.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    for (n, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=n)


def test_conv_init_bounds_follow_pytorch() -> None:
    nc.manual_seed(0)
    conv = nn.Conv2d(4, 64, (3, 5), groups=2)
    bound = 1 / np.sqrt(2 * 15)  # kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in) for both
    assert conv.weight.shape == (64, 2, 3, 5) and conv.bias.shape == (64,)
    assert np.abs(conv.weight.detach().numpy()).max() <= bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound
    assert np.abs(conv.weight.detach().numpy()).max() > 0.8 * bound


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.conv2d(nc.zeros(3, 2, 5), nc.zeros(4, 3, 3, 3)),
         r"conv2d: kernel \(3, 3\) \(dilated \(3, 3\)\) is larger than the padded input \(2, 5\)"),
        (lambda: F.conv2d(nc.zeros(5, 5), nc.zeros(4, 3, 3, 3)),
         r"conv2d: expected 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(5, 5\)"),
        (lambda: F.conv2d(nc.zeros(1, 3, 5, 5), nc.zeros(4, 1, 3, 3), groups=2),
         r"conv2d: input channels 3 and output channels 4 must both be divisible by groups=2"),
        (lambda: F.conv2d(nc.zeros(1, 4, 5, 5), nc.zeros(4, 1, 3, 3), groups=2),
         r"conv2d: weight of shape \(4, 1, 3, 3\) expects 2 input channels"),
        (lambda: F.conv2d(nc.zeros(1, 3, 2, 2), nc.zeros(4, 3, 3, 3), padding=0),
         r"conv2d: kernel .* larger than the padded input \(2, 2\) \(input \(1, 3, 2, 2\)"),
        (lambda: F.conv2d(nc.zeros(1, 3, 5, 5), nc.zeros(4, 3, 3, 3), padding=-1),
         r"conv2d: padding must be non-negative, got -1"),
        (lambda: F.conv2d(nc.zeros(1, 3, 5, 5), nc.zeros(4, 3, 3, 3), stride=2, padding="same"),
         r"conv2d: padding='same' is not supported for strided convolutions"),
        (lambda: F.conv2d(nc.zeros(1, 3, 5, 5), nc.zeros(4, 3, 3, 3), nc.zeros(3)),
         r"conv2d: bias of shape \(3,\) does not match weight of shape \(4, 3, 3, 3\)"),
        (lambda: F.conv1d(nc.zeros(1, 3, 5, 5), nc.zeros(4, 3, 3)),
         r"conv1d: expected 2-D \(C, L\) or 3-D \(N, C, L\) input, got shape \(1, 3, 5, 5\)"),
        (lambda: F.max_pool2d(nc.zeros(1, 1, 5, 5), 2, padding=2),
         r"max_pool2d: padding \(2, 2\) should be at most half of kernel size \(2, 2\)"),
        (lambda: F.max_pool2d(nc.zeros(1, 1, 2, 2), 3),
         r"max_pool2d: kernel \(3, 3\) .* larger than the input of shape \(1, 1, 2, 2\)"),
        (lambda: F.avg_pool2d(nc.zeros(2, 5), 2),
         r"avg_pool2d: expected 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(2, 5\)"),
        (lambda: F.avg_pool2d(nc.zeros(1, 1, 5, 5), 2, padding=-1),
         r"avg_pool2d: padding must be non-negative"),
        (lambda: F.adaptive_avg_pool2d(nc.zeros(1, 1, 5, 5), 0),
         r"adaptive_avg_pool2d: output_size must be positive"),
        (lambda: F.dropout2d(nc.zeros(2, 3), 0.5),
         r"dropout2d: expected 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(2, 3\)"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: in_channels 3 and out_channels 4"),
    ],
)
def test_bad_input_raises_value_error(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_dtype_raises_type_error() -> None:
    with pytest.raises(TypeError, match="conv2d: expected one dtype, but input is float64"):
        F.conv2d(nc.zeros(1, 3, 5, 5).double(), nc.zeros(4, 3, 3, 3))
    with pytest.raises(TypeError, match="max_pool2d: input must be float32 or float64"):
        F.max_pool2d(nc.tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)


def test_native_boundary_errors() -> None:
    """The bindings refuse bad shapes, ranks and dtypes themselves, naming the op."""
    x, w = np.zeros((1, 3, 5, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32)
    a = ((1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"\[conv2d\] x: expected 4-D \(N, C, H, W\)"):
        nc._C.conv2d_forward(x[0], w, None, *a)
    with pytest.raises(ValueError, match=r"\[conv2d\] input channels 3 and output channels 4 "
                                         r"must both be divisible by groups=2"):
        nc._C.conv2d_forward(x, w, None, *a, 2)
    with pytest.raises(ValueError, match=r"\[conv2d\] padding must be non-negative"):
        nc._C.conv2d_forward(x, w, None, (1, 1), (-1, 0), (1, 1))
    with pytest.raises(ValueError, match=r"\[conv2d\] kernel \(7, 3\) \(dilated\) is larger"):
        nc._C.conv2d_forward(x, w, None, (1, 1), (0, 0), (3, 1))
    with pytest.raises(TypeError, match=r"\[conv2d\] weight: expected float32, got float64"):
        nc._C.conv2d_forward(x, w.astype(np.float64), None, *a)
    with pytest.raises(ValueError, match=r"\[conv2d\] dy: expected shape \(1, 4, 3, 3\)"):
        nc._C.conv2d_backward(np.zeros((1, 4, 5, 5), np.float32), x, w, *a)
    with pytest.raises(ValueError, match=r"\[max_pool2d\] padding \(2, 2\) must be"):
        nc._C.max_pool2d_forward(x, (2, 2), (2, 2), (2, 2), (1, 1))
    y, idx = nc._C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"\[max_pool2d\] indices: value 99 outside"):
        nc._C.max_pool2d_backward(y, np.full_like(idx, 99), (5, 5), (2, 2), (2, 2), (0, 0),
                                  (1, 1))
    with pytest.raises(ValueError, match=r"\[avg_pool2d\] dy: expected shape \(1, 3, 2, 2\)"):
        nc._C.avg_pool2d_backward(np.zeros((1, 3, 3, 3), np.float32), (5, 5), (2, 2), (2, 2),
                                  (0, 0))
    with pytest.raises(ValueError, match=r"\[adaptive_avg_pool2d\] output_size must be"):
        nc._C.adaptive_avg_pool2d_forward(x, (0, 2))
