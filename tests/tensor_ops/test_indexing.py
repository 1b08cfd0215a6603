"""Indexing functions (gather, scatter and its reductions, index_*, masked_*, take...) against
NumPy, finite differences and PyTorch; in-place methods; searching and counting; errors."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, fresh_rng, torch


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _with_index(shape, index_shape, high, dim=None, unique=False):
    """A normal input and an int64 index (unique along ``dim`` when asked: scatter's writes)."""
    def make(rng):
        x = rng.standard_normal(shape)
        if unique:
            idx = np.argsort(rng.random(index_shape[:dim] + (high,) + index_shape[dim + 1:]),
                             axis=dim)
            idx = np.take(idx, np.arange(index_shape[dim]), axis=dim)
        else:
            idx = rng.integers(0, high, index_shape)
        return [x, idx.astype(np.int64)]
    return make


def _np_gather(a, dim, idx):
    a = a[tuple(slice(0, n) if d != dim else slice(None) for d, n in enumerate(idx.shape))]
    return np.take_along_axis(a, idx, dim)


def _np_scatter(a, dim, idx, src, add=False):
    out = a.copy()
    for pos in np.ndindex(*idx.shape):
        target = list(pos)
        target[dim] = idx[pos]
        if add:
            out[tuple(target)] += src[pos]
        else:
            out[tuple(target)] = src[pos]
    return out


def _np_scatter_reduce(a, dim, idx, src, reduce, include_self=True):
    out = a.copy()
    groups: dict = {}
    for pos in np.ndindex(*idx.shape):
        target = list(pos)
        target[dim] = idx[pos]
        groups.setdefault(tuple(target), []).append(src[pos])
    for t, vals in groups.items():
        vals = ([a[t]] if include_self else []) + vals
        out[t] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max,
                  "amin": np.min}[reduce](vals)
    return out


def _reduce_spec(reduce, include_self):
    def make(rng):
        # distinct values (no ties for amax/amin, no zeros for prod): self on a 0.25 grid,
        # src on a 0.1 grid shifted off it
        a = rng.permutation(12).reshape(3, 4) * 0.25 + 0.5
        src = rng.permutation(np.arange(1, 19))[:6].reshape(2, 3) * 0.1 - 1.013
        return [a, rng.integers(0, 4, (2, 3)).astype(np.int64), src]
    return OpSpec(
        f"scatter_reduce_{reduce}",
        lambda a, i, s: a.scatter_reduce(1, i, s, reduce, include_self=include_self), make,
        lambda a, i, s: _np_scatter_reduce(a, 1, i, s, reduce, include_self),
        lambda a, i, s: a.scatter_reduce(1, i, s, reduce, include_self=include_self),
        id=f"scatter-reduce-{reduce}-{'self' if include_self else 'noself'}")


def _masked(shape, mask_shape):
    return lambda rng: [rng.standard_normal(shape), rng.random(mask_shape) < 0.5]


