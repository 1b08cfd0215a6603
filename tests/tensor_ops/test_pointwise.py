"""Elementwise functions: the harness triangle for every differentiable op, dtype promotion,
integer/bool behaviour and errors against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, torch
from nncore.tensor_ops import comparison, pointwise, transcendental

try:
    from scipy import special
except ImportError:  # the erfinv reference check skips; torch still checks it
    special = None


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _uniform(lo, hi, *shapes):
    return lambda rng: [rng.uniform(lo, hi, s) for s in shapes]


def _away_from(points, *shapes, gap=0.05):
    """Normal samples at least ``gap`` from every kink in ``points`` (valid finite
    differences); kinks must be more than 3 gaps apart."""
    def make(rng):
        out = []
        for s in shapes:
            a = rng.standard_normal(s)
            for p in points:
                a = np.where(np.abs(a - p) < gap, p + 2 * gap, a)
            out.append(a)
        return out
    return make


def _nonzero(*shapes):
    return lambda rng: [rng.uniform(0.5, 2, s) * rng.choice([-1, 1], s) for s in shapes]


_erf_ref = np.vectorize(math.erf)
T = torch

SPECS = [
    OpSpec("add_alpha", lambda a, b: nc.add(a, b, alpha=-0.5), _normal((3, 4), (4,)),
           lambda a, b: a - 0.5 * b, lambda a, b: T.add(a, b, alpha=-0.5)),
    OpSpec("sub_alpha", lambda a, b: a.sub(b, alpha=2), _normal((1, 3), (17, 1)),
           lambda a, b: a - 2 * b, lambda a, b: T.sub(a, b, alpha=2)),
    OpSpec("mul_scalar", lambda a: nc.mul(a, 3), _normal((5,)), lambda a: a * 3,
           lambda a: T.mul(a, 3)),
    OpSpec("div", lambda a, b: nc.div(a, b), lambda r: [r.standard_normal((2, 3)),
                                                        r.uniform(0.5, 2, (3,))],
           np.divide, lambda a, b: T.div(a, b)),
    OpSpec("true_divide_r", lambda a: nc.true_divide(2.0, a), _nonzero((4,)), lambda a: 2 / a,
           lambda a: T.true_divide(2.0, a)),
    OpSpec("div_trunc", lambda a, b: nc.div(a, b, rounding_mode="trunc"),
           _nonzero((3, 5), (5,)), lambda a, b: np.trunc(a / b),
           lambda a, b: T.div(a, b, rounding_mode="trunc")),
    OpSpec("div_floor", lambda a, b: a.div(b, rounding_mode="floor"), _nonzero((7,), (7,)),
           lambda a, b: np.floor(a / b), lambda a, b: a.div(b, rounding_mode="floor")),
    OpSpec("remainder", lambda a, b: nc.remainder(a, b), _nonzero((3, 4), (4,)), np.mod,
           lambda a, b: T.remainder(a, b)),
    OpSpec("fmod", lambda a, b: a.fmod(b), _nonzero((2, 5), (2, 1)), np.fmod,
           lambda a, b: a.fmod(b)),
    OpSpec("pow_tensor", lambda a, b: nc.pow(a, b), _uniform(0.5, 2, (3, 4), (4,)), np.power,
           lambda a, b: T.pow(a, b)),
    OpSpec("pow_float", lambda a: a.pow(2.5), _uniform(0.5, 2, (6,)), lambda a: a ** 2.5,
           lambda a: a.pow(2.5)),
    OpSpec("pow_neg_int", lambda a: a ** -2, _nonzero((3, 3)), lambda a: a ** -2.0,
           lambda a: a ** -2),
    OpSpec("pow_zero", lambda a: a ** 0, _normal((4,)), lambda a: a ** 0, lambda a: a ** 0),
    OpSpec("rpow", lambda a: nc.pow(2.0, a), _normal((5,)), lambda a: 2.0 ** a,
           lambda a: T.pow(2.0, a)),
    OpSpec("float_power_scalar", lambda a: nc.float_power(a, 2).to(a.dtype), _normal((3,)),
           lambda a: a ** 2, lambda a: T.float_power(a, 2).to(a.dtype)),
    OpSpec("neg", lambda a: nc.neg(a), _normal((1,)), np.negative, lambda a: T.neg(a)),
    OpSpec("reciprocal", lambda a: a.reciprocal(), _nonzero((3, 2)), np.reciprocal,
           lambda a: a.reciprocal()),
    OpSpec("square", lambda a: nc.square(a), _normal((4, 3)), np.square,
           lambda a: T.square(a)),
    OpSpec("sqrt", lambda a: nc.sqrt(a), _uniform(0.2, 3, (5,)), np.sqrt,
           lambda a: T.sqrt(a)),
    OpSpec("rsqrt", lambda a: a.rsqrt(), _uniform(0.2, 3, (2, 3)), lambda a: 1 / np.sqrt(a),
           lambda a: a.rsqrt()),
    OpSpec("abs", lambda a: nc.abs(a), _nonzero((17,)), np.abs, lambda a: T.abs(a)),
    OpSpec("sign", lambda a: a.sign(), _nonzero((3,)), np.sign, lambda a: a.sign()),
    OpSpec("floor", lambda a: nc.floor(a), _away_from(range(-4, 5), (3, 3)), np.floor,
           lambda a: T.floor(a)),
    OpSpec("ceil", lambda a: a.ceil(), _away_from(range(-4, 5), (4,)), np.ceil,
           lambda a: a.ceil()),
    OpSpec("trunc", lambda a: nc.trunc(a), _away_from(range(-4, 5), (5,)), np.trunc,
           lambda a: T.trunc(a)),
    OpSpec("round", lambda a: a.round(), _away_from(np.arange(-4.5, 5), (6,)), np.round,
           lambda a: a.round()),
    OpSpec("round_decimals", lambda a: nc.round(a, decimals=1),
           _away_from(np.arange(-4.05, 4.1, 0.1), (2, 2), gap=0.02), lambda a: np.round(a, 1),
           lambda a: T.round(a, decimals=1)),
    OpSpec("frac", lambda a: a.frac(), _away_from(range(-4, 5), (3, 4)),
           lambda a: a - np.trunc(a), lambda a: a.frac()),
    OpSpec("exp", lambda a: nc.exp(a), _normal((3, 1)), np.exp, lambda a: T.exp(a)),
    OpSpec("exp2", lambda a: a.exp2(), _normal((3,)), np.exp2, lambda a: a.exp2()),
    OpSpec("expm1", lambda a: nc.expm1(a), _normal((2, 3)), np.expm1, lambda a: T.expm1(a)),
    OpSpec("log", lambda a: nc.log(a), _uniform(0.2, 3, (4,)), np.log, lambda a: T.log(a)),
    OpSpec("log2", lambda a: a.log2(), _uniform(0.2, 3, (4,)), np.log2, lambda a: a.log2()),
    OpSpec("log10", lambda a: nc.log10(a), _uniform(0.2, 3, (4, 1)), np.log10,
           lambda a: T.log10(a)),
    OpSpec("log1p", lambda a: a.log1p(), _uniform(-0.5, 3, (5,)), np.log1p,
           lambda a: a.log1p()),
    OpSpec("sin", lambda a: nc.sin(a), _normal((3, 5)), np.sin, lambda a: T.sin(a)),
    OpSpec("cos", lambda a: a.cos(), _normal((3, 5)), np.cos, lambda a: a.cos()),
    OpSpec("tan", lambda a: nc.tan(a), _uniform(-1.2, 1.2, (7,)), np.tan, lambda a: T.tan(a)),
    OpSpec("asin", lambda a: nc.asin(a), _uniform(-0.9, 0.9, (4,)), np.arcsin,
           lambda a: T.asin(a)),
    OpSpec("acos", lambda a: a.arccos(), _uniform(-0.9, 0.9, (4,)), np.arccos,
           lambda a: a.arccos()),
    OpSpec("atan", lambda a: nc.arctan(a), _normal((4,)), np.arctan, lambda a: T.atan(a)),
    OpSpec("atan2", lambda a, b: nc.atan2(a, b), _nonzero((3, 4), (4,)), np.arctan2,
           lambda a, b: T.atan2(a, b)),
    OpSpec("sinh", lambda a: a.sinh(), _normal((3,)), np.sinh, lambda a: a.sinh()),
    OpSpec("cosh", lambda a: nc.cosh(a), _normal((3,)), np.cosh, lambda a: T.cosh(a)),
    OpSpec("asinh", lambda a: nc.asinh(a), _normal((3,)), np.arcsinh, lambda a: T.asinh(a)),
    OpSpec("acosh", lambda a: a.acosh(), _uniform(1.2, 3, (3,)), np.arccosh,
           lambda a: a.acosh()),
    OpSpec("atanh", lambda a: nc.atanh(a), _uniform(-0.9, 0.9, (3,)), np.arctanh,
           lambda a: T.atanh(a)),
    OpSpec("tanh", lambda a: nc.tanh(a), _normal((2, 9)), np.tanh, lambda a: T.tanh(a)),
    OpSpec("sigmoid", lambda a: nc.sigmoid(a), _normal((2, 9)), lambda a: 1 / (1 + np.exp(-a)),
           lambda a: T.sigmoid(a)),
    OpSpec("relu", lambda a: nc.relu(a), _nonzero((5, 3)), lambda a: np.maximum(a, 0),
           lambda a: T.relu(a)),
    OpSpec("erf", lambda a: nc.erf(a), _normal((3, 4)), _erf_ref, lambda a: T.erf(a)),
    OpSpec("erfinv", lambda a: a.erfinv(), _uniform(-0.95, 0.95, (17,)),
           special.erfinv if special else None, lambda a: a.erfinv(), torch_rtol=1e-4),
    OpSpec("logit", lambda a: nc.logit(a), _uniform(0.05, 0.95, (6,)),
           lambda a: np.log(a / (1 - a)), lambda a: T.logit(a)),
    OpSpec("logit_eps", lambda a: a.logit(eps=0.2),
           lambda r: [np.concatenate([r.uniform(0.01, 0.15, 3), r.uniform(0.25, 0.75, 3),
                                      r.uniform(0.85, 0.99, 3)])],
           lambda a: np.log(np.clip(a, 0.2, 0.8) / (1 - np.clip(a, 0.2, 0.8))),
           lambda a: a.logit(eps=0.2)),
    OpSpec("nan_to_num", lambda a: nc.nan_to_num(a), _normal((4,)), np.nan_to_num,
           lambda a: T.nan_to_num(a)),
    OpSpec("clamp", lambda a: nc.clamp(a, -0.5, 0.7), _away_from((-0.5, 0.7), (5, 4)),
           lambda a: np.clip(a, -0.5, 0.7), lambda a: T.clamp(a, -0.5, 0.7)),
    OpSpec("clamp_min", lambda a: a.clamp_min(0.1), _away_from((0.1,), (6,)),
           lambda a: np.maximum(a, 0.1), lambda a: a.clamp_min(0.1)),
    OpSpec("clamp_max", lambda a: nc.clamp_max(a, 0.1), _away_from((0.1,), (6,)),
           lambda a: np.minimum(a, 0.1), lambda a: T.clamp_max(a, 0.1)),
    OpSpec("clamp_tensor", lambda a, lo, hi: nc.clamp(a, lo, hi),
           lambda r: [r.standard_normal((3, 4)), r.uniform(-1.5, -0.2, (4,)),
                      r.uniform(0.2, 1.5, (3, 1))],
           lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi),
           lambda a, lo, hi: T.clamp(a, lo, hi)),
    OpSpec("clip_tensor_min", lambda a, lo: nc.clip(a, min=lo), _normal((2, 5), (5,)),
           lambda a, lo: np.maximum(a, lo), lambda a, lo: T.clip(a, min=lo)),
    OpSpec("lerp_scalar", lambda a, b: nc.lerp(a, b, 0.3), _normal((3, 2), (2,)),
           lambda a, b: a + 0.3 * (b - a), lambda a, b: T.lerp(a, b, 0.3)),
    OpSpec("lerp_tensor", lambda a, b, w: a.lerp(b, w), _normal((4,), (4,), (3, 1)),
           lambda a, b, w: a + w * (b - a), lambda a, b, w: a.lerp(b, w)),
    OpSpec("addcmul", lambda a, b, c: nc.addcmul(a, b, c, value=0.5), _normal((3, 4), (4,), (3, 1)),
           lambda a, b, c: a + 0.5 * b * c, lambda a, b, c: T.addcmul(a, b, c, value=0.5)),
    OpSpec("addcdiv", lambda a, b, c: a.addcdiv(b, c, value=-2), lambda r: [
        r.standard_normal((2, 3)), r.standard_normal((3,)), r.uniform(0.5, 2, (2, 1))],
        lambda a, b, c: a - 2 * b / c, lambda a, b, c: a.addcdiv(b, c, value=-2)),
    OpSpec("maximum", lambda a, b: nc.maximum(a, b), _normal((3, 4), (4,)), np.maximum,
           lambda a, b: T.maximum(a, b)),
    OpSpec("minimum", lambda a, b: b.minimum(a), _normal((1, 5), (2, 1)),
           lambda a, b: np.minimum(b, a), lambda a, b: b.minimum(a)),
    OpSpec("max_binary", lambda a, b: nc.max(a, b), _normal((3,), (3,)), np.maximum,
           lambda a, b: T.max(a, b)),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_maximum_ties_split_the_gradient_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = nc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = nc.tensor([1.0, 3.0, 3.0], requires_grad=True)
    nc.maximum(a, b).sum().backward()
    ta = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tb = tt.tensor([1.0, 3.0, 3.0], requires_grad=True)
    tt.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


def test_clamp_tensor_bounds_at_ties_and_crossed_bounds_like_torch() -> None:
    tt = pytest.importorskip("torch")
    vals = ([0.0, 1.0, 2.0, 3.0, 4.0, 0.5], [1.0, 1.0, 1.0, 3.5, 5.0, 1.0],
            [3.0, 3.0, 1.0, 3.0, 4.0, 1.0])
    ours = [nc.tensor(v, requires_grad=True) for v in vals]
    theirs = [tt.tensor(v, requires_grad=True) for v in vals]
    y, ty = nc.clamp(*ours), tt.clamp(*theirs)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())


def test_pow_gradient_at_zero_base_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = nc.tensor([0.0, 0.0, 2.0], requires_grad=True)
    b = nc.tensor([0.0, 2.0, 0.0], requires_grad=True)
    (a ** b).sum().backward()
    ta = tt.tensor([0.0, 0.0, 2.0], requires_grad=True)
    tb = tt.tensor([0.0, 2.0, 0.0], requires_grad=True)
    (ta ** tb).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


def test_domain_edges_give_inf_and_nan_silently_like_torch() -> None:
    tt = pytest.importorskip("torch")
    x = [0.0, -1.0, 1.0, 2.0]
    for name in ("log", "sqrt", "rsqrt", "reciprocal", "log2", "log10", "log1p", "asin",
                 "acos", "atanh", "erfinv", "logit"):
        ours = getattr(nc, name)(nc.tensor(x)).numpy()
        theirs = getattr(tt, name)(tt.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=name)
    assert np.isinf(nc.erfinv(nc.tensor([1.0, -1.0])).numpy()).all()


# ---- dtype promotion ----------------------------------------------------------------------------

_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
_BINARY = ["add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow",
           "maximum", "minimum", "atan2", "eq", "lt", "logical_and"]


def _operand(kind, dtype, lib):
    if kind == "scalar":
        return {"bool": True, "int64": 3, "float32": 2.5}[dtype]
    shape = (3,) if kind == "tensor" else ()
    values = np.full(shape, 3, dtype=np.dtype(dtype))
    return nc.tensor(values) if lib == "nc" else torch.from_numpy(values.copy())


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 (the exception type is what is compared)
        return e


@pytest.mark.parametrize("op", _BINARY)
def test_binary_result_dtypes_match_torch(op) -> None:
    tt = pytest.importorskip("torch")
    cases = [("tensor", a, "tensor", b) for a in _DTYPES for b in _DTYPES]
    cases += [("tensor", a, "zero", b) for a in _DTYPES for b in _DTYPES]
    cases += [("tensor", a, "scalar", b) for a in _DTYPES for b in ("bool", "int64", "float32")]
    cases += [("zero", a, "scalar", b) for a in _DTYPES for b in ("bool", "int64", "float32")]
    for ka, da, kb, db in cases:
        ours = _outcome(getattr(nc, op), _operand(ka, da, "nc"), _operand(kb, db, "nc"))
        theirs = _outcome(getattr(tt, op), _operand(ka, da, "t"), _operand(kb, db, "t"))
        where = f"{op}({ka} {da}, {kb} {db})"
        if isinstance(theirs, Exception):
            if isinstance(theirs, TypeError):
                continue  # PyTorch rejects the argument kind (maximum with a number)
            assert isinstance(ours, type(theirs)), f"{where}: torch raised {theirs!r}, got {ours!r}"
            continue
        assert not isinstance(ours, Exception), f"{where}: raised {ours!r}"
        assert ours.dtype == str(theirs.dtype).removeprefix("torch."), (
            f"{where}: {ours.dtype} vs torch {theirs.dtype}")
        np.testing.assert_allclose(ours.numpy().astype(np.float64),
                                   theirs.numpy().astype(np.float64), rtol=1e-3, err_msg=where)


def test_operators_promote_like_torch() -> None:
    tt = pytest.importorskip("torch")
    pairs = [(np.arange(3), 2.5), (np.arange(3, dtype=np.int32), np.int64(7)),
             (np.ones(3, np.float32), np.float64(2)), (np.array([True, False]), 1)]
    for a, b in pairs:
        for expr in (lambda x, y: x + y, lambda x, y: y - x, lambda x, y: x * y,
                     lambda x, y: x / y, lambda x, y: y / x, lambda x, y: x // y,
                     lambda x, y: x % y, lambda x, y: x ** 2):
            ours = _outcome(expr, nc.tensor(a), b)
            theirs = _outcome(expr, tt.from_numpy(a.copy()), b)
            if isinstance(theirs, Exception):
                assert isinstance(ours, type(theirs))
                continue
            assert ours.dtype == str(theirs.dtype).removeprefix("torch.")
    zero_d = nc.tensor(2.0, dtype=nc.float64)
    assert (nc.ones(3) * zero_d).dtype == nc.float32
    assert (nc.ones(3, dtype=nc.int64) * zero_d).dtype == nc.float64


def test_result_type_and_promote_types_match_torch() -> None:
    tt = pytest.importorskip("torch")
    for a in _DTYPES:
        for b in _DTYPES:
            assert nc.promote_types(getattr(nc, a), getattr(nc, b)) == getattr(nc, str(
                tt.promote_types(getattr(tt, a), getattr(tt, b))).removeprefix("torch."))
            assert nc.can_cast(getattr(nc, a), getattr(nc, b)) == tt.can_cast(
                getattr(tt, a), getattr(tt, b))
    assert nc.result_type(nc.tensor([1]), 1.0) == nc.float32
    assert nc.result_type(2, 3.0) == nc.float32
    assert nc.result_type(nc.tensor(1.0, dtype=nc.float64), nc.tensor([1], dtype=nc.int32)) \
        == nc.float64


_UNARY_FLOAT = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin",
                "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "erf",
                "erfinv", "reciprocal", "logit", "asinh", "atanh"]
_UNARY_KEEP = ["neg", "abs", "square", "sign", "floor", "ceil", "trunc", "round", "relu", "frac",
               "nan_to_num", "logical_not", "isnan", "isinf", "isfinite"]


@pytest.mark.parametrize("op", _UNARY_FLOAT + _UNARY_KEEP)
def test_unary_on_every_dtype_like_torch(op) -> None:
    tt = pytest.importorskip("torch")
    for d in _DTYPES:
        values = np.array([0, 1, 2], dtype=np.dtype(d))
        ours = _outcome(getattr(nc, op), nc.tensor(values))
        theirs = _outcome(getattr(tt, op), tt.from_numpy(values.copy()))
        if isinstance(theirs, Exception):
            assert isinstance(ours, type(theirs)), f"{op}({d}): torch raised {theirs!r}"
            continue
        assert not isinstance(ours, Exception), f"{op}({d}): raised {ours!r}"
        assert ours.dtype == str(theirs.dtype).removeprefix("torch."), f"{op}({d})"
        np.testing.assert_allclose(ours.numpy().astype(np.float64),
                                   theirs.numpy().astype(np.float64), rtol=2e-3, err_msg=op)


# ---- semantics and errors ------------------------------------------------------------------------


def test_integer_division_rounding_and_modulo_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = np.array([7, -7, 6, -6, 5, 0, -1])
    b = np.array([2, 2, -4, -4, 5, 3, 3])
    for mode in ("trunc", "floor"):
        np.testing.assert_array_equal(
            nc.div(nc.tensor(a), nc.tensor(b), rounding_mode=mode).numpy(),
            tt.div(tt.tensor(a), tt.tensor(b), rounding_mode=mode).numpy())
    np.testing.assert_array_equal((nc.tensor(a) // nc.tensor(b)).numpy(),
                                  (tt.tensor(a) // tt.tensor(b)).numpy())
    np.testing.assert_array_equal((nc.tensor(a) % 3).numpy(), (tt.tensor(a) % 3).numpy())
    np.testing.assert_array_equal(nc.fmod(nc.tensor(a), 3).numpy(),
                                  tt.fmod(tt.tensor(a), 3).numpy())
    np.testing.assert_array_equal((nc.tensor(a) / 2).numpy(), (tt.tensor(a) / 2).numpy())


def test_errors_match_torch_types_and_name_the_op() -> None:
    with pytest.raises(RuntimeError, match="Negation"):
        -nc.tensor([True])
    with pytest.raises(RuntimeError, match="Subtraction"):
        nc.tensor([True]) - nc.tensor([False])
    with pytest.raises(RuntimeError, match="negative integer powers"):
        nc.tensor([2]) ** -1
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        nc.tensor([3]) // 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        nc.remainder(nc.tensor([3]), nc.tensor([0]))
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        nc.add(nc.tensor([1]), nc.tensor([1]), alpha=0.5)
    with pytest.raises(ValueError, match="rounding_mode"):
        nc.div(nc.ones(2), 2, rounding_mode="round")
    with pytest.raises(RuntimeError, match="lerp: expected dtype float32 for `end`"):
        nc.lerp(nc.ones(2), nc.ones(2, dtype=nc.float64), 0.5)
    with pytest.raises(RuntimeError, match="addcdiv: Integer division"):
        nc.addcdiv(nc.tensor([1]), nc.tensor([1]), nc.tensor([1]))
    with pytest.raises(RuntimeError, match="clamp: At least one of 'min' or 'max'"):
        nc.clamp(nc.ones(2))
    with pytest.raises(NotImplementedError, match="abs_cpu"):
        nc.abs(nc.tensor([True]))
    with pytest.raises(NotImplementedError, match=r"add\(out=...\)"):
        nc.add(nc.ones(2), 1, out=nc.ones(2))
    with pytest.raises(TypeError, match=r"exp\(\): argument 'input' must be Tensor"):
        nc.exp(2.0)
    with pytest.raises(TypeError, match=r"maximum\(\): argument 'other' must be Tensor"):
        nc.maximum(nc.ones(2), 1)
    with pytest.raises(RuntimeError, match="isclose: float32 did not match int64"):
        nc.isclose(nc.ones(2), nc.tensor([1, 1]))
    x = nc.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="floor_divide is not implemented"):
        (x // 2).sum().backward()


def test_comparisons_and_logic_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = np.array([1.0, np.nan, 3.0, -np.inf, 2.0], np.float32)
    b = np.array([1.0, 2.0, 2.5, 0.0, np.inf], np.float32)
    for op in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "less_equal", "not_equal",
               "logical_and", "logical_or", "logical_xor"):
        ours = getattr(nc, op)(nc.tensor(a), nc.tensor(b))
        theirs = getattr(tt, op)(tt.tensor(a), tt.tensor(b))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=op)
        assert ours.dtype == nc.bool
        if not op.startswith("logical"):
            np.testing.assert_array_equal(getattr(nc.tensor(a), op)(2).numpy(),
                                          getattr(tt.tensor(a), op)(2).numpy(), err_msg=op)
    for op in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "logical_not"):
        np.testing.assert_array_equal(getattr(nc, op)(nc.tensor(a)).numpy(),
                                      getattr(tt, op)(tt.tensor(a)).numpy(), err_msg=op)
    c = b + np.float32(1e-6)
    np.testing.assert_array_equal(nc.isclose(nc.tensor(a), nc.tensor(c)).numpy(),
                                  tt.isclose(tt.tensor(a), tt.tensor(c)).numpy())
    assert nc.allclose(nc.tensor(b), nc.tensor(c)) == tt.allclose(tt.tensor(b), tt.tensor(c))
    assert nc.allclose(nc.tensor(a), nc.tensor(a), equal_nan=True)
    assert nc.equal(nc.tensor([1.0, 2.0]), nc.tensor([1, 2]))
    assert not nc.equal(nc.tensor([1.0, 2.0]), nc.tensor([1.0]))
    assert nc.tensor([1.0]).equal(nc.tensor([1.0]))


def test_nan_to_num_defaults_and_integers_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)
    np.testing.assert_array_equal(nc.nan_to_num(nc.tensor(a)).numpy(),
                                  tt.nan_to_num(tt.tensor(a)).numpy())
    np.testing.assert_array_equal(nc.tensor(a).nan_to_num(1.0, 2.0, -2.0).numpy(),
                                  tt.tensor(a).nan_to_num(1.0, 2.0, -2.0).numpy())
    x = nc.tensor(a, requires_grad=True)
    nc.nan_to_num(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 1])


def test_round_half_to_even_and_decimals_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = np.array([2.5, 3.5, -0.5, 0.125, 1.005, -2.675], np.float64)
    for decimals in (0, 1, 2, -1):
        np.testing.assert_array_equal(nc.round(nc.tensor(a), decimals=decimals).numpy(),
                                      tt.round(tt.tensor(a), decimals=decimals).numpy())


def test_erfinv_inverts_erf_to_float64_precision() -> None:
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 201), [1 - 1e-12, -(1 - 1e-12), 0.0]])
    x = nc.erfinv(nc.tensor(y)).numpy()
    np.testing.assert_allclose(_erf_ref(x), y, rtol=1e-14, atol=1e-15)


def test_every_name_is_pytorchs() -> None:
    tt = pytest.importorskip("torch")
    for module in (pointwise, transcendental, comparison):
        for name in module.__all__:
            assert hasattr(tt, name), f"torch.{name} does not exist"
        for name in module.METHODS:
            assert hasattr(tt.Tensor, name), f"torch.Tensor.{name} does not exist"
            assert hasattr(nc.Tensor, name)
