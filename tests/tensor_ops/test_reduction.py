"""Reductions and scans: the harness triangle, dims/keepdim, result dtypes, named tuples and
errors against PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, torch
from nncore.tensor_ops import reduction

T = torch


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _distinct(shape):
    """Tie-free values (max, median, norm-inf are not differentiable at ties)."""
    def make(rng):
        n = int(np.prod(shape))
        return [(rng.permutation(n) * 0.1 - n * 0.05 + rng.uniform(0, 0.01)).reshape(shape)]
    return make


def _with_zeros(shape, zeros):
    def make(rng):
        a = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
        a.reshape(-1)[rng.choice(a.size, zeros, replace=False)] = 0.0
        return [a]
    return make


def _var_ref(a, dim=None, correction=1, keepdim=False):
    axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
    n = a.size if axis is None else np.prod([a.shape[i] for i in np.atleast_1d(axis)])
    d = a - a.mean(axis=axis, keepdims=True)
    return (d * d).sum(axis=axis, keepdims=keepdim) / (n - correction)


def _norm_ref(a, p, dim=None, keepdim=False):
    axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
    m = np.abs(a)
    if p == np.inf:
        return m.max(axis=axis, keepdims=keepdim)
    return (m ** p).sum(axis=axis, keepdims=keepdim) ** (1 / p)


def _lse_ref(a, dim, keepdim=False):
    m = a.max(axis=dim, keepdims=True)
    y = np.log(np.exp(a - m).sum(axis=dim, keepdims=True)) + m
    return y if keepdim else np.squeeze(y, axis=dim)


SPECS = [
    OpSpec("sum_all", lambda a: nc.sum(a), _normal((3, 4)), np.sum, lambda a: T.sum(a)),
    OpSpec("sum_neg_dim", lambda a: a.sum(-1), _normal((2, 3, 5)), lambda a: a.sum(-1),
           lambda a: a.sum(-1)),
    OpSpec("sum_list_keepdim", lambda a: nc.sum(a, [0, 2], keepdim=True), _normal((2, 3, 5)),
           lambda a: a.sum((0, 2), keepdims=True), lambda a: T.sum(a, [0, 2], keepdim=True)),
    OpSpec("mean_dims", lambda a: a.mean((1, 2)), _normal((2, 3, 5)),
           lambda a: a.mean((1, 2)), lambda a: a.mean((1, 2))),
    OpSpec("prod_all", lambda a: nc.prod(a), lambda r: [r.uniform(0.5, 1.5, (3, 4))], np.prod,
           lambda a: T.prod(a)),
    OpSpec("prod_dim", lambda a: a.prod(1, keepdim=True), lambda r: [r.uniform(-2, 2, (3, 5))],
           lambda a: a.prod(1, keepdims=True), lambda a: a.prod(1, keepdim=True)),
    OpSpec("prod_one_zero", lambda a: nc.prod(a, 0), _with_zeros((4, 3), 2),
           lambda a: a.prod(0), lambda a: T.prod(a, 0)),
    OpSpec("prod_two_zeros_all", lambda a: a.prod(), _with_zeros((5,), 2), np.prod,
           lambda a: a.prod()),
    OpSpec("std_all", lambda a: nc.std(a), _normal((4, 5)), lambda a: np.sqrt(_var_ref(a)),
           lambda a: T.std(a)),
    OpSpec("std_dim_unbiased_false", lambda a: a.std(1, False, True), _normal((3, 7)),
           lambda a: np.sqrt(_var_ref(a, 1, 0, True)), lambda a: a.std(1, False, True)),
    OpSpec("var_correction", lambda a: nc.var(a, (0, 2), correction=2), _normal((3, 4, 2)),
           lambda a: _var_ref(a, (0, 2), 2), lambda a: T.var(a, (0, 2), correction=2)),
    OpSpec("var_unbiased_kw", lambda a: a.var(dim=0, unbiased=False), _normal((17, 2)),
           lambda a: _var_ref(a, 0, 0), lambda a: a.var(dim=0, unbiased=False)),
    OpSpec("std_mean_std", lambda a: nc.std_mean(a, 1)[0], _normal((3, 4)),
           lambda a: np.sqrt(_var_ref(a, 1)), lambda a: T.std_mean(a, 1)[0]),
    OpSpec("var_mean_mean", lambda a: nc.var_mean(a, 0, keepdim=True)[1], _normal((3, 4)),
           lambda a: a.mean(0, keepdims=True), lambda a: T.var_mean(a, 0, keepdim=True)[1]),
    OpSpec("norm_fro", lambda a: nc.norm(a), _normal((3, 4)), lambda a: _norm_ref(a, 2),
           lambda a: T.norm(a)),
    OpSpec("norm_p1_dim", lambda a: a.norm(p=1, dim=1), _normal((3, 4)),
           lambda a: _norm_ref(a, 1, 1), lambda a: a.norm(p=1, dim=1)),
    OpSpec("norm_p3", lambda a: nc.norm(a, 3, (0, 1), keepdim=True), _normal((2, 3, 2)),
           lambda a: _norm_ref(a, 3, (0, 1), True), lambda a: T.norm(a, 3, (0, 1), keepdim=True)),
    OpSpec("norm_inf", lambda a: a.norm(float("inf"), 0), _distinct((4, 3)),
           lambda a: _norm_ref(a, np.inf, 0), lambda a: a.norm(float("inf"), 0)),
    OpSpec("logsumexp", lambda a: nc.logsumexp(a, 1), _normal((3, 17)),
           lambda a: _lse_ref(a, 1), lambda a: T.logsumexp(a, 1)),
    OpSpec("logsumexp_keep", lambda a: a.logsumexp((0, 1), keepdim=True), _normal((2, 3)),
           lambda a: _lse_ref(a, (0, 1), True), lambda a: a.logsumexp((0, 1), keepdim=True)),
    OpSpec("cumsum", lambda a: nc.cumsum(a, 1), _normal((3, 5)), lambda a: a.cumsum(1),
           lambda a: T.cumsum(a, 1)),
    OpSpec("cumsum_neg", lambda a: a.cumsum(dim=-3), _normal((2, 3, 1)),
           lambda a: a.cumsum(-3), lambda a: a.cumsum(dim=-3)),
    OpSpec("cumprod", lambda a: nc.cumprod(a, 0), lambda r: [r.uniform(-1.5, 1.5, (5, 3))],
           lambda a: a.cumprod(0), lambda a: T.cumprod(a, 0)),
    OpSpec("cumprod_zeros", lambda a: a.cumprod(1), _with_zeros((3, 6), 4),
           lambda a: a.cumprod(1), lambda a: a.cumprod(1)),
    OpSpec("nansum", lambda a: nc.nansum(a, 1), _normal((3, 4)), lambda a: np.nansum(a, 1),
           lambda a: T.nansum(a, 1)),
    OpSpec("nanmean", lambda a: a.nanmean(), _normal((3, 4)), np.nanmean,
           lambda a: a.nanmean()),
    OpSpec("amax_dims", lambda a: nc.amax(a, (0, 2)), _distinct((2, 3, 4)),
           lambda a: a.max((0, 2)), lambda a: T.amax(a, (0, 2))),
    OpSpec("amin", lambda a: a.amin(), _distinct((5,)), np.min, lambda a: a.amin()),
    OpSpec("max_dim_keep", lambda a: nc.max(a, 1, keepdim=True).values, _distinct((3, 4)),
           lambda a: a.max(1, keepdims=True), lambda a: T.max(a, 1, keepdim=True).values),
    OpSpec("min_dim", lambda a: a.min(dim=0)[0], _distinct((3, 4)), lambda a: a.min(0),
           lambda a: a.min(dim=0)[0]),
    OpSpec("aminmax_min", lambda a: nc.aminmax(a, dim=1).min, _distinct((3, 4)),
           lambda a: a.min(1), lambda a: T.aminmax(a, dim=1).min),
    OpSpec("aminmax_max", lambda a: a.aminmax().max, _distinct((3, 4)), np.max,
           lambda a: a.aminmax().max),
    OpSpec("median_all", lambda a: nc.median(a), _distinct((3, 4)),
           lambda a: np.sort(a.reshape(-1))[(a.size - 1) // 2], lambda a: T.median(a)),
    OpSpec("median_dim", lambda a: a.median(1).values, _distinct((3, 5)),
           lambda a: np.sort(a, 1)[:, 2], lambda a: a.median(1).values),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_ties_share_the_gradient_like_torch() -> None:
    tt = pytest.importorskip("torch")
    v = [1.0, 3.0, 2.0, 3.0]
    for fn in (lambda x: x.max(), lambda x: x.amax(), lambda x: sum(x.aminmax()),
               lambda x: x.norm(float("inf")), lambda x: x.max(0)[0], lambda x: x.median()):
        a, t = nc.tensor(v, requires_grad=True), tt.tensor(v, requires_grad=True)
        fn(a).backward()
        fn(t).backward()
        np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())


def test_zero_norm_has_zero_gradient_like_torch() -> None:
    a = nc.zeros(3, requires_grad=True)
    a.norm().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 0, 0])


_DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
_CALLS = {
    "sum": lambda m, x: m.sum(x), "sum_dim": lambda m, x: m.sum(x, 0),
    "prod": lambda m, x: m.prod(x), "mean": lambda m, x: m.mean(x),
    "nansum": lambda m, x: m.nansum(x), "nanmean": lambda m, x: m.nanmean(x),
    "std": lambda m, x: m.std(x), "var": lambda m, x: m.var(x),
    "norm": lambda m, x: m.norm(x), "logsumexp": lambda m, x: m.logsumexp(x, 0),
    "cumsum": lambda m, x: m.cumsum(x, 0), "cumprod": lambda m, x: m.cumprod(x, 0),
    "any": lambda m, x: m.any(x), "all": lambda m, x: m.all(x, 0),
    "count_nonzero": lambda m, x: m.count_nonzero(x), "max": lambda m, x: m.max(x),
    "amin": lambda m, x: m.amin(x, 0), "argmax": lambda m, x: m.argmax(x),
    "median": lambda m, x: m.median(x), "sum_dtype": lambda m, x: m.sum(x, dtype=m.float64),
    "mean_dtype": lambda m, x: m.mean(x, dtype=m.float32),
}


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_result_dtypes_and_errors_like_torch(name) -> None:
    tt = pytest.importorskip("torch")
    call = _CALLS[name]
    for d in _DTYPES:
        values = np.array([[1, 0, 2], [3, 1, 1]], dtype=np.dtype(d))
        try:
            theirs = call(tt, tt.from_numpy(values.copy()))
        except Exception as e:  # noqa: BLE001 (nncore must raise the same type)
            with pytest.raises(type(e)):
                call(nc, nc.tensor(values))
            continue
        ours = call(nc, nc.tensor(values))
        assert ours.dtype == str(theirs.dtype).removeprefix("torch."), f"{name}({d})"
        np.testing.assert_allclose(ours.numpy().astype(np.float64),
                                   theirs.numpy().astype(np.float64), rtol=2e-3,
                                   err_msg=f"{name}({d})")


def _quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # std over one element warns in both libraries
        return fn(*args, **kwargs)


@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3), (4, 1, 3)])
def test_dims_and_keepdim_shapes_like_torch(shape) -> None:
    tt = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    dims = [None, 0, -1, (), (0,)] + ([(0, -1), [1, 0]] if len(shape) > 1 else [])
    for dim in dims:
        for keepdim in (False, True):
            for name in ("sum", "mean", "amax", "std", "logsumexp", "norm", "any", "all"):
                if name == "logsumexp" and dim == ():
                    continue  # PyTorch 2.13 fails on its own output shape there
                args = (dim,) if name != "norm" else (2, dim)
                where = f"{name}(shape {shape}, dim={dim}, keepdim={keepdim})"
                try:
                    theirs = _quietly(getattr(tt, name), tt.tensor(a), *args, keepdim=keepdim)
                except Exception as e:  # noqa: BLE001
                    with pytest.raises(type(e)):
                        getattr(nc, name)(nc.tensor(a), *args, keepdim=keepdim)
                    continue
                ours = _quietly(getattr(nc, name), nc.tensor(a), *args, keepdim=keepdim)
                assert ours.shape == tuple(theirs.shape), where
                np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5,
                                           atol=1e-6, err_msg=where)
        if dim is not None and not isinstance(dim, (tuple, list)):
            for name in ("max", "min", "median", "mode"):
                ours, theirs = getattr(nc, name)(nc.tensor(a), dim), getattr(tt, name)(
                    tt.tensor(a), dim)
                assert ours.values.shape == tuple(theirs.values.shape), name
                np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            for name in ("argmax", "argmin", "cumsum", "cumprod"):
                ours, theirs = getattr(nc, name)(nc.tensor(a), dim), getattr(tt, name)(
                    tt.tensor(a), dim)
                assert ours.shape == tuple(theirs.shape), name


def test_named_tuples_and_elementwise_max() -> None:
    a = nc.tensor([[1.0, 4.0, 4.0], [3.0, 2.0, 0.0]])
    values, indices = a.max(1)
    assert a.max(1).values is not None and type(a.max(1)).__name__ == "max"
    np.testing.assert_array_equal(values.numpy(), [4.0, 3.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])  # first of the tied maxima
    assert indices.dtype == nc.int64
    np.testing.assert_array_equal(nc.max(a, nc.tensor([2.0, 2.0, 2.0])).numpy(),
                                  [[2, 4, 4], [3, 2, 2]])
    np.testing.assert_array_equal(a.min(nc.tensor(1.5)).numpy(), [[1, 1.5, 1.5], [1.5, 1.5, 0]])
    lo, hi = nc.aminmax(a)
    assert (lo.item(), hi.item()) == (0.0, 4.0)
    assert nc.aminmax(a, dim=0).max.tolist() == [3.0, 4.0, 4.0]


def test_mode_and_median_like_torch() -> None:
    tt = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, (6, 9)).astype(np.float32)
    for dim in (0, 1, -1):
        ours, theirs = nc.mode(nc.tensor(a), dim), tt.mode(tt.tensor(a), dim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    b = np.array([[1.0, np.nan, 2.0], [4.0, 3.0, 5.0]], np.float32)
    ours, theirs = nc.median(nc.tensor(b), 1), tt.median(tt.tensor(b), 1)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    assert np.isnan(nc.median(nc.tensor(b)).item())
    x = nc.tensor(a, requires_grad=True)
    t = tt.tensor(a, requires_grad=True)
    nc.mode(x, 1).values.sum().backward()
    tt.mode(t, 1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_nan_reductions_like_torch() -> None:
    tt = pytest.importorskip("torch")
    a = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 3.0]], np.float32)
    for name in ("nansum", "nanmean"):
        for dim in (None, 0, 1):
            x, t = nc.tensor(a, requires_grad=True), tt.tensor(a, requires_grad=True)
            y, ty = getattr(nc, name)(x, dim), getattr(tt, name)(t, dim)
            np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy())
            y.sum().backward()
            ty.sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    assert np.isnan(nc.tensor(a).max().item()) and np.isnan(nc.tensor(a).sum().item())
    np.testing.assert_array_equal(nc.tensor(a).max(1).indices.numpy(),
                                  tt.tensor(a).max(1).indices.numpy())


def test_errors_like_torch() -> None:
    x = nc.ones(2, 3)
    with pytest.raises(IndexError, match=r"sum: Dimension out of range \(expected to be in "
                                         r"range of \[-2, 1\], but got 2\)"):
        x.sum(2)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times"):
        nc.sum(x, (0, -2))
    with pytest.raises(RuntimeError, match="mean.*could not infer output dtype"):
        nc.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        nc.tensor([1, 2]).std()
    with pytest.raises(RuntimeError, match="linalg.vector_norm: Expected a floating point"):
        nc.norm(nc.tensor([1, 2]))
    with pytest.raises(TypeError, match="logsumexp"):
        nc.logsumexp(x)
    with pytest.raises(RuntimeError, match="numel\\(\\) == 0"):
        nc.zeros(0).max()
    with pytest.raises(IndexError, match="non-zero size"):
        nc.zeros(2, 0).max(1)
    with pytest.raises(RuntimeError, match="cannot specify both unbiased and correction"):
        x.var(0, True, correction=1)
    with pytest.raises(NotImplementedError, match=r"sum\(out=...\)"):
        nc.sum(x, out=x)
    with pytest.warns(UserWarning, match=r"std\(\): degrees of freedom is <= 0"):
        assert np.isnan(nc.ones(1).std().item())


def test_every_name_is_pytorchs() -> None:
    tt = pytest.importorskip("torch")
    for name in reduction.__all__:
        assert hasattr(tt, name), f"torch.{name}"
    for name in reduction.METHODS:
        assert hasattr(tt.Tensor, name) and hasattr(nc.Tensor, name), f"Tensor.{name}"