SPECS = [
    OpSpec("gather", lambda a, i: nc.gather(a, 1, i), _with_index((3, 5), (3, 7), 5),
           lambda a, i: _np_gather(a, 1, i), lambda a, i: torch.gather(a, 1, i),
           id="gather-repeats"),
    OpSpec("gather", lambda a, i: a.gather(0, i), _with_index((4, 3), (2, 2), 4),
           lambda a, i: _np_gather(a, 0, i), lambda a, i: a.gather(0, i), id="gather-smaller"),
    OpSpec("gather", lambda a, i: a.gather(-1, i), _with_index((2, 1, 17), (2, 1, 3), 17),
           lambda a, i: _np_gather(a, 2, i), lambda a, i: a.gather(-1, i), id="gather-neg-dim"),
    OpSpec("take_along_dim", lambda a, i: nc.take_along_dim(a, i, 1),
           _with_index((3, 5), (1, 4), 5), lambda a, i: np.take_along_axis(a, i, 1),
           lambda a, i: torch.take_along_dim(a, i, 1), id="take-along-dim-broadcast"),
    OpSpec("take_along_dim", lambda a, i: a.take_along_dim(i), _with_index((3, 4), (5,), 12),
           lambda a, i: a.reshape(-1)[i], lambda a, i: a.take_along_dim(i),
           id="take-along-dim-flat"),
    OpSpec("take", lambda a, i: nc.take(a, i), _with_index((2, 3), (2, 2), 6),
           lambda a, i: a.reshape(-1)[i], lambda a, i: torch.take(a, i)),
    OpSpec("scatter", lambda a, i, s: a.scatter(1, i, s),
           lambda rng: _with_index((3, 5), (2, 3), 5, 1, True)(rng) + [
               rng.standard_normal((2, 3))],
           lambda a, i, s: _np_scatter(a, 1, i, s), lambda a, i, s: a.scatter(1, i, s),
           id="scatter-src"),
    OpSpec("scatter_value", lambda a, i: nc.scatter(a, 0, i, 2.5),
           _with_index((4, 3), (2, 3), 4, 0, True),
           lambda a, i: _np_scatter(a, 0, i, np.full(i.shape, 2.5)),
           lambda a, i: torch.scatter(a, 0, i, 2.5), id="scatter-value"),
    OpSpec("scatter_add", lambda a, i, s: nc.scatter_add(a, 0, i, s),
           lambda rng: _with_index((3, 4), (5, 2), 3)(rng) + [rng.standard_normal((5, 2))],
           lambda a, i, s: _np_scatter(a, 0, i, s, add=True),
           lambda a, i, s: torch.scatter_add(a, 0, i, s)),
    *[_reduce_spec(r, inc) for r in ("sum", "prod", "mean", "amax", "amin")
      for inc in (True, False)],
    OpSpec("index_select", lambda a, i: a.index_select(1, i), _with_index((3, 4), (6,), 4),
           lambda a, i: a[:, i], lambda a, i: a.index_select(1, i)),
    OpSpec("index_add", lambda a, i, s: nc.index_add(a, 0, i, s, alpha=2.0),
           lambda rng: _with_index((3, 2), (5,), 3)(rng) + [rng.standard_normal((5, 2))],
           lambda a, i, s: _np_index_add(a, i, s * 2.0),
           lambda a, i, s: torch.index_add(a, 0, i, s, alpha=2.0)),
    OpSpec("index_copy", lambda a, i, s: a.index_copy(1, i, s),
           lambda rng: [rng.standard_normal((2, 5)), rng.permutation(5)[:3].astype(np.int64),
                        rng.standard_normal((2, 3))],
           lambda a, i, s: _np_index_copy(a, i, s), lambda a, i, s: a.index_copy(1, i, s)),
    OpSpec("index_fill", lambda a, i: a.index_fill(1, i, -1.0), _with_index((3, 4), (2,), 4),
           lambda a, i: _np_fill_cols(a, i, -1.0), lambda a, i: a.index_fill(1, i, -1.0)),
    OpSpec("index_fill_tensor", lambda a, i, v: a.index_fill(0, i, v.reshape(())),
           lambda rng: _with_index((3, 2), (2,), 3)(rng) + [rng.standard_normal(1)],
           lambda a, i, v: _np_fill_rows(a, i, v[0]),
           lambda a, i, v: a.index_fill(0, i, v.reshape(())), id="index-fill-tensor-value"),
    OpSpec("masked_fill", lambda a, m: a.masked_fill(m, 0.5), _masked((3, 4), (4,)),
           lambda a, m: np.where(m, 0.5, a), lambda a, m: a.masked_fill(m, 0.5)),
    OpSpec("masked_fill_tensor", lambda a, m, v: nc.masked_fill(a, m, v.reshape(())),
           lambda rng: _masked((1, 4), (3, 4))(rng) + [rng.standard_normal(1)],
           lambda a, m, v: np.where(m, v[0], a),
           lambda a, m, v: torch.masked_fill(a, m, v.reshape(())),
           id="masked-fill-broadcast-tensor-value"),
    OpSpec("masked_select", lambda a, m: nc.masked_select(a, m), _masked((4,), (3, 4)),
           lambda a, m: np.broadcast_to(a, m.shape)[m], lambda a, m: torch.masked_select(a, m)),
    OpSpec("masked_scatter", lambda a, m, s: a.masked_scatter(m, s),
           lambda rng: _masked((3, 4), (3, 4))(rng) + [rng.standard_normal((2, 7))],
           lambda a, m, s: _np_masked_scatter(a, m, s), lambda a, m, s: a.masked_scatter(m, s)),
]


def _np_index_add(a, i, s):
    out = a.copy()
    np.add.at(out, i, s)
    return out


def _np_index_copy(a, i, s):
    out = a.copy()
    out[:, i] = s
    return out


