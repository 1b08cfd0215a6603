"""Ordering: sort, argsort, msort, kthvalue and the native topk against NumPy, finite
differences and PyTorch, with ties, NaNs, dtypes, thread counts and errors."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, fresh_rng, torch


def _tie_free(*shapes):
    # NOTE: distinct values keep the selected indices (and so the finite differences) unique.
    def make(rng):
        out = []
        for s in shapes:
            n = int(np.prod(s))
            out.append((rng.permutation(n) + rng.uniform(0, 0.5, n)).reshape(s) * 0.1)
        return out
    return make


def _np_topk(a, k, dim=-1, largest=True):
    order = np.argsort(-a if largest else a, axis=dim, kind="stable")
    return np.take_along_axis(a, np.take(order, np.arange(k), axis=dim), axis=dim)


SPECS = [
    OpSpec("topk", lambda a: nc.topk(a, 3).values, _tie_free((4, 17)),
           lambda a: _np_topk(a, 3), lambda a: torch.topk(a, 3).values, id="topk-rows"),
    OpSpec("topk", lambda a: nc.topk(a, 2, dim=0, largest=False).values, _tie_free((5, 3)),
           lambda a: _np_topk(a, 2, 0, False), lambda a: torch.topk(a, 2, 0, False).values,
           id="topk-dim0-smallest"),
    OpSpec("topk", lambda a: nc.topk(a, 1, dim=1).values, _tie_free((2, 7, 3)),
           lambda a: _np_topk(a, 1, 1), lambda a: torch.topk(a, 1, 1).values, id="topk-3d-k1"),
    OpSpec("topk", lambda a: nc.topk(a, 17, dim=-1).values, _tie_free((1, 17)),
           lambda a: _np_topk(a, 17), lambda a: torch.topk(a, 17).values, id="topk-k-equals-n"),
    OpSpec("topk", lambda a: nc.topk(a, 9).values, _tie_free((3, 200)),
           lambda a: _np_topk(a, 9), lambda a: torch.topk(a, 9).values, id="topk-scan-path"),
    OpSpec("topk", lambda a: nc.topk(a, 40).values, _tie_free((2, 200)),
           lambda a: _np_topk(a, 40), lambda a: torch.topk(a, 40).values, id="topk-heap-path"),
    OpSpec("sort", lambda a: nc.sort(a, dim=0).values, _tie_free((5, 3)),
           lambda a: np.sort(a, 0), lambda a: torch.sort(a, 0).values, id="sort-dim0"),
    OpSpec("sort", lambda a: nc.sort(a, descending=True)[0], _tie_free((3, 17)),
           lambda a: -np.sort(-a, -1), lambda a: torch.sort(a, descending=True)[0],
           id="sort-descending"),
    OpSpec("msort", nc.msort, _tie_free((4, 1)), lambda a: np.sort(a, 0),
           lambda a: torch.msort(a)),
    OpSpec("kthvalue", lambda a: nc.kthvalue(a, 2, dim=1).values, _tie_free((3, 5)),
           lambda a: np.sort(a, 1)[:, 1], lambda a: torch.kthvalue(a, 2, 1).values),
    OpSpec("kthvalue", lambda a: nc.kthvalue(a, 3, 0, keepdim=True)[0], _tie_free((3, 4)),
           lambda a: np.sort(a, 0)[2:3], lambda a: torch.kthvalue(a, 3, 0, True)[0],
           id="kthvalue-keepdim"),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


@pytest.fixture
def tch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("shape,dim", [((4, 17), -1), ((5, 3), 0), ((2, 7, 3), 1), ((1,), 0)])
def test_indices_match_torch_without_ties(tch, shape, dim) -> None:
    a = _tie_free(shape)(fresh_rng()[0])[0].astype(np.float32)
    for descending in (False, True):
        ours, theirs = nc.sort(nc.tensor(a), dim, descending), tch.sort(tch.tensor(a), dim,
                                                                        descending)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(nc.argsort(nc.tensor(a), dim, descending).numpy(),
                                      tch.argsort(tch.tensor(a), dim, descending).numpy())
    k = min(3, shape[dim])
    for largest in (True, False):
        ours = nc.topk(nc.tensor(a), k, dim, largest)
        theirs = tch.topk(tch.tensor(a), k, dim, largest)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


def _ties(rng, shape):
    return rng.integers(0, 4, shape).astype(np.float32)


def test_sort_ties_match_torch_stable(tch) -> None:
    rng, _ = fresh_rng()
    a = _ties(rng, (6, 50))
    for descending in (False, True):
        for stable in (False, True):
            ours = nc.sort(nc.tensor(a), -1, descending, stable=stable)
            theirs = tch.sort(tch.tensor(a), dim=-1, descending=descending, stable=True)
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


@pytest.mark.parametrize("k", [1, 5, 20, 50])
def test_topk_ties_follow_torch_stable_sort(tch, k) -> None:
    # PyTorch's topk leaves the order of equal values unspecified; ours is the lowest index
    # first, which is what its stable sort gives. Values always match torch.topk exactly.
    rng, _ = fresh_rng()
    a = _ties(rng, (7, 50))
    for largest in (True, False):
        ours = nc.topk(nc.tensor(a), k, largest=largest)
        stable = tch.sort(tch.tensor(a), descending=largest, stable=True)
        np.testing.assert_array_equal(ours.indices.numpy(), stable.indices[:, :k].numpy())
        np.testing.assert_array_equal(ours.values.numpy(),
                                      tch.topk(tch.tensor(a), k, largest=largest).values.numpy())
        np.testing.assert_array_equal(np.take_along_axis(a, ours.indices.numpy(), -1),
                                      ours.values.numpy())


def test_nan_order_matches_torch(tch) -> None:
    a = np.array([[1.0, np.nan, 3.0, np.nan, -np.inf, np.inf, 0.0]], np.float32)
    for descending in (False, True):
        ours = nc.sort(nc.tensor(a), descending=descending)
        theirs = tch.sort(tch.tensor(a), descending=descending, stable=True)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    for largest in (True, False):
        stable = tch.sort(tch.tensor(a), descending=largest, stable=True).indices
        for k in (1, 3, 7):
            ours = nc.topk(nc.tensor(a), k, largest=largest)
            theirs = tch.topk(tch.tensor(a), k, largest=largest)
            np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
            # NaNs tie with each other: torch.topk orders them as it likes, its stable sort
            # by index, as ours
            np.testing.assert_array_equal(ours.indices.numpy(), stable[:, :k].numpy())
    ours = nc.kthvalue(nc.tensor([3.0, float("nan"), 2.0, 1.0]), 4)
    assert np.isnan(ours.values.item()) and ours.indices.item() == 1


def test_kthvalue_tie_index_matches_torch(tch) -> None:
    a = [3.0, 1.0, 2.0, 1.0]
    ours, theirs = nc.kthvalue(nc.tensor(a), 2), tch.kthvalue(tch.tensor(a), 2)
    assert ours.values.item() == theirs.values.item()
    assert ours.indices.item() == theirs.indices.item() == 3


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, np.uint8])
def test_other_dtypes_match_torch(tch, dtype) -> None:
    rng, _ = fresh_rng()
    a = rng.permutation(60).reshape(3, 20).astype(dtype)
    for largest in (True, False):
        ours, theirs = nc.topk(nc.tensor(a), 4, largest=largest), tch.topk(
            tch.tensor(a), 4, largest=largest)
        assert ours.values.dtype == a.dtype and ours.indices.dtype == np.int64
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    ours, theirs = nc.sort(nc.tensor(a), descending=True), tch.sort(tch.tensor(a),
                                                                      descending=True)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    b = np.array([True, False, True])
    np.testing.assert_array_equal(nc.sort(nc.tensor(b)).indices.numpy(),
                                  tch.sort(tch.tensor(b), stable=True).indices.numpy())


def test_float16_topk_has_gradient() -> None:
    x = nc.tensor(np.array([[0.5, 2.0, 1.0]], np.float16), requires_grad=True)
    v, i = nc.topk(x, 2)
    assert v.dtype == np.float16 and i.tolist() == [[1, 2]]
    v.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.array([[0, 1, 1]], np.float16))


def test_gradient_with_ties_goes_to_the_selected_indices(tch) -> None:
    a = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]], np.float32)
    x = nc.tensor(a, requires_grad=True)
    v, i = nc.topk(x, 2)
    (v * nc.tensor([[1.0, 10.0]])).sum().backward()
    np.testing.assert_array_equal(i.numpy(), [[1, 2]])
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 10, 0, 0]])
    t = tch.tensor(a, requires_grad=True)
    tv, _ = tch.topk(t, 2)
    (tv * tch.tensor([[1.0, 10.0]])).sum().backward()
    assert t.grad.sum().item() == x.grad.numpy().sum()


def test_same_bits_at_any_thread_count() -> None:
    rng, _ = fresh_rng()
    a = nc.tensor(rng.standard_normal((300, 500)).astype(np.float32), requires_grad=True)
    before = nc.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            nc.set_num_threads(threads)
            a.grad = None
            v, i = nc.topk(a, 25)
            (v * v).sum().backward()
            results.append((v.detach().numpy().copy(), i.numpy().copy(), a.grad.numpy().copy()))
    finally:
        nc.set_num_threads(before)
    for x, y in zip(results[0], results[1]):
        np.testing.assert_array_equal(x, y)


def test_zero_dim_and_empty() -> None:
    v, i = nc.topk(nc.tensor(3.0), 1)
    assert v.shape == () and v.item() == 3.0 and i.item() == 0
    s = nc.sort(nc.tensor(2.0))
    assert s.values.shape == () and s.indices.item() == 0
    v, i = nc.topk(nc.zeros(4, 5), 0)
    assert v.shape == (4, 0) and i.shape == (4, 0)
    v, i = nc.topk(nc.zeros(0, 5), 2)
    assert v.shape == (0, 2)
    k = nc.kthvalue(nc.tensor([[1.0, 5.0], [4.0, 2.0]]), 1, 0)
    assert k.values.tolist() == [1.0, 2.0] and k.indices.tolist() == [0, 1]


def test_results_are_named_tuples_and_methods_exist() -> None:
    x = nc.tensor([[3.0, 1.0, 2.0]])
    values, indices = x.topk(2)
    assert x.topk(2).values.tolist() == values.tolist() == [[3.0, 2.0]]
    assert indices.tolist() == [[0, 2]]
    assert x.sort().indices.tolist() == [[1, 2, 0]]
    assert x.argsort(descending=True).tolist() == [[0, 2, 1]]
    assert x.kthvalue(1).values.tolist() == [1.0]
    assert x.msort().tolist() == [[3.0, 1.0, 2.0]]
    assert type(nc.sort(x)).__name__ == "sort" and type(nc.topk(x, 1)).__name__ == "topk"


def test_topk_on_a_non_contiguous_view_and_backward() -> None:
    rng, _ = fresh_rng()
    base = rng.standard_normal((6, 8))
    x = nc.tensor(base, requires_grad=True)
    v, i = nc.topk(x.t(), 3, dim=1)
    np.testing.assert_array_equal(v.detach().numpy(), _np_topk(base.T, 3, 1))
    v.sum().backward()
    expected = np.zeros_like(base.T)
    np.put_along_axis(expected, i.numpy(), 1.0, 1)
    np.testing.assert_array_equal(x.grad.numpy(), expected.T)


def test_errors() -> None:
    x = nc.randn(3, 4)
    with pytest.raises(RuntimeError, match="topk: selected index k out of range"):
        nc.topk(x, 5)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        nc.topk(x, -1)
    with pytest.raises(RuntimeError, match="topk does not support bool"):
        nc.topk(nc.tensor([True, False]), 1)
    with pytest.raises(IndexError, match="topk: Dimension out of range"):
        nc.topk(x, 1, dim=2)
    with pytest.raises(IndexError, match="sort: Dimension out of range"):
        nc.sort(x, dim=-3)
    with pytest.raises(RuntimeError, match=r"kthvalue\(\): selected number k out of range"):
        nc.kthvalue(x, 0)
    with pytest.raises(RuntimeError, match=r"kthvalue\(\): selected number k out of range"):
        nc.kthvalue(x, 5)


def test_native_kernel_checks_its_arguments() -> None:
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[topk\] k = 4 is out of range"):
        nc._C.topk_forward(x, 4, True)
    with pytest.raises(ValueError, match=r"\[topk\] x: expected 2-D"):
        nc._C.topk_forward(np.zeros(3, np.float32), 1, True)
    with pytest.raises(TypeError, match=r"\[topk\] x: expected float32 or float64"):
        nc._C.topk_forward(np.zeros((2, 3), np.int64), 1, True)
    with pytest.raises(ValueError, match=r"\[topk\] index 3 is out of range"):
        nc._C.topk_backward(np.ones((1, 1), np.float32), np.array([[3]]), 3)
    with pytest.raises(TypeError, match=r"\[topk\] indices: expected int64"):
        nc._C.topk_backward(np.ones((1, 1), np.float32), np.array([[0]], np.int32), 3)
    with pytest.raises(ValueError, match=r"\[topk\] n = 1 is smaller than k = 2"):
        nc._C.topk_backward(np.ones((1, 2), np.float32), np.array([[0, 0]]), 1)


def test_max_min_with_dim_ties_and_nan_match_torch(tch) -> None:
    # max/min live in tensor_ops.reduction; their ordering semantics are PyTorch's too: the
    # first index among ties, NaN propagating, the full reduction's gradient shared by ties.
    a = np.array([[1.0, 3, 3, 2], [np.nan, 1, np.nan, 5], [2, 2, 2, 2]], np.float32)
    for name in ("max", "min"):
        ours, theirs = getattr(nc.tensor(a), name)(1), getattr(tch.tensor(a), name)(1)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    x, tx = nc.tensor(a[[0, 2]], requires_grad=True), tch.tensor(a[[0, 2]], requires_grad=True)
    x.max().backward()
    tx.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
