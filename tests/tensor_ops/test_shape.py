"""Shape functions (split, chunk, flip, roll, repeat, tile, tril, diagonal, stacking...) against
NumPy, finite differences and PyTorch; split's shared gradient buffer; PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, fresh_rng, torch
from nncore.ops.shape import SplitFn, SplitPieceFn


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _weighted(pieces, cat, dim):
    """The pieces scaled by 1, 2, 3... and joined: every piece gets a distinct gradient."""
    return cat([p * float(i + 1) for i, p in enumerate(pieces)], dim)


def _nc_cat(xs, dim):
    return nc.cat(list(xs), dim)


def _np_cat(xs, dim):
    return np.concatenate(list(xs), dim)


def _t_cat(xs, dim):
    return torch.cat(list(xs), dim)


def _stack_weighted(pieces, stack):
    return stack([p * float(i + 1) for i, p in enumerate(pieces)])


SPECS = [
    OpSpec("split", lambda a: _weighted(a.split(2, dim=1), _nc_cat, 1), _normal((3, 7)),
           lambda a: _weighted(np.split(a, [2, 4, 6], 1), _np_cat, 1),
           lambda a: _weighted(a.split(2, dim=1), _t_cat, 1), id="split-int-uneven"),
    OpSpec("split", lambda a: _weighted(nc.split(a, [1, 0, 3], -2), _nc_cat, -2),
           _normal((2, 4, 3)),
           lambda a: _weighted(np.split(a, [1, 1], 1), _np_cat, 1),
           lambda a: _weighted(torch.split(a, [1, 0, 3], -2), _t_cat, -2), id="split-sizes"),
    OpSpec("chunk", lambda a: _weighted(a.chunk(4), _nc_cat, 0), _normal((5, 2)),
           lambda a: _weighted(np.split(a, [2, 4]), _np_cat, 0),
           lambda a: _weighted(a.chunk(4), _t_cat, 0)),
    OpSpec("unbind", lambda a: _stack_weighted(a.unbind(1), nc.stack), _normal((3, 4)),
           lambda a: _stack_weighted(list(a.T), np.stack),
           lambda a: _stack_weighted(a.unbind(1), torch.stack)),
    OpSpec("unbind_partial", lambda a: a.unbind(0)[1] * 3.0, _normal((3, 17)),
           lambda a: a[1] * 3.0, lambda a: a.unbind(0)[1] * 3.0, id="unbind-one-piece-used"),
    OpSpec("tensor_split", lambda a: _weighted(nc.tensor_split(a, [1, 5], 1), _nc_cat, 1),
           _normal((2, 7)), lambda a: _weighted(np.split(a, [1, 5], 1), _np_cat, 1),
           lambda a: _weighted(torch.tensor_split(a, [1, 5], 1), _t_cat, 1)),
    OpSpec("narrow", lambda a: nc.narrow(a, 1, -3, 2), _normal((3, 5)), lambda a: a[:, 2:4],
           lambda a: torch.narrow(a, 1, -3, 2)),
    OpSpec("select", lambda a: a.select(-1, 2), _normal((3, 1, 4)), lambda a: a[..., 2],
           lambda a: a.select(-1, 2)),
    OpSpec("flip", lambda a: a.flip(0, -1), _normal((3, 2, 5)), lambda a: a[::-1, :, ::-1],
           lambda a: a.flip(0, -1)),
    OpSpec("fliplr", nc.fliplr, _normal((2, 3)), np.fliplr, lambda a: torch.fliplr(a)),
    OpSpec("flipud", nc.flipud, _normal((17,)), np.flipud, lambda a: torch.flipud(a)),
    OpSpec("roll", lambda a: nc.roll(a, (1, -2), (0, 1)), _normal((3, 5)),
           lambda a: np.roll(a, (1, -2), (0, 1)), lambda a: torch.roll(a, (1, -2), (0, 1))),
    OpSpec("roll_flat", lambda a: a.roll(4), _normal((3, 2)), lambda a: np.roll(a, 4),
           lambda a: a.roll(4), id="roll-flattened"),
    OpSpec("repeat", lambda a: a.repeat(2, 1, 3), _normal((3, 2)), lambda a: np.tile(a, (2, 1, 3)),
           lambda a: a.repeat(2, 1, 3)),
    OpSpec("tile", lambda a: nc.tile(a, (2,)), _normal((2, 3)), lambda a: np.tile(a, 2),
           lambda a: torch.tile(a, (2,))),
    OpSpec("repeat_interleave", lambda a: a.repeat_interleave(3, dim=0), _normal((2, 3)),
           lambda a: np.repeat(a, 3, 0), lambda a: a.repeat_interleave(3, dim=0)),
    OpSpec("repeat_interleave_counts", lambda a, r: nc.repeat_interleave(a, r, dim=1),
           lambda rng: [rng.standard_normal((2, 4)), np.array([2, 0, 1, 3])],
           lambda a, r: np.repeat(a, r, 1), lambda a, r: torch.repeat_interleave(a, r, dim=1),
           id="repeat-interleave-tensor-counts"),
    OpSpec("repeat_interleave_flat", lambda a: nc.repeat_interleave(a, 2), _normal((2, 2)),
           lambda a: np.repeat(a, 2), lambda a: torch.repeat_interleave(a, 2),
           id="repeat-interleave-flattened"),
    OpSpec("unflatten", lambda a: a.unflatten(1, (2, -1)), _normal((3, 6)),
           lambda a: a.reshape(3, 2, 3), lambda a: a.unflatten(1, (2, -1))),
    OpSpec("movedim", lambda a: nc.movedim(a, (0, 1), (2, 0)), _normal((2, 3, 4)),
           lambda a: np.moveaxis(a, (0, 1), (2, 0)), lambda a: torch.movedim(a, (0, 1), (2, 0))),
    OpSpec("broadcast_to", lambda a: nc.broadcast_to(a, (2, -1, 4)), _normal((3, 1)),
           lambda a: np.broadcast_to(a, (2, 3, 4)), lambda a: torch.broadcast_to(a, (2, 3, 4))),
    OpSpec("broadcast_tensors", lambda a, b: _weighted(nc.broadcast_tensors(a, b), _nc_cat, 0),
           _normal((3, 1), (4,)),
           lambda a, b: _weighted(np.broadcast_arrays(a, b), _np_cat, 0),
           lambda a, b: _weighted(torch.broadcast_tensors(a, b), _t_cat, 0)),
    OpSpec("hstack", lambda a, b: nc.hstack([a, b]), _normal((3,), (1,)),
           lambda a, b: np.hstack([a, b]), lambda a, b: torch.hstack([a, b])),
    OpSpec("vstack", lambda a, b: nc.vstack([a, b]), _normal((3,), (2, 3)),
           lambda a, b: np.vstack([a, b]), lambda a, b: torch.vstack([a, b])),
    OpSpec("dstack", lambda a, b: nc.dstack([a, b]), _normal((2, 3), (2, 3, 2)),
           lambda a, b: np.dstack([a, b]), lambda a, b: torch.dstack([a, b])),
    OpSpec("column_stack", lambda a, b: nc.column_stack([a, b]), _normal((3,), (3, 2)),
           lambda a, b: np.column_stack([a, b]), lambda a, b: torch.column_stack([a, b])),
    OpSpec("meshgrid", lambda a, b: _weighted(nc.meshgrid(a, b, indexing="xy"), _nc_cat, 0),
           _normal((2,), (3,)),
           lambda a, b: _weighted(np.meshgrid(a, b, indexing="xy"), _np_cat, 0),
           lambda a, b: _weighted(torch.meshgrid(a, b, indexing="xy"), _t_cat, 0)),
    OpSpec("atleast_3d", lambda a: nc.atleast_3d(a) * 2.0, _normal((5,)),
           lambda a: np.atleast_3d(a) * 2.0, lambda a: torch.atleast_3d(a) * 2.0),
    OpSpec("tril", lambda a: a.tril(-1), _normal((2, 3, 4)), lambda a: np.tril(a, -1),
           lambda a: a.tril(-1)),
    OpSpec("triu", lambda a: nc.triu(a, 1), _normal((5, 3)), lambda a: np.triu(a, 1),
           lambda a: torch.triu(a, 1)),
    OpSpec("diagonal", lambda a: a.diagonal(1, 2, 0), _normal((4, 3, 5)),
           lambda a: np.diagonal(a, 1, 2, 0), lambda a: a.diagonal(1, 2, 0)),
    OpSpec("diag_matrix", lambda a: nc.diag(a, -1), _normal((3, 4)), lambda a: np.diag(a, -1),
           lambda a: torch.diag(a, -1), id="diag-of-matrix"),
    OpSpec("diag_vector", lambda a: a.diag(2), _normal((3,)), lambda a: np.diag(a, 2),
           lambda a: a.diag(2), id="diag-from-vector"),
    OpSpec("diag_embed", lambda a: nc.diag_embed(a, -1, 0, 2), _normal((2, 3)),
           lambda a: np.stack([np.diag(r, -1) for r in a], 1),
           lambda a: torch.diag_embed(a, -1, 0, 2)),
    OpSpec("trace", lambda a: a.trace(), _normal((3, 17)), np.trace, lambda a: a.trace()),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


@pytest.fixture
def tch():
    return pytest.importorskip("torch")


def test_split_pieces_share_one_node_and_one_buffer() -> None:
    x = nc.randn(4, 1000, dtype=nc.float64, requires_grad=True)
    pieces = x.split(1, dim=1)
    hubs = {id(p.grad_fn.parents[0]) for p in pieces}
    assert len(pieces) == 1000 and len(hubs) == 1
    assert all(isinstance(p.grad_fn, SplitPieceFn) for p in pieces)
    assert isinstance(pieces[0].grad_fn.parents[0], SplitFn)
    # a piece's backward writes its slice of the shared buffer and hands on a 0-d token: O(piece)
    token = pieces[7].grad_fn.backward(np.ones((4, 1)))
    assert token.shape == () and pieces[7].grad_fn.split.buffer[:, 7].sum() == 4.0


def test_loop_over_a_thousand_split_steps_matches_torch(tch) -> None:
    rng, _ = fresh_rng()
    x0 = rng.standard_normal((3, 1000))
    w0 = rng.standard_normal(3)
    x, w = nc.tensor(x0, requires_grad=True), nc.tensor(w0, requires_grad=True)
    tx, tw = tch.tensor(x0, requires_grad=True), tch.tensor(w0, requires_grad=True)
    for xs, ws in ((x, w), (tx, tw)):
        h = xs[:, 0] * 0
        for x_t in xs.split(1, dim=1):  # the RNN-script pattern of the issue
            h = (x_t.squeeze(1) * ws + h * 0.5).tanh()
        h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_iteration_unbinds_and_retain_graph_repeats(tch) -> None:
    x = nc.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    y = sum(row.sum() * float(i) for i, row in enumerate(x))
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [1, 1], [2, 2]])
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [2, 2], [4, 4]])


def test_split_views_share_memory_and_copies_do_not() -> None:
    x = nc.arange(12.0).reshape(3, 4)
    a, b = x.split(2, dim=1)
    assert np.shares_memory(a.numpy(), x.numpy()) and a.shape == (3, 2)
    a[0, 0] = 100.0
    assert x[0, 0].item() == 100.0  # views, as PyTorch's
    f = x.flip(0)
    f[0, 0] = -1.0
    assert x[2, 0].item() == 8.0  # flip copies, as PyTorch's
    assert np.shares_memory(nc.narrow(x, 0, 1, 1).numpy(), x.numpy())
    d = x.diagonal()
    d[:] = 0.0
    assert x[1, 1].item() == 0.0  # diagonal is a writable view, as PyTorch's
    v = nc.arange(3.0)
    first = next(iter(v))  # a 0-d view, as PyTorch's, not a NumPy scalar copy
    assert first.shape == () and np.shares_memory(first.numpy(), v.numpy())
    assert v.unbind()[2].item() == 2.0 and nc.select(v, 0, -1).shape == ()


def test_semantics_match_torch(tch) -> None:
    x, tx = nc.arange(12).reshape(3, 4), tch.arange(12).reshape(3, 4)
    assert [p.shape for p in nc.chunk(nc.arange(5), 4)] == [
        tuple(p.shape) for p in tch.chunk(tch.arange(5), 4)]
    assert [p.shape for p in nc.chunk(nc.zeros(0, 3), 2)] == [(0, 3), (0, 3)]
    assert [p.shape for p in x.split(5, 1)] == [(3, 4)]
    assert [p.tolist() for p in nc.tensor_split(nc.arange(7), [1, 5, 10])] == [
        p.tolist() for p in tch.tensor_split(tch.arange(7), [1, 5, 10])]
    assert [p.tolist() for p in nc.tensor_split(nc.arange(7), 3)] == [
        p.tolist() for p in tch.tensor_split(tch.arange(7), 3)]
    assert nc.roll(x, 1).tolist() == tch.roll(tx, 1).tolist()
    assert x.repeat(2, 1, 1).shape == tuple(tx.repeat(2, 1, 1).shape)
    assert x.tile(2, 2).tolist() == tx.tile(2, 2).tolist()
    assert nc.repeat_interleave(nc.tensor([1, 0, 2])).tolist() == [0, 2, 2]
    assert nc.repeat_interleave(x, nc.tensor([2]), dim=1).tolist() == tch.repeat_interleave(
        tx, tch.tensor([2]), dim=1).tolist()
    for f in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for shape in ((), (3,), (2, 3)):
            assert getattr(nc, f)(nc.zeros(shape)).shape == tuple(getattr(tch, f)(
                tch.zeros(shape)).shape)
    assert [t.shape for t in nc.atleast_1d(nc.tensor(1), nc.tensor(2))] == [(1,), (1,)]
    assert [t.shape for t in nc.atleast_2d([nc.tensor(1)])] == [(1, 1)]
    assert nc.hstack([nc.zeros(2), nc.zeros(3)]).shape == (5,)
    assert nc.cat([nc.zeros(2), nc.zeros(3, dtype=nc.int64)]).dtype == nc.float32
    assert nc.stack([nc.zeros(2, dtype=nc.float64), nc.zeros(2)]).dtype == nc.float64
    assert nc.cat([nc.zeros(2, dtype=nc.int32), nc.zeros(2, dtype=nc.int64)]).dtype == nc.int64
    assert [t.shape for t in nc.meshgrid([nc.arange(2), nc.arange(3)], indexing="ij")] == [
        (2, 3), (2, 3)]
    assert nc.trace(nc.arange(4, dtype=nc.int32).reshape(2, 2)).dtype == nc.int64
    assert nc.diagonal(nc.zeros(3, 4), 5).shape == (0,)
    assert nc.diag_embed(nc.tensor([[1, 2], [3, 4]]), 1).shape == (2, 3, 3)
    assert nc.broadcast_shapes((3, 1), (4,)) == (3, 4)
    assert nc.swapaxes(nc.zeros(1, 3, 2), 0, 2).shape == (2, 3, 1)
    assert nc.squeeze(nc.zeros(1, 3, 1), (0, 2)).shape == (3,)
    assert nc.permute(nc.zeros(1, 3, 2), (2, 0, 1)).shape == (2, 1, 3)
    assert nc.reshape(nc.zeros(1, 3, 2), (-1,)).shape == (6,) and x.ravel().shape == (12,)
    assert nc.flatten(nc.zeros(2, 3, 4), 1).shape == (2, 12)
    assert nc.unsqueeze(nc.zeros(2), -1).shape == (2, 1) and nc.t(nc.zeros(2, 3)).shape == (3, 2)
    assert nc.moveaxis(nc.zeros(2, 3, 4), -1, 0).shape == (4, 2, 3)


def test_meshgrid_without_indexing_warns_as_torch() -> None:
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        a, b = nc.meshgrid(nc.arange(2), nc.arange(3))
    assert a.shape == (2, 3) and a.tolist() == [[0, 0, 0], [1, 1, 1]]


def test_no_grad_split_is_plain_views() -> None:
    x = nc.randn(2, 6, requires_grad=True)
    with nc.no_grad():
        pieces = x.chunk(3, 1)
    assert all(p.grad_fn is None and not p.requires_grad for p in pieces)


@pytest.mark.parametrize("call,error,match", [
    (lambda x: x.split([1, 1]), RuntimeError, "split_with_sizes expects split_sizes to sum "
                                              "exactly to 3"),
    (lambda x: x.split([4, -1]), RuntimeError, "only non-negative entries"),
    (lambda x: x.split(0), RuntimeError, "split_size can only be 0 if dimension size is 0"),
    (lambda x: x.split(-1), RuntimeError, "split expects split_size be non-negative"),
    (lambda x: x.split(1, dim=2), IndexError, "split: Dimension out of range"),
    (lambda x: x.chunk(0), RuntimeError, "chunk expects `chunks` to be greater than 0"),
    (lambda x: nc.narrow(x, 1, 3, 2), RuntimeError, r"start \(3\) \+ length \(2\) exceeds "
                                                     r"dimension size \(4\)"),
    (lambda x: x.select(1, 4), IndexError, r"select\(\): index 4 out of range"),
    (lambda x: x.flip(0, 0), RuntimeError, "dim 0 appears multiple times"),
    (lambda x: nc.fliplr(x[0]), RuntimeError, "Input must be >= 2-d"),
    (lambda x: nc.flipud(x[0, 0]), RuntimeError, "Input must be >= 1-d"),
    (lambda x: nc.roll(x, (1, 2), (0,)), RuntimeError, "shifts and dimensions must align"),
    (lambda x: nc.roll(x, (1, 2)), RuntimeError, "shifts and dimensions must align"),
    (lambda x: x.repeat(2), RuntimeError, "can not be smaller than number of dimensions"),
    (lambda x: x.repeat(2, -1), RuntimeError, "negative dimension"),
    (lambda x: x.repeat_interleave(-1), RuntimeError, "Repeats must be non-negative"),
    (lambda x: x.repeat_interleave(nc.tensor([1, 2]), dim=0), RuntimeError,
     "repeats must have the same size as input along dim"),
    (lambda x: x.unflatten(1, (3, -1)), RuntimeError, "don't multiply up to the size of dim 1"),
    (lambda x: nc.movedim(x, (0, 0), (1, 0)), RuntimeError, "repeated dim in `source`"),
    (lambda x: nc.movedim(x, (0, 1), (1,)), RuntimeError, "should contain the same number"),
    (lambda x: nc.broadcast_tensors(x, nc.zeros(5)), RuntimeError, "do not broadcast"),
    (lambda x: nc.meshgrid(x, indexing="ij"), RuntimeError, "Expected 0D or 1D tensor"),
    (lambda x: nc.meshgrid(nc.zeros(2), nc.arange(2), indexing="ij"), RuntimeError,
     "same dtype"),
    (lambda x: nc.meshgrid(nc.zeros(2), indexing="ab"), RuntimeError, "indexing must be one of"),
    (lambda x: nc.tril(x[0]), RuntimeError, "tril: input tensor must have at least 2 dimensions"),
    (lambda x: nc.triu(x[0]), RuntimeError, "triu: input tensor must have at least 2 dimensions"),
    (lambda x: nc.diag(x.reshape(1, 3, 4)), RuntimeError, r"diag\(\): Supports 1D or 2D"),
    (lambda x: nc.trace(x.reshape(1, 3, 4)), RuntimeError, "trace: expected a matrix"),
    (lambda x: x.diagonal(0, 1, -1), RuntimeError, "diagonal dimensions cannot be identical"),
    (lambda x: nc.cat([x, "a"]), TypeError, "expected Tensor as element 1"),
    (lambda x: nc.hstack(x), TypeError, "expected a sequence of Tensors"),
])
def test_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call(nc.arange(12.0).reshape(3, 4))


def test_error_types_match_torch(tch) -> None:
    for ours, theirs in [
        (lambda: nc.arange(12.0).reshape(3, 4).split([1, 1]),
         lambda: tch.arange(12.0).reshape(3, 4).split([1, 1])),
        (lambda: nc.arange(12.0).reshape(3, 4).flip(0, 0),
         lambda: tch.arange(12.0).reshape(3, 4).flip(0, 0)),
        (lambda: nc.arange(12.0).reshape(3, 4).select(1, 4),
         lambda: tch.arange(12.0).reshape(3, 4).select(1, 4)),
        (lambda: nc.arange(3.0).repeat_interleave(-1),
         lambda: tch.arange(3.0).repeat_interleave(-1)),
    ]:
        with pytest.raises(Exception) as theirs_err:
            theirs()
        with pytest.raises(theirs_err.type):
            ours()