def _np_fill_cols(a, i, v):
    out = a.copy()
    out[:, i] = v
    return out


def _np_fill_rows(a, i, v):
    out = a.copy()
    out[i] = v
    return out


def _np_masked_scatter(a, m, s):
    out = a.copy()
    out[m] = s.reshape(-1)[:m.sum()]
    return out


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


@pytest.fixture
def tch():
    return pytest.importorskip("torch")


def _both(tch, a):
    return nc.tensor(a), tch.tensor(a)


def test_in_place_methods_match_torch(tch) -> None:
    rng, _ = fresh_rng()
    a = rng.standard_normal((3, 4)).astype(np.float32)
    idx = np.array([[0, 2], [1, 3], [3, 0]])
    calls = [
        lambda t, m: t.scatter_(1, m.tensor(idx), 7.0),
        lambda t, m: t.scatter_(1, m.tensor(idx), 2.0, reduce="multiply"),
        lambda t, m: t.scatter_add_(1, m.tensor(idx), m.ones(3, 2)),
        lambda t, m: t.scatter_reduce_(1, m.tensor(idx), m.ones(3, 2), "amax"),
        lambda t, m: t.index_add_(0, m.tensor([2, 2]), m.ones(2, 4), alpha=3),
        lambda t, m: t.index_copy_(1, m.tensor([3, 0]), m.zeros(3, 2)),
        lambda t, m: t.index_fill_(1, m.tensor([1]), -2.0),
        lambda t, m: t.masked_fill_(m.tensor([True, False, True, False]), 9.0),
        lambda t, m: t.masked_scatter_(m.tensor([[True], [False], [True]]), m.arange(8.0)),
    ]
    for call in calls:
        ours, theirs = _both(tch, a.copy())
        view = ours[0]
        assert call(ours, nc) is ours
        call(theirs, tch)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        np.testing.assert_array_equal(view.numpy(), theirs[0].numpy())  # written in place


def test_in_place_under_autograd_matches_torch(tch) -> None:
    rng, _ = fresh_rng()
    a = rng.standard_normal((3, 4))
    mask = np.array([True, False, False, True])
    x, tx = nc.tensor(a, requires_grad=True), tch.tensor(a, requires_grad=True)
    for t, m in ((x, nc), (tx, tch)):
        y = t * 2
        y.masked_fill_(m.tensor(mask), 0.0)
        y.index_add_(0, m.tensor([1, 1]), t[:2] * 3)
        (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.masked_fill_(nc.tensor(mask), 0.0)
    with pytest.raises(RuntimeError, match=r"output with shape \(4,\) doesn't match"):
        nc.zeros(4).masked_fill_(nc.ones(3, 4, dtype=nc.bool), 2.0)


def test_scatter_with_reduce_is_not_differentiable_as_in_torch(tch) -> None:
    x = nc.zeros(3, requires_grad=True)
    with pytest.warns(UserWarning, match="reduce argument of torch.scatter with Tensor src"):
        y = x.scatter(0, nc.tensor([0]), nc.ones(1), reduce="add")
    np.testing.assert_array_equal(y.detach().numpy(), [1, 0, 0])
    with pytest.raises(RuntimeError, match="derivative for aten::scatter is not implemented"):
        y.sum().backward()
    out = nc.ones(3, 4).scatter(1, nc.tensor([[0, 0]]), 2.0, reduce="multiply")
    ref = tch.ones(3, 4).scatter(1, tch.tensor([[0, 0]]), 2.0, reduce="multiply")
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_scatter_uses_the_leading_block_of_a_larger_src(tch) -> None:
    # PyTorch's forward allows src larger than index (its backward then fails); ours also
    # differentiates it: the unused part of src gets a zero gradient.
    idx = np.array([[0, 2], [1, 0]])
    src = np.arange(15.0).reshape(3, 5)
    ours = nc.zeros(2, 3, dtype=nc.float64).scatter(1, nc.tensor(idx), nc.tensor(src))
    theirs = tch.zeros(2, 3, dtype=tch.float64).scatter(1, tch.tensor(idx), tch.tensor(src))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    s = nc.tensor(src, requires_grad=True)
    nc.zeros(2, 3, dtype=nc.float64).scatter_add(1, nc.tensor(idx), s).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0],
                                                   [0, 0, 0, 0, 0]])


