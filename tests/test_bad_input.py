"""Bad input never reaches memory errors or odd exception types: checked size arithmetic at
the native boundary, misaligned arrays, the issue's reproducers, and a property-based fuzz of
the native boundary and the public ops (bounded to stay quick; tools/fuzz.py runs longer)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from nncore import _C, nn

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given, settings = hypothesis.given, hypothesis.settings

BIG = 2**63 - 1
# Types a user error may raise (PyTorch's own types included); never OverflowError,
# ZeroDivisionError, AttributeError, KeyError, RecursionError or a crash.
ALLOWED = (ValueError, TypeError, IndexError, RuntimeError, NotImplementedError, MemoryError)


def _misaligned(a: np.ndarray) -> np.ndarray:
    buf = bytearray(a.nbytes + 1)
    out = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


# ---- the reproducers ----

@pytest.mark.parametrize("call, op, arg", [
    (lambda: F.conv2d(nc.ones(1, 1, 4, 10), nc.ones(1, 1, 3, 3), padding=(0, BIG)),
     "conv2d", "padding"),
    (lambda: F.conv1d(nc.ones(1, 1, 10), nc.ones(1, 1, 3), padding=BIG), "conv1d", "padding"),
    (lambda: F.conv1d(nc.ones(1, 1, 10), nc.ones(1, 1, 3), padding=2**50), "conv1d",
     "padding"),
    (lambda: F.conv2d(nc.ones(1, 1, 4, 4), nc.ones(1, 1, 3, 3), dilation=BIG), "conv2d",
     "dilated"),
    (lambda: F.adaptive_avg_pool2d(nc.randn(2, 3, 7, 5), (3, BIG)), "adaptive_avg_pool2d",
     "output_size"),
    (lambda: F.adaptive_avg_pool2d(nc.randn(2, 3, 7, 5), (2**32, 2**32)),
     "adaptive_avg_pool2d", "output_size"),
    (lambda: F.max_pool2d(nc.ones(1, 1, 2, 2), 5), "max_pool2d", "larger than the input"),
    (lambda: F.avg_pool2d(nc.ones(1, 1, 2, 2), 5), "avg_pool2d", "larger than the input"),
    (lambda: F.interpolate(nc.ones(1, 1, 2, 2), scale_factor=float("inf")), "interpolate",
     "scale_factor"),
    (lambda: nc.ones(2, 3)[2**63], "index", "Overflow"),
    (lambda: nc.ones(2, 3).tril(2**63), "tril", "Overflow"),
])
def test_reproducers_raise_value_error_naming_op_and_argument(call, op, arg) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert op in str(info.value) and arg in str(info.value)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: nc.stack([nc.ones(2)], dim=2**31), IndexError, "stack"),
    (lambda: nc.ones(2, 3).sum(dim=2**63), IndexError, "sum"),
    (lambda: nc.arange(0, 10, 0), RuntimeError, "arange"),
    (lambda: nc.arange(0, 2**63 + 5, 1), RuntimeError, "arange"),
    (lambda: nc.arange(0, 10, 1e-30), RuntimeError, "arange"),
    (lambda: nc.tensor(1.0).permute(0), RuntimeError, "permute"),
    (lambda: nc.cat([nc.ones(2), np.ones(2)]), TypeError, "cat"),
    (lambda: nc.ones(2, 3).repeat(2**31, 2**31, 2), RuntimeError, "repeat"),
    (lambda: nc.ones(2, 3).repeat(2**63, 1), RuntimeError, "repeat"),
])
def test_reproducers_raise_pytorchs_types(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


# ---- the native boundary ----

def _conv_args(**kw):
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    args = {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1}
    args.update(kw)
    return x, w, args


@pytest.mark.parametrize("kw, arg", [
    ({"dilation": (BIG, 1)}, "dilation"), ({"padding": (BIG, 0)}, "padding"),
    ({"padding": (2**40, 2**40)}, "padding"), ({"padding": (0, 2**62)}, "padding"),
])
def test_native_conv_sizes_are_checked(kw, arg) -> None:
    x, w, args = _conv_args(**kw)
    with pytest.raises(ValueError, match=rf"\[conv2d\] {arg}"):
        _C.conv2d_forward(x, w, None, **args)
    with pytest.raises(ValueError, match=rf"\[conv2d\] {arg}"):
        _C.conv2d_backward(np.ones((1, 1, 2, 2), np.float32), x, w, **args)


def test_native_huge_stride_gives_one_window() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 2, 3)).astype(np.float32)
    # Padded to 7 x 8: any stride from there on gives one output position.
    ref = _C.conv2d_forward(x, w, None, (7, 8), (1, 1), (1, 1), 1)
    got = _C.conv2d_forward(x, w, None, (BIG, BIG), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(got, ref)
    got = _C.max_pool2d_forward(x, (2, 2), (BIG, BIG), (1, 1), (1, 1), True)[0]
    ref = _C.max_pool2d_forward(x, (2, 2), (7, 8), (1, 1), (1, 1), True)[0]
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("call, op", [
    (lambda: _C.max_pool2d_forward(np.ones((1, 1, 4, 4), np.float32), (2**62, 2**62), (1, 1),
                                   (2**61, 2**61), (1, 1), False), "max_pool2d"),
    (lambda: _C.max_pool2d_forward(np.ones((1, 1, 4, 4), np.float32), (3, 3), (1, 1), (1, 1),
                                   (BIG, 1), False), "max_pool2d"),
    (lambda: _C.avg_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), (BIG, BIG), (2, 2),
                                    (2, 2), (0, 0)), "avg_pool2d"),
    (lambda: _C.adaptive_avg_pool2d_backward(np.ones((1, 1, 2, 2), np.float32), (BIG, 2)),
     "adaptive_avg_pool2d"),
    (lambda: _C.embedding_backward(np.ones((2, 3), np.float32), np.zeros(2, np.int64), 2**62),
     "embedding"),
    (lambda: _C.topk_backward(np.ones((2, 1), np.float32), np.zeros((2, 1), np.int64), 2**62),
     "topk"),
])
def test_native_sizes_from_arguments_are_checked(call, op) -> None:
    with pytest.raises(ValueError, match=rf"\[{op}\]"):
        call()


def test_native_boundary_refuses_misaligned_arrays() -> None:
    x = _misaligned(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[mse_loss\] .*not aligned"):
        _C.mse_loss_forward(x, np.ones((3, 4), np.float32), "mean")
    with pytest.raises(ValueError, match="not aligned"):
        _C.relu_forward(x)
    idx = _misaligned(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"\[embedding\] indices: .*not aligned"):
        _C.embedding_forward(idx, np.ones((3, 2), np.float32))


def test_public_ops_copy_misaligned_inputs() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal((3, 5)).astype(np.float32)
    w = rng.standard_normal((2, 5)).astype(np.float32)
    ma, mb = nc.from_numpy(_misaligned(a)), nc.from_numpy(_misaligned(b))
    assert float(F.mse_loss(ma, mb)) == float(F.mse_loss(nc.from_numpy(a), nc.from_numpy(b)))
    np.testing.assert_array_equal(F.linear(ma, nc.from_numpy(w)).numpy(),
                                  F.linear(nc.from_numpy(a), nc.from_numpy(w)).numpy())
    np.testing.assert_array_equal(F.relu(ma).numpy(), np.maximum(a, 0))
    x = nc.from_numpy(_misaligned(a)).requires_grad_()
    F.softmax(x, dim=1).sum().backward()
    assert x.grad.shape == (3, 5)


# ---- property-based fuzz: quick in CI (derandomized, a few hundred examples) ----

SIZES = st.one_of(st.integers(-2, 6), st.sampled_from(
    [2**40, 2**48, 2**62, BIG, -2**63, 2**63, 2**64]))
PAIRS = st.tuples(SIZES, SIZES)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def _check(call) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except ALLOWED:
            pass


@FUZZ
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
       k=st.integers(1, 4), stride=PAIRS, padding=PAIRS, dilation=PAIRS, groups=SIZES,
       dtype=st.sampled_from([np.float32, np.float64, np.int64]), misalign=st.booleans())
def test_fuzz_native_conv_and_pool(n, c, h, w, k, stride, padding, dilation, groups, dtype,
                                   misalign) -> None:
    x = np.ones((n, c, h, w), dtype)
    if misalign:
        x = _misaligned(x)
    wt = np.ones((2, c, k, k), dtype)
    _check(lambda: _C.conv2d_forward(x, wt, None, stride, padding, dilation, groups))
    _check(lambda: _C.conv2d_backward(np.ones((n, 2, 1, 1), dtype), x, wt, stride, padding,
                                      dilation, groups))
    _check(lambda: _C.max_pool2d_forward(x, (k, k), stride, padding, dilation, False))
    _check(lambda: _C.avg_pool2d_forward(x, (k, k), stride, padding, True, True, 0))
    _check(lambda: _C.adaptive_avg_pool2d_forward(x, padding))
    _check(lambda: _C.adaptive_avg_pool2d_backward(x, stride))
    _check(lambda: _C.max_pool2d_backward(x, np.zeros(x.shape, np.int64), stride, (k, k), (1, 1),
                                          (0, 0), (1, 1)))


@FUZZ
@given(a=SIZES, b=SIZES, c=SIZES, pair=PAIRS, f=st.sampled_from(
    [0.0, -1.0, 0.5, 2.0, 1e30, float("inf"), float("nan")]))
def test_fuzz_public_ops(a, b, c, pair, f) -> None:
    x = nc.randn(2, 3, 4, 5)
    x3 = nc.randn(2, 3, 7)
    calls = [
        lambda: F.conv2d(x, nc.randn(2, 3, 2, 2), stride=pair, padding=(a, b), dilation=c),
        lambda: F.conv1d(x3, nc.randn(2, 3, 2), stride=a, padding=b, dilation=c),
        lambda: F.conv_transpose2d(x, nc.randn(3, 2, 2, 2), stride=pair, padding=a),
        lambda: F.max_pool2d(x, pair, stride=a, padding=b, dilation=c),
        lambda: F.avg_pool1d(x3, a, stride=b, padding=c),
        lambda: F.adaptive_avg_pool2d(x, pair),
        lambda: F.adaptive_max_pool2d(x, pair),
        lambda: F.interpolate(x, size=pair),
        lambda: F.interpolate(x, scale_factor=f),
        lambda: F.pad(x, (a, b)),
        lambda: F.embedding(nc.tensor([0, 1]), nc.randn(3, 2), padding_idx=a),
        lambda: F.dropout(x, p=f),
        lambda: nc.zeros(a, b),
        lambda: nc.arange(a, b, c),
        lambda: nc.arange(0, f, 1),
        lambda: nc.linspace(0, 1, a),
        lambda: nc.eye(a, b),
        lambda: x.sum(dim=a),
        lambda: nc.stack([x3, x3], dim=a),
        lambda: x.permute(a, b, c, 0),
        lambda: x.reshape(a, b),
        lambda: x.narrow(a, b, c),
        lambda: x.split(a, dim=b),
        lambda: x.chunk(a, dim=b),
        lambda: x3.topk(a, dim=b),
        lambda: x3.repeat(a, b, c),
        lambda: x.unsqueeze(a),
        lambda: x.transpose(a, b),
        lambda: x.tril(a),
        lambda: x[a],
        lambda: x.diagonal(a, b, c),
        lambda: x3.unfold(a, b, c),
        lambda: nn.Conv2d(a, b, c),
        lambda: nn.Linear(a, b),
        lambda: nn.Embedding(a, b),
    ]
    for call in calls:
        _check(call)
