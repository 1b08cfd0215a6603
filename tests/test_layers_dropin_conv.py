"""Drop-in conv family: conv_transpose1d/2d (built on the conv2d kernels), 1-d and adaptive
pooling, max/avg pooling options, and the unsupported 3-d layers, against NumPy references,
float64 finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from dropin_compare import compare_module, copy_parameters
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import nn

TF = torch.nn.functional if torch else None


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- transposed convolution ---------------------------------------------------------------------


def conv_transpose2d_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                         dilation=1):
    """Scatter of every input pixel through the kernel (the definition), then the crop."""
    s, p, op, d = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    n, cin, h, wd = x.shape
    cg_out, kh, kw = w.shape[1:]
    cg_in = cin // groups
    full = [(h - 1) * s[0] + d[0] * (kh - 1) + 1 + op[0], (wd - 1) * s[1] + d[1] * (kw - 1) + 1
            + op[1]]
    y = np.zeros((n, cg_out * groups, full[0], full[1]))
    for i in range(kh):
        for j in range(kw):
            for g in range(groups):
                contrib = np.einsum("nchw,co->nohw", x[:, g * cg_in:(g + 1) * cg_in],
                                    w[g * cg_in:(g + 1) * cg_in, :, i, j])
                y[:, g * cg_out:(g + 1) * cg_out, i * d[0]:i * d[0] + (h - 1) * s[0] + 1:s[0],
                  j * d[1]:j * d[1] + (wd - 1) * s[1] + 1:s[1]] += contrib
    out = [full[0] - 2 * p[0], full[1] - 2 * p[1]]
    y = y[:, :, p[0]:p[0] + out[0], p[1]:p[1] + out[1]]
    return y if b is None else y + b[None, :, None, None]


def conv_transpose1d_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                         dilation=1):
    y = conv_transpose2d_ref(x[:, :, None], w[:, :, None], b, (1, stride), (0, padding),
                             (0, output_padding), groups, (1, dilation))
    return y[:, :, 0]


def _random_conv_transpose_specs(count: int, seed: int, spatial: int) -> list[OpSpec]:
    """Random configurations: stride 1-3, padding 0-2, dilation 1-2, output_padding below the
    stride or the dilation, groups 1/2/C, odd and non-square sizes, with and without bias."""
    rng = np.random.default_rng(seed)
    specs = []
    while len(specs) < count:
        cin = int(rng.choice([1, 2, 3, 4]))
        groups = int(rng.choice([g for g in (1, 2, cin) if cin % g == 0]))
        cout = groups * int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, size=spatial))
        s = tuple(int(v) for v in rng.integers(1, 4, size=spatial))
        d = tuple(int(v) for v in rng.integers(1, 3, size=spatial))
        p = tuple(int(v) for v in rng.integers(0, 3, size=spatial))
        op = tuple(int(rng.integers(0, max(si, di))) for si, di in zip(s, d))
        hw = tuple(int(v) for v in rng.integers(1, 6, size=spatial))
        n = int(rng.integers(1, 3))
        if any((i - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 < 1
               for i, si, pi, di, ki, oi in zip(hw, s, p, d, k, op)):
            continue
        bias = bool(rng.integers(0, 2))
        unwrap = (lambda t: t) if spatial == 2 else (lambda t: t[0])
        kwargs = dict(stride=unwrap(s), padding=unwrap(p), output_padding=unwrap(op),
                      groups=groups, dilation=unwrap(d))

        def make(r, n=n, cin=cin, hw=hw, cout=cout, groups=groups, k=k, bias=bias):
            arrays = [r.standard_normal((n, cin) + hw),
                      r.standard_normal((cin, cout // groups) + k)]
            return arrays + [r.standard_normal(cout)] if bias else arrays

        name = f"conv_transpose{spatial}d"
        ref = conv_transpose2d_ref if spatial == 2 else conv_transpose1d_ref
        specs.append(OpSpec(name, getattr(F, name), make, ref, TF and getattr(TF, name), kwargs,
                            torch_rtol=1e-4, id=f"{name}-{len(specs)}-{kwargs}"))
    return specs


CONV_T_SPECS = (_random_conv_transpose_specs(14, 7, 2) + _random_conv_transpose_specs(6, 8, 1))


@pytest.mark.parametrize("spec", CONV_T_SPECS, ids=str)
def test_conv_transpose(spec: OpSpec) -> None:
    check_op(spec)


def test_conv_transpose_is_the_adjoint_of_conv2d() -> None:
    rng, seed = fresh_rng()
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 2))
    y = rng.standard_normal((2, 6, 5, 5))
    conv = F.conv2d(nc.tensor(x), nc.tensor(w), stride=2, padding=1, groups=2).numpy()
    back = F.conv_transpose2d(nc.tensor(y), nc.tensor(w), stride=2, padding=1, groups=2).numpy()
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(conv * y), np.sum(x * back), rtol=1e-12,
                               err_msg=f"seed {seed}")


@pytest.mark.parametrize("dims", [1, 2])
def test_conv_transpose_layer_matches_torch(dims: int) -> None:
    pytest.importorskip("torch")
    name = f"ConvTranspose{dims}d"
    kwargs = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    ours = getattr(nn, name)(4, 6, 3, dtype=nc.float64, **kwargs)
    theirs = getattr(torch.nn, name)(4, 6, 3, dtype=torch.float64, **kwargs)
    assert repr(ours) == repr(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert ours.weight.shape == tuple(theirs.weight.shape) == (4, 3) + (3,) * dims
    rng, _ = fresh_rng()
    compare_module(ours, theirs, [rng.standard_normal((2, 4) + (5, 7)[:dims])])
    compare_module(ours, theirs, [rng.standard_normal((4,) + (3, 2)[:dims])])


def test_conv_transpose_output_size_picks_output_padding() -> None:
    pytest.importorskip("torch")
    ours = nn.ConvTranspose2d(3, 2, 3, stride=(2, 3), padding=1, dtype=nc.float64)
    theirs = torch.nn.ConvTranspose2d(3, 2, 3, stride=(2, 3), padding=1, dtype=torch.float64)
    rng, _ = fresh_rng()
    x = rng.standard_normal((1, 3, 4, 5))
    copy_parameters(ours, theirs)
    for size in ([7, 13], [8, 15], (1, 2, 8, 14)):
        y = ours(nc.tensor(x), output_size=size)
        ty = theirs(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
    with pytest.raises(ValueError, match=r"requested an output size of \[9, 13\], but valid "
                                         r"sizes range from \[7, 13\] to \[8, 15\]"):
        ours(nc.tensor(x), output_size=[9, 13])


def test_conv_transpose_init_and_dtype() -> None:
    nc.manual_seed(0)
    m = nn.ConvTranspose2d(8, 6, (3, 2), groups=2)
    assert m.weight.dtype == nc.get_default_dtype() == nc.float32
    bound = 1 / np.sqrt(3 * 3 * 2)  # fan_in = out / groups * kh * kw
    assert np.abs(m.weight.detach().numpy()).max() <= bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert np.abs(m.weight.detach().numpy()).max() > 0.8 * bound
    assert nn.ConvTranspose1d(2, 2, 3, bias=False).bias is None
    with pytest.raises(NotImplementedError, match="cpu"):
        nn.ConvTranspose2d(2, 2, 3, device="cuda")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: F.conv_transpose2d(nc.zeros(1, 4, 5, 5), nc.zeros(4, 3, 3, 3), stride=2,
                                    output_padding=2), RuntimeError,
         r"conv_transpose2d: output padding must be smaller than either stride or dilation"),
        (lambda: F.conv_transpose2d(nc.zeros(1, 5, 5, 5), nc.zeros(4, 3, 3, 3)), RuntimeError,
         r"conv_transpose2d: weight of shape \(4, 3, 3, 3\) expects input with 4 channels, but "
         r"got input of shape \(1, 5, 5, 5\)"),
        (lambda: F.conv_transpose2d(nc.zeros(1, 4, 5, 5), nc.zeros(4, 3, 3, 3), groups=3),
         RuntimeError, r"conv_transpose2d: given groups=3, expected weight to be divisible"),
        (lambda: F.conv_transpose2d(nc.zeros(1, 4, 1, 1), nc.zeros(4, 3, 3, 3), padding=2),
         RuntimeError, r"conv_transpose2d: .*output size per channel \(-1, -1\) is too small"),
        (lambda: F.conv_transpose2d(nc.zeros(1, 4, 5, 5), nc.zeros(4, 3, 3, 3), padding="same"),
         TypeError, r"conv_transpose2d: padding must be an int or a tuple of 2 ints"),
        (lambda: F.conv_transpose2d(nc.zeros(1, 4, 5, 5), nc.zeros(4, 3, 3, 3), nc.zeros(4)),
         RuntimeError, r"conv_transpose2d: bias of shape \(4,\) does not match"),
        (lambda: F.conv_transpose1d(nc.zeros(2, 5, 5, 5), nc.zeros(5, 3, 3)), ValueError,
         r"conv_transpose1d: expected 2-D \(C, L\) or 3-D \(N, C, L\) input"),
        (lambda: nn.ConvTranspose2d(4, 6, 3, groups=4), ValueError,
         r"ConvTranspose2d: out_channels \(6\) must be divisible by groups \(4\)"),
        (lambda: nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect"), ValueError,
         r'Only "zeros" padding mode is supported for ConvTranspose2d'),
    ],
)
def test_conv_transpose_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


# ---- 1-d and adaptive pooling -------------------------------------------------------------------


def _adaptive_ref(x, out, reduce):
    """Windows [floor(i n / o), ceil((i + 1) n / o)) along every spatial axis."""
    spatial = x.shape[2:]
    y = np.empty(x.shape[:2] + tuple(out))
    for pos in np.ndindex(*out):
        win = tuple(slice(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(pos, spatial, out))
        block = x[(slice(None), slice(None)) + win].reshape(x.shape[:2] + (-1,))
        y[(slice(None), slice(None)) + pos] = reduce(block, axis=-1)
    return y


def _pool1d_ref(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, fill=None,
                count_include_pad=True):
    k, s = kernel_size, stride or kernel_size
    n = x.shape[2]
    num = n + 2 * padding - dilation * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= n + padding:
        out -= 1
    y = np.empty(x.shape[:2] + (out,))
    for o in range(out):
        taps = [o * s - padding + t * dilation for t in range(k)]
        inside = [t for t in taps if 0 <= t < n]
        if fill is not None:
            y[:, :, o] = x[:, :, inside].max(axis=-1)
        else:
            end = min(o * s - padding + k, n + padding)
            div = (end - (o * s - padding)) if count_include_pad else len(inside)
            y[:, :, o] = x[:, :, inside].sum(axis=-1) / div
    return y


def _pool_specs() -> list[OpSpec]:
    specs = []
    for n, c, length, kw in [(2, 3, 11, dict(kernel_size=3)),
                             (1, 2, 9, dict(kernel_size=4, stride=3, padding=2, dilation=2,
                                            ceil_mode=True)),
                             (2, 1, 7, dict(kernel_size=2, stride=1, padding=1)),
                             (1, 1, 1, dict(kernel_size=1))]:
        def make(r, shape=(n, c, length)):
            return [r.standard_normal(shape)]

        specs.append(OpSpec("max_pool1d", F.max_pool1d, make,
                            lambda x, **k: _pool1d_ref(x, fill=-np.inf, **k),
                            TF and TF.max_pool1d, kw, id=f"max_pool1d-{(n, c, length)}-{kw}"))
        avg_kw = {k: v for k, v in kw.items() if k != "dilation"}
        for cip in (True, False):
            specs.append(OpSpec("avg_pool1d", F.avg_pool1d, make,
                                lambda x, **k: _pool1d_ref(x, **k), TF and TF.avg_pool1d,
                                dict(avg_kw, count_include_pad=cip),
                                id=f"avg_pool1d-{(n, c, length)}-{avg_kw}-cip{cip}"))
    for shape, out in [((2, 3, 11), 4), ((1, 2, 5), 5), ((2, 1, 7), 1), ((1, 1, 3), 7)]:
        def make1(r, shape=shape):
            return [r.standard_normal(shape)]

        specs.append(OpSpec("adaptive_avg_pool1d", F.adaptive_avg_pool1d, make1,
                            lambda x, output_size: _adaptive_ref(x, (output_size,), np.mean),
                            TF and TF.adaptive_avg_pool1d, dict(output_size=out),
                            id=f"adaptive_avg_pool1d-{shape}-{out}"))
        specs.append(OpSpec("adaptive_max_pool1d", F.adaptive_max_pool1d, make1,
                            lambda x, output_size: _adaptive_ref(x, (output_size,), np.max),
                            TF and TF.adaptive_max_pool1d, dict(output_size=out),
                            id=f"adaptive_max_pool1d-{shape}-{out}"))
    for shape, out in [((2, 3, 7, 6), (3, 2)), ((1, 2, 5, 5), 5), ((2, 1, 9, 4), (4, 1)),
                       ((1, 1, 3, 2), (5, 3)), ((1, 2, 6, 7), (1, 1))]:
        def make2(r, shape=shape):
            return [r.standard_normal(shape)]

        specs.append(OpSpec("adaptive_max_pool2d", F.adaptive_max_pool2d, make2,
                            lambda x, output_size: _adaptive_ref(x, _pair(output_size), np.max),
                            TF and TF.adaptive_max_pool2d, dict(output_size=out),
                            id=f"adaptive_max_pool2d-{shape}-{out}"))
    return specs


@pytest.mark.parametrize("spec", _pool_specs(), ids=str)
def test_pooling(spec: OpSpec) -> None:
    check_op(spec)


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("max_pool1d", (3,), dict(stride=2, padding=1, dilation=1, ceil_mode=True)),
        ("max_pool1d", (2,), {}),
        ("max_pool2d", ((3, 2),), dict(stride=(2, 1), padding=1, dilation=(1, 2),
                                       ceil_mode=True)),
        ("max_pool2d", (2,), dict(ceil_mode=True)),
        ("adaptive_max_pool1d", (4,), {}),
        ("adaptive_max_pool2d", ((3, None),), {}),
        ("adaptive_max_pool2d", (1,), {}),
    ],
)
def test_return_indices_match_torch(name, args, kwargs) -> None:
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    shape = (2, 3, 9) if name.endswith("1d") else (2, 3, 7, 6)
    for x in (rng.standard_normal(shape), rng.standard_normal(shape[1:])):
        y, idx = getattr(F, name)(nc.tensor(x), *args, **kwargs, return_indices=True)
        ty, tidx = getattr(TF, name)(torch.tensor(x), *args, **kwargs, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy(), err_msg=f"seed {seed}")
        np.testing.assert_array_equal(y.numpy(), ty.numpy(), err_msg=f"seed {seed}")
        assert idx.dtype == nc.int64


def _max2d_options():
    cases = []
    for k, s, p, d in [(3, 2, 1, 1), ((3, 2), (2, 1), (1, 0), (1, 2)), (2, 2, 0, 1),
                       (3, 3, 1, 2), (1, 1, 0, 1)]:
        for ceil_mode in (False, True):
            cases.append(dict(kernel_size=k, stride=s, padding=p, dilation=d,
                              ceil_mode=ceil_mode))
    return cases


@pytest.mark.parametrize("kwargs", _max2d_options(), ids=str)
def test_max_pool2d_options_match_torch(kwargs) -> None:
    pytest.importorskip("torch")
    rng, seed = fresh_rng()
    spec = OpSpec("max_pool2d", F.max_pool2d, lambda r: [r.standard_normal((2, 2, 7, 8))],
                  None, TF.max_pool2d, kwargs, id=f"max_pool2d-{kwargs}")
    check_op(spec)


def _avg2d_options():
    cases = []
    for k, s, p in [(3, 2, 1), ((3, 2), (2, 1), (1, 0)), (2, 2, 0), (3, 3, 1)]:
        for ceil_mode in (False, True):
            for cip in (True, False):
                for div in (None, 4):
                    cases.append(dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode,
                                      count_include_pad=cip, divisor_override=div))
    return cases


@pytest.mark.parametrize("kwargs", _avg2d_options(), ids=str)
def test_avg_pool2d_options_match_torch(kwargs) -> None:
    pytest.importorskip("torch")
    spec = OpSpec("avg_pool2d", F.avg_pool2d, lambda r: [r.standard_normal((1, 2, 7, 6))],
                  None, TF.avg_pool2d, kwargs, id=f"avg_pool2d-{kwargs}")
    check_op(spec)


@pytest.mark.parametrize(
    ("name", "args", "shape"),
    [
        ("MaxPool1d", (3, 2, 1, 2, False, True), (2, 3, 10)),
        ("AvgPool1d", (3, 2, 1, True, False), (2, 3, 10)),
        ("AdaptiveAvgPool1d", (4,), (2, 3, 10)),
        ("AdaptiveMaxPool1d", (4,), (3, 10)),
        ("AdaptiveMaxPool2d", ((2, 3),), (2, 3, 7, 8)),
        ("MaxPool2d", (3, 2, 1, 1, False, True), (2, 3, 7, 8)),
        ("AvgPool2d", (3, 2, 1, True, False, 5), (2, 3, 7, 8)),
    ],
)
def test_pool_layers_match_torch(name, args, shape) -> None:
    pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    rng, _ = fresh_rng()
    compare_module(ours, theirs, [rng.standard_normal(shape)])


# ---- signatures and the unsupported 3-d layers --------------------------------------------------


def test_positional_arguments_follow_torch() -> None:
    pytest.importorskip("torch")
    rng, _ = fresh_rng()
    x, w = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 2, 2, 2))
    # input, weight, bias, stride, padding, output_padding, groups, dilation
    args = (None, 2, 1, 1, 2, 2)
    np.testing.assert_allclose(F.conv_transpose2d(nc.tensor(x), nc.tensor(w), *args).numpy(),
                               TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), *args),
                               rtol=1e-12)
    x1 = rng.standard_normal((1, 2, 7))
    for name, args in [("max_pool1d", (3, 2, 1, 1, True)), ("avg_pool1d", (3, 2, 1, True, False)),
                       ("adaptive_avg_pool1d", (3,)), ("adaptive_max_pool1d", (3,))]:
        np.testing.assert_allclose(getattr(F, name)(nc.tensor(x1), *args).numpy(),
                                   getattr(TF, name)(torch.tensor(x1), *args), rtol=1e-12)


@pytest.mark.parametrize("name", ["Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d",
                                  "AdaptiveAvgPool3d", "AdaptiveMaxPool3d"])
def test_3d_layers_raise_not_implemented(name: str) -> None:
    with pytest.raises(NotImplementedError, match=rf"nn\.{name}: 3-D convolution and pooling "
                                                  r"are not supported"):
        getattr(nn, name)(1, 1, 1)
    fn = getattr(F, name[0].lower() + "".join("_" + ch.lower() if ch.isupper() else ch
                                              for ch in name[1:]).replace("3_d", "3d"))
    with pytest.raises(NotImplementedError, match=rf"{fn.__name__}: 3-D"):
        fn(nc.zeros(1, 1, 2, 2, 2), 1)


def test_pool_errors_name_the_op() -> None:
    with pytest.raises(ValueError, match=r"max_pool1d: expected 2-D \(C, L\) or 3-D"):
        F.max_pool1d(nc.zeros(2, 3, 7, 1), 3)
    with pytest.raises(ValueError, match=r"avg_pool1d: padding \(2,\) should be at most half"):
        F.avg_pool1d(nc.zeros(2, 3, 7), 3, padding=2)
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be positive"):
        F.adaptive_max_pool2d(nc.zeros(1, 1, 4, 4), (0, 2))
    with pytest.raises(TypeError, match=r"adaptive_avg_pool1d: output_size must be an int"):
        F.adaptive_avg_pool1d(nc.zeros(1, 1, 4), 1.5)