def test_scatter_reduce_prod_with_zeros_matches_torch(tch) -> None:
    a = np.array([2.0, 3.0, 0.0, 1.5])
    src = np.array([0.0, 5.0, 4.0, 0.0, 2.0])
    idx = np.array([0, 0, 1, 2, 3])
    for include_self in (True, False):
        x, tx = nc.tensor(a, requires_grad=True), tch.tensor(a, requires_grad=True)
        s, ts = nc.tensor(src, requires_grad=True), tch.tensor(src, requires_grad=True)
        y = x.scatter_reduce(0, nc.tensor(idx), s, "prod", include_self=include_self)
        ty = tx.scatter_reduce(0, tch.tensor(idx), ts, "prod", include_self=include_self)
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        w = np.array([1.0, -2.0, 3.0, 0.5])
        (y * nc.tensor(w)).sum().backward()
        (ty * tch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-12)


def test_scatter_reduce_ties_and_integers_match_torch(tch) -> None:
    a = np.array([1.0, 1.0, 0.0])
    src = np.array([1.0, 1.0, -3.0])
    idx = np.array([0, 0, 2])
    for reduce in ("amax", "amin", "mean"):
        x, tx = nc.tensor(a, requires_grad=True), tch.tensor(a, requires_grad=True)
        s, ts = nc.tensor(src, requires_grad=True), tch.tensor(src, requires_grad=True)
        x.scatter_reduce(0, nc.tensor(idx), s, reduce).sum().backward()
        tx.scatter_reduce(0, tch.tensor(idx), ts, reduce).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-12)
    ints = np.array([1, 1, 5])
    for reduce in ("mean", "amin", "prod", "sum"):
        for include_self in (True, False):
            ours = nc.tensor(ints).scatter_reduce(0, nc.tensor([0, 0, 2]), nc.tensor([2, 3, 7]),
                                                   reduce, include_self=include_self)
            theirs = tch.tensor(ints).scatter_reduce(0, tch.tensor([0, 0, 2]),
                                                     tch.tensor([2, 3, 7]), reduce,
                                                     include_self=include_self)
            assert ours.tolist() == theirs.tolist() and ours.dtype == nc.int64


def test_searching_and_counting_match_torch(tch) -> None:
    seq, tseq = _both(tch, np.array([1.0, 3.0, 5.0, 7.0], np.float32))
    vals, tvals = _both(tch, np.array([[3.0, 6.0, 9.0, 0.0]], np.float32))
    for kw in ({}, {"right": True}, {"side": "right"}, {"out_int32": True}):
        ours, theirs = nc.searchsorted(seq, vals, **kw), tch.searchsorted(tseq, tvals, **kw)
        assert ours.tolist() == theirs.tolist() and ours.dtype == theirs.numpy().dtype
    rows = np.array([[1.0, 3, 5, 7], [2, 4, 6, 8]], np.float32)
    v2 = np.array([[3.0, 6, 9], [3, 6, 9]], np.float32)
    assert nc.searchsorted(nc.tensor(rows), nc.tensor(v2)).tolist() == tch.searchsorted(
        tch.tensor(rows), tch.tensor(v2)).tolist()
    assert nc.searchsorted(seq, 4).shape == () and nc.searchsorted(seq, 4).item() == 2
    sorter = np.array([1, 3, 0, 2])
    unsorted = np.array([5.0, 1, 7, 3])
    assert nc.searchsorted(nc.tensor(unsorted), nc.tensor([4.0]), sorter=nc.tensor(
        sorter)).tolist() == [2]
    b = np.array([[1, 3, 5], [6, 8, 9]])
    for right in (False, True):
        assert nc.bucketize(nc.tensor(b), nc.tensor([1, 5, 7]), right=right).tolist() == \
            tch.bucketize(tch.tensor(b), tch.tensor([1, 5, 7]), right=right).tolist()
    x = np.array([3, 1, 3, 2, 1])
    for kw in ({}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True}):
        ours, theirs = nc.unique(nc.tensor(x), **kw), tch.unique(tch.tensor(x), **kw)
        ours = ours if isinstance(ours, tuple) else (ours,)
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        assert [o.tolist() for o in ours] == [t.tolist() for t in theirs]
    m = np.array([[1, 2], [3, 4], [1, 2]])
    assert [t.tolist() for t in nc.unique(nc.tensor(m), dim=0, return_inverse=True,
                                          return_counts=True)] == [
        t.tolist() for t in tch.unique(tch.tensor(m), dim=0, return_inverse=True,
                                       return_counts=True)]
    u = nc.unique(nc.tensor([3.0, 1.0, 3.0, float("nan"), float("nan")]))
    assert u.shape == (4,) and np.isnan(u.numpy()[2:]).all()  # NaNs stay distinct, as torch
    c = np.array([1, 1, 2, 2, 3, 1, 1])
    assert [t.tolist() for t in nc.unique_consecutive(
        nc.tensor(c), return_inverse=True, return_counts=True)] == [
        t.tolist() for t in tch.unique_consecutive(tch.tensor(c), return_inverse=True,
                                                   return_counts=True)]
    assert nc.tensor(c).bincount(minlength=6).tolist() == tch.tensor(c).bincount(
        minlength=6).tolist()
    for w in (np.array([1.0, 2, 3, 4, 5, 6, 7], np.float32), np.arange(7.0), np.arange(7)):
        ours = nc.bincount(nc.tensor(c), nc.tensor(w))
        theirs = tch.bincount(tch.tensor(c), tch.tensor(w))
        assert ours.tolist() == theirs.tolist() and ours.dtype == theirs.numpy().dtype
    assert nc.bincount(nc.tensor(np.zeros(0, np.int64))).shape == (0,)


def test_nonzero_and_where_match_torch(tch) -> None:
    for a in (np.array([[0, 1], [2, 0]]), np.array(3), np.array(0), np.zeros((0, 2))):
        ours, theirs = nc.nonzero(nc.tensor(a)), tch.nonzero(tch.tensor(a))
        assert ours.tolist() == theirs.tolist() and ours.shape == tuple(theirs.shape)
        ours_t = nc.nonzero(nc.tensor(a), as_tuple=True)
        theirs_t = tch.nonzero(tch.tensor(a), as_tuple=True)
        assert [t.tolist() for t in ours_t] == [t.tolist() for t in theirs_t]
    a = np.array([0.0, 1.0, 2.0])
    assert nc.argwhere(nc.tensor(a)).tolist() == tch.argwhere(tch.tensor(a)).tolist()
    assert [t.tolist() for t in nc.where(nc.tensor([[0, 1], [1, 1]]) > 0)] == [
        [0, 1, 1], [1, 0, 1]]
    assert nc.where(nc.tensor([True, False]), 1.0, 0).tolist() == [1.0, 0.0]


def test_zero_dim_inputs() -> None:
    x = nc.tensor(5.0)
    assert nc.gather(x, 0, nc.tensor(0)).item() == 5.0
    assert x.index_select(0, nc.tensor([0])).item() == 5.0
    assert x.scatter(0, nc.tensor(0), 2.0).item() == 2.0
    assert nc.index_fill(x, 0, nc.tensor([0]), 1.0).item() == 1.0


@pytest.mark.parametrize("call,error,match", [
    (lambda x: x.gather(1, nc.tensor([[0, 5]])), RuntimeError,
     "index 5 is out of bounds for dimension 1 with size 4"),
    (lambda x: x.gather(1, nc.tensor([[0, -1]])), RuntimeError, "index -1 is out of bounds"),
    (lambda x: x.gather(1, nc.tensor([[0.0]])), RuntimeError, "Expected dtype int32/int64"),
    (lambda x: x.gather(1, nc.tensor([0])), RuntimeError, "same number of dimensions"),
    (lambda x: x.gather(1, nc.zeros(4, 1, dtype=nc.int64)), RuntimeError,
     "Size does not match at dimension 0"),
    (lambda x: x.gather(1, [[0]]), TypeError, "argument 'index' must be Tensor"),
    (lambda x: x.gather(2, nc.tensor([[0]])), IndexError, "Dimension out of range"),
    (lambda x: x.index_select(0, nc.tensor([3])), IndexError, "index out of range in self"),
    (lambda x: x.index_select(0, nc.tensor([[0]])), IndexError, "Index is supposed to be a vector"),
    (lambda x: x.index_select(0, nc.tensor([0], dtype=nc.int16)), RuntimeError,
     "Expected dtype int32 or int64"),
    (lambda x: x.scatter(1, nc.tensor([[4]]), 1.0), RuntimeError, "index 4 is out of bounds"),
    (lambda x: x.scatter(1, nc.tensor([[0, 1]]), nc.ones(1, 1)), RuntimeError,
     "to be no larger size than src"),
    (lambda x: x.scatter(1, nc.tensor([[0]]), nc.ones(1, 1, dtype=nc.float64)), RuntimeError,
     "Expected self.dtype to be equal to src.dtype"),
    (lambda x: x.scatter(1, nc.tensor([[0]]), nc.ones(1, 1), reduce="sum"), RuntimeError,
     "reduce argument must be either add or multiply"),
    (lambda x: x.scatter_reduce(1, nc.tensor([[0]]), nc.ones(1, 1), "foo"), RuntimeError,
     "reduce argument must be either sum, prod, mean, amax or amin"),
    (lambda x: x.index_add(0, nc.tensor([3]), nc.ones(1, 4)), RuntimeError,
     "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_add(0, nc.tensor([1]), nc.ones(1, 3)), RuntimeError,
     "source tensor shape must match self tensor shape"),
    (lambda x: x.index_add(0, nc.tensor([0, 1]), nc.ones(1, 4)), RuntimeError,
     r"Number of indices \(2\) should be equal to source.size\(dim\)"),
    (lambda x: x.index_copy(0, nc.tensor([-1]), nc.ones(1, 4)), IndexError,
     "index -1 is out of bounds"),
    (lambda x: x.index_fill(1, nc.tensor([4]), 2.0), IndexError, "index 4 is out of bounds"),
    (lambda x: x.index_fill(1, nc.tensor([0]), nc.tensor([2.0])), RuntimeError,
     "only supports a 0-dimensional value tensor"),
    (lambda x: x.take(nc.tensor([12])), IndexError, "tried to access index 12 on a tensor of 12"),
    (lambda x: x.take_along_dim(nc.tensor([[5]]), 1), RuntimeError, "index 5 is out of bounds"),
    (lambda x: x.masked_fill(nc.tensor([1, 0, 1, 0]), 2.0), RuntimeError,
     "masked_fill_ only supports boolean masks"),
    (lambda x: x.masked_fill(nc.ones(2, dtype=nc.bool), 2.0), RuntimeError,
     "must be broadcastable"),
    (lambda x: x.masked_select(nc.tensor([1, 0, 1, 0])), RuntimeError, "expected BoolTensor"),
    (lambda x: x.masked_scatter(nc.ones(4, dtype=nc.bool), nc.ones(3)), RuntimeError,
     "Number of elements of source < number of ones in mask"),
    (lambda x: x.masked_scatter(nc.ones(4, dtype=nc.bool), nc.ones(12, dtype=nc.int64)),
     RuntimeError, "same dtypes"),
    (lambda x: nc.bincount(nc.tensor([0, -1])), RuntimeError, "non-negative integral inputs"),
    (lambda x: nc.bincount(nc.tensor([[0, 1]])), RuntimeError, "1-d non-negative"),
    (lambda x: nc.bincount(nc.tensor([0.0, 1.0])), NotImplementedError, "bincount_cpu"),
    (lambda x: nc.bincount(nc.tensor([0, 1]), nc.ones(3)), RuntimeError,
     "same length as input"),
    (lambda x: nc.searchsorted(x, nc.tensor([3.0, 5.0])), RuntimeError,
     "boundaries tensor should be 1 dimension or the first N-1 dimensions"),
    (lambda x: nc.searchsorted(x[0], x[0], side="left", right=True), RuntimeError,
     "side and right can't be set to opposites"),
    (lambda x: nc.bucketize(x[0], x), RuntimeError, "boundaries tensor must be 1 dimension"),
    (lambda x: nc.repeat_interleave(nc.tensor([1.0, 2.0])), RuntimeError,
     "repeats must be 0-dim or 1-dim tensor of integers"),
])
def test_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call(nc.arange(12.0).reshape(3, 4))


def test_error_types_match_torch(tch) -> None:
    pairs = [
        ("gather", (1, [[0, 5]])), ("index_select", (0, [3])), ("index_fill", (1, [4], 2.0)),
        ("take", ([12],)), ("index_copy", (0, [-1], None)),
    ]
    for name, args in pairs:
        def call(m, x, name=name, args=args):
            a = [m.tensor(v) if isinstance(v, list) else v for v in args]
            if name == "index_copy":
                a[-1] = m.ones(1, 4)
            return getattr(x, name)(*a)

        with pytest.raises(Exception) as theirs:
            call(tch, tch.arange(12.0).reshape(3, 4))
        with pytest.raises(theirs.type):
            call(nc, nc.arange(12.0).reshape(3, 4))
