"""Products (mm, bmm, matmul, einsum, tensordot...) and nncore.linalg against NumPy, finite
differences and PyTorch; the native GEMM under einsum; errors."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.linalg as LA
from harness import OpSpec, check_op, fresh_rng, torch
from nncore.ops.linear import MatmulFn


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _ein(eq, *shapes, torch_ok=True):
    return OpSpec("einsum", lambda *a: nc.einsum(eq, *a), _normal(*shapes),
                  lambda *a: np.einsum(eq, *a),
                  (lambda *a: torch.einsum(eq, *a)) if torch_ok else None, id=f"einsum-{eq}")


def _well_conditioned(n, batch=()):
    def make(rng):
        a = rng.standard_normal(batch + (n, n)) * 0.3 + np.eye(n) * 2
        return [a]
    return make


SPECS = [
    OpSpec("mm", nc.mm, _normal((3, 17), (17, 1)), np.matmul, lambda a, b: torch.mm(a, b)),
    OpSpec("bmm", lambda a, b: a.bmm(b), _normal((2, 1, 5), (2, 5, 3)), np.matmul,
           lambda a, b: a.bmm(b)),
    OpSpec("matmul", nc.matmul, _normal((4, 1, 3, 5), (2, 5, 3)), np.matmul,
           lambda a, b: torch.matmul(a, b)),
    OpSpec("mv", lambda a, b: a.mv(b), _normal((3, 4), (4,)), np.matmul, lambda a, b: a.mv(b)),
    OpSpec("dot", nc.dot, _normal((17,), (17,)), np.dot, lambda a, b: torch.dot(a, b)),
    OpSpec("outer", lambda a, b: a.outer(b), _normal((3,), (2,)), np.outer,
           lambda a, b: a.outer(b)),
    OpSpec("inner", nc.inner, _normal((2, 3), (4, 3)), np.inner, lambda a, b: torch.inner(a, b)),
    OpSpec("addmm", lambda c, a, b: nc.addmm(c, a, b, beta=0.5, alpha=2.0),
           _normal((3,), (2, 4), (4, 3)), lambda c, a, b: 0.5 * c + 2.0 * a @ b,
           lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0)),
    OpSpec("baddbmm", lambda c, a, b: c.baddbmm(a, b, alpha=-1.0),
           _normal((2, 1, 3), (2, 2, 5), (2, 5, 3)), lambda c, a, b: c - a @ b,
           lambda c, a, b: c.baddbmm(a, b, alpha=-1.0)),
    OpSpec("tensordot", lambda a, b: nc.tensordot(a, b, ([1, 0], [0, 2])),
           _normal((3, 4, 2), (4, 5, 3)), lambda a, b: np.tensordot(a, b, ([1, 0], [0, 2])),
           lambda a, b: torch.tensordot(a, b, ([1, 0], [0, 2]))),
    OpSpec("tensordot_int", lambda a, b: nc.tensordot(a, b, 1), _normal((2, 3), (3, 4)),
           lambda a, b: np.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1),
           id="tensordot-int-dims"),
    _ein("ij,jk->ik", (3, 4), (4, 5)),
    _ein("bij,bkj->bik", (2, 3, 4), (2, 5, 4)),
    _ein("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 1, 5)),
    _ein("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),
    _ein("i,i->", (17,), (17,)),
    _ein("i,j->ij", (3,), (4,)),
    _ein("ij,ij->i", (3, 4), (3, 4)),
    _ein("ij,ij->ij", (3, 4), (1, 4)),
    _ein("ijk,jl,lm->ikm", (2, 3, 4), (3, 5), (5, 2)),
    _ein("ij,jk", (3, 4), (4, 2)),
    _ein("bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),
    _ein("ij->ji", (3, 4)),
    _ein("ij->", (3, 4)),
    _ein("ii->i", (3, 3)),
    _ein("ii", (4, 4)),
    _ein("iij,kj->ik", (3, 3, 2), (4, 2)),
    _ein("ij,jk->k", (2, 3), (3, 4)),
    OpSpec("cross", lambda a, b: nc.cross(a, b, dim=0), _normal((3, 4), (3, 1)),
           lambda a, b: np.cross(a, b, axis=0), lambda a, b: torch.cross(a, b, dim=0)),
    OpSpec("cdist_p2", lambda a, b: nc.cdist(a, b), _normal((2, 4, 3), (2, 5, 3)),
           lambda a, b: np.sqrt(((a[:, :, None] - b[:, None]) ** 2).sum(-1)),
           lambda a, b: torch.cdist(a, b), id="cdist-p2-differences"),
    OpSpec("cdist_mm", lambda a, b: nc.cdist(a, b), _normal((30, 3), (4, 3)),
           lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)),
           lambda a, b: torch.cdist(a, b), torch_rtol=1e-4, id="cdist-p2-matmul"),
    OpSpec("cdist_p1", lambda a, b: nc.cdist(a, b, p=1.0), _normal((3, 2), (4, 2)),
           lambda a, b: np.abs(a[:, None] - b[None]).sum(-1),
           lambda a, b: torch.cdist(a, b, p=1.0)),
    OpSpec("cdist_p3", lambda a, b: nc.cdist(a, b, p=3.0), _normal((3, 2), (1, 2)),
           lambda a, b: (np.abs(a[:, None] - b[None]) ** 3).sum(-1) ** (1 / 3),
           lambda a, b: torch.cdist(a, b, p=3.0)),
    OpSpec("cdist_inf", lambda a, b: nc.cdist(a, b, p=float("inf")), _normal((3, 4), (2, 4)),
           lambda a, b: np.abs(a[:, None] - b[None]).max(-1),
           lambda a, b: torch.cdist(a, b, p=float("inf"))),
    OpSpec("norm", lambda a: nc.norm(a, p=1, dim=1), _normal((3, 5)),
           lambda a: np.abs(a).sum(1), lambda a: torch.norm(a, p=1, dim=1)),
    OpSpec("norm_fro", lambda a: a.norm(), _normal((2, 3, 4)), lambda a: np.sqrt((a * a).sum()),
           lambda a: a.norm(), id="norm-fro-3d"),
    OpSpec("vector_norm", lambda a: LA.vector_norm(a), _normal((17,)), np.linalg.norm,
           lambda a: torch.linalg.vector_norm(a)),
    OpSpec("vector_norm_p", lambda a: LA.vector_norm(a, 3.5, (0, 2), keepdim=True),
           _normal((2, 3, 4)),
           lambda a: (np.abs(a) ** 3.5).sum((0, 2), keepdims=True) ** (1 / 3.5),
           lambda a: torch.linalg.vector_norm(a, 3.5, (0, 2), keepdim=True), id="vector-norm-p"),
    OpSpec("vector_norm_inf", lambda a: LA.vector_norm(a, float("inf"), -1), _normal((3, 4)),
           lambda a: np.abs(a).max(-1), lambda a: torch.linalg.vector_norm(a, float("inf"), -1),
           id="vector-norm-inf"),
    OpSpec("vector_norm_1", lambda a: LA.vector_norm(a, 1, 0), _normal((3, 4)),
           lambda a: np.abs(a).sum(0), lambda a: torch.linalg.vector_norm(a, 1, 0),
           id="vector-norm-1"),
    OpSpec("vector_norm_neg_inf", lambda a: LA.vector_norm(a, -float("inf")), _normal((1, 5)),
           lambda a: np.abs(a).min(), lambda a: torch.linalg.vector_norm(a, -float("inf")),
           id="vector-norm-minus-inf"),
    OpSpec("linalg_norm", lambda a: LA.norm(a, dim=(0, 1)), _normal((3, 4, 2)),
           lambda a: np.sqrt((a * a).sum((0, 1))), lambda a: torch.linalg.norm(a, dim=(0, 1))),
    *[OpSpec("matrix_norm", lambda a, o=o: LA.matrix_norm(a, o), _normal((2, 3, 4)),
             lambda a, o=o: np.linalg.norm(a, o, axis=(-2, -1)),
             lambda a, o=o: torch.linalg.matrix_norm(a, o), id=f"matrix-norm-{o}")
      for o in ("fro", 1, -1, float("inf"), -float("inf"))],
    OpSpec("inv", LA.inv, _well_conditioned(3, (2,)), np.linalg.inv, torch.linalg.inv
           if torch else None, torch_rtol=1e-4),
    OpSpec("det", LA.det, _normal((2, 3, 3)), np.linalg.det, torch.linalg.det if torch else
           None, torch_rtol=1e-4),
    OpSpec("det_singular", LA.det, lambda rng: [np.outer(rng.standard_normal(3),
                                                         rng.standard_normal(3))],
           np.linalg.det, None, id="det-singular"),
    OpSpec("solve", LA.solve, lambda rng: _well_conditioned(3, (2,))(rng) + [
        rng.standard_normal((2, 3, 2))], np.linalg.solve,
        torch.linalg.solve if torch else None, torch_rtol=1e-4),
    OpSpec("solve_vector", LA.solve, lambda rng: _well_conditioned(4)(rng) + [
        rng.standard_normal(4)], np.linalg.solve, torch.linalg.solve if torch else None,
        torch_rtol=1e-4, id="solve-vector"),
    OpSpec("solve_right", lambda a, b: LA.solve(a, b, left=False),
           lambda rng: _well_conditioned(3)(rng) + [rng.standard_normal((5, 3))],
           lambda a, b: np.linalg.solve(a.T, b.T).T,
           lambda a, b: torch.linalg.solve(a, b, left=False), torch_rtol=1e-4,
           id="solve-left-false"),
    OpSpec("linalg_cross", LA.cross, _normal((2, 3), (2, 3)), np.cross,
           lambda a, b: torch.linalg.cross(a, b)),
    OpSpec("vecdot", lambda a, b: LA.vecdot(a, b), _normal((2, 3), (3,)),
           lambda a, b: (a * b).sum(-1), lambda a, b: torch.linalg.vecdot(a, b)),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


@pytest.fixture
def tch():
    return pytest.importorskip("torch")


def _graph_has(t, kind) -> bool:
    stack, seen = [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "parents"):
            continue
        seen.add(id(node))
        if isinstance(node, kind):
            return True
        stack.extend(node.parents)
    return False


@pytest.mark.parametrize("eq,shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("i,i->", [(4,), (4,)]),
])
def test_einsum_products_run_the_native_gemm(eq, shapes) -> None:
    ops = [nc.randn(*s, requires_grad=True) for s in shapes]
    assert _graph_has(nc.einsum(eq, *ops), MatmulFn)
    assert _graph_has(nc.mm(nc.randn(2, 3, requires_grad=True), nc.randn(3, 2)), MatmulFn)
    assert _graph_has(nc.bmm(nc.randn(2, 2, 3, requires_grad=True), nc.randn(2, 3, 2)),
                      MatmulFn)


def test_einsum_forms_match_torch(tch) -> None:
    a = np.arange(12.0).reshape(3, 4).astype(np.float32)
    b = np.arange(20.0).reshape(4, 5).astype(np.float32)
    ours = nc.einsum("ij,jk", [nc.tensor(a), nc.tensor(b)])
    np.testing.assert_allclose(ours.numpy(), tch.einsum("ij,jk", [tch.tensor(a),
                                                                  tch.tensor(b)]).numpy())
    ours = nc.einsum(nc.tensor(a), [0, 1], nc.tensor(b), [1, 2], [0, 2])
    np.testing.assert_allclose(ours.numpy(), a @ b)
    ours = nc.einsum("i j , j k -> i k", nc.tensor(a), nc.tensor(b))
    np.testing.assert_allclose(ours.numpy(), a @ b)
    ai, bi = a.astype(np.int64), b.astype(np.int64)
    ours = nc.einsum("ij,jk->ik", nc.tensor(ai), nc.tensor(bi))
    assert ours.dtype == nc.int64 and ours.tolist() == (ai @ bi).tolist()
    assert nc.mm(nc.tensor(ai), nc.tensor(bi)).tolist() == tch.mm(tch.tensor(ai),
                                                                  tch.tensor(bi)).tolist()
    ours = nc.einsum("ji,jk", nc.tensor(a), nc.tensor(a[:, :2].copy()))
    np.testing.assert_allclose(ours.numpy(), a.T @ a[:, :2])


def test_addmm_beta_zero_ignores_input_as_torch(tch) -> None:
    c = np.full((2, 3), np.nan, np.float32)
    ours = nc.addmm(nc.tensor(c), nc.ones(2, 3), nc.ones(3, 3), beta=0)
    theirs = tch.addmm(tch.tensor(c), tch.ones(2, 3), tch.ones(3, 3), beta=0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_decompositions_match_torch(tch) -> None:
    rng, _ = fresh_rng()
    a = rng.standard_normal((2, 4, 3))
    ta = tch.tensor(a)
    u, s, vh = LA.svd(nc.tensor(a), full_matrices=False)
    np.testing.assert_allclose(s.numpy(), tch.linalg.svdvals(ta).numpy(), rtol=1e-10)
    np.testing.assert_allclose((u.numpy() * s.numpy()[..., None, :]) @ vh.numpy(), a,
                               atol=1e-12)
    assert [x.shape for x in LA.svd(nc.tensor(a))] == [
        tuple(x.shape) for x in tch.linalg.svd(ta)]
    np.testing.assert_allclose(LA.svdvals(nc.tensor(a)).numpy(), tch.linalg.svdvals(ta).numpy())
    for mode in ("reduced", "complete"):
        q, r = LA.qr(nc.tensor(a), mode=mode)
        tq, tr = tch.linalg.qr(ta, mode=mode)
        assert q.shape == tuple(tq.shape) and r.shape == tuple(tr.shape)
        np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
    assert LA.qr(nc.tensor(a), mode="r").Q.numel() == 0
    spd = a[0].T @ a[0] + np.eye(3)
    for upper in (False, True):
        np.testing.assert_allclose(LA.cholesky(nc.tensor(spd), upper=upper).numpy(),
                                   tch.linalg.cholesky(tch.tensor(spd), upper=upper).numpy(),
                                   rtol=1e-10)
    w, v = LA.eigh(nc.tensor(spd))
    np.testing.assert_allclose(w.numpy(), tch.linalg.eigvalsh(tch.tensor(spd)).numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(LA.eigvalsh(nc.tensor(spd)).numpy(), w.numpy())
    np.testing.assert_allclose(v.numpy() @ np.diag(w.numpy()) @ v.numpy().T, spd, atol=1e-10)
    sign, logabs = LA.slogdet(nc.tensor(a[:, :3]))
    tsign, tlog = tch.linalg.slogdet(ta[:, :3])
    np.testing.assert_allclose(sign.numpy(), tsign.numpy())
    np.testing.assert_allclose(logabs.numpy(), tlog.numpy(), rtol=1e-10)
    np.testing.assert_allclose(LA.pinv(nc.tensor(a)).numpy(), tch.linalg.pinv(ta).numpy(),
                               atol=1e-10)
    assert LA.matrix_rank(nc.tensor(a)).tolist() == tch.linalg.matrix_rank(ta).tolist()
    for o in (2, -2, "nuc"):
        np.testing.assert_allclose(LA.matrix_norm(nc.tensor(a), o).numpy(),
                                   tch.linalg.matrix_norm(ta, o).numpy(), rtol=1e-10)
    np.testing.assert_allclose(nc.norm(nc.tensor(a[0]), p="nuc").numpy(),
                               tch.norm(ta[0], p="nuc").numpy(), rtol=1e-10)


def test_numpy_backed_ops_raise_in_backward() -> None:
    x = nc.randn(3, 3, requires_grad=True)
    u, s, vh = LA.svd(x)
    with pytest.raises(NotImplementedError, match="linalg.svd: backward is not implemented"):
        s.sum().backward()
    with pytest.raises(NotImplementedError, match="linalg.matrix_norm: backward"):
        LA.matrix_norm(x, 2).backward()
    with nc.no_grad():
        assert LA.qr(x).Q.grad_fn is None


def test_norm_semantics_match_torch(tch) -> None:
    rng, _ = fresh_rng()
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x, tx = nc.tensor(a), tch.tensor(a)
    cases = [
        (lambda m, t: m.linalg.norm(t), None), (lambda m, t: m.linalg.norm(t[0], ord=2), None),
        (lambda m, t: m.linalg.norm(t, ord=1, dim=2), None),
        (lambda m, t: m.linalg.vector_norm(t, 0), None),
        (lambda m, t: m.linalg.vector_norm(t, 2, dtype=m.float64), None),
        (lambda m, t: m.norm(t, dim=(1, 2), keepdim=True), None),
        (lambda m, t: t.norm(p=2, dim=-1), None),
        (lambda m, t: m.linalg.vector_norm(t[:0]), None),
    ]
    for call, _ in cases:
        ours, theirs = call(nc, x), call(tch, tx)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == theirs.numpy().dtype
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)
    z = nc.zeros(3, requires_grad=True)
    LA.vector_norm(z).backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0, 0, 0])  # 0 where the norm is 0, as torch
    t = nc.tensor([3.0, -3.0, 1.0], requires_grad=True)
    LA.vector_norm(t, float("inf")).backward()
    tt = tch.tensor([3.0, -3.0, 1.0], requires_grad=True)
    tch.linalg.vector_norm(tt, float("inf")).backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy())


def test_cross_without_dim_warns_as_torch() -> None:
    with pytest.warns(UserWarning, match="Using torch.cross without specifying the dim arg"):
        y = nc.cross(nc.tensor([[1.0, 0.0, 0.0]]), nc.tensor([[0.0, 1.0, 0.0]]))
    assert y.tolist() == [[0.0, 0.0, 1.0]]


def test_linalg_is_a_submodule() -> None:
    import importlib

    assert importlib.import_module("nncore.linalg") is nc.linalg
    assert "linalg" in nc.__all__ and "einsum" in nc.__all__
    assert issubclass(LA.LinAlgError, RuntimeError)
    assert nc.det(nc.tensor([[2.0, 0.0], [0.0, 3.0]])).item() == 6.0
    assert nc.tensor([[2.0, 0.0], [0.0, 4.0]]).inverse().tolist() == [[0.5, 0.0], [0.0, 0.25]]


@pytest.mark.parametrize("call,error,match", [
    (lambda: nc.mm(nc.ones(2, 3), nc.ones(4, 5)), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
    (lambda: nc.mm(nc.ones(2, 3), nc.ones(3)), RuntimeError, "mat2 must be a matrix"),
    (lambda: nc.mm(nc.ones(2, 3), nc.ones(3, 2, dtype=nc.float64)), RuntimeError,
     "same dtype, but got Float and Double"),
    (lambda: nc.bmm(nc.ones(2, 3, 4), nc.ones(3, 4, 5)), RuntimeError,
     "Expected size for first two dimensions of batch2 tensor"),
    (lambda: nc.bmm(nc.ones(3, 4), nc.ones(3, 4, 5)), RuntimeError, "batch1 must be a 3D"),
    (lambda: nc.matmul(nc.tensor(1.0), nc.ones(4)), RuntimeError,
     "both arguments to matmul need to be at least 1D"),
    (lambda: nc.matmul(nc.ones(2, 3), nc.ones(4)), RuntimeError, "cannot be multiplied"),
    (lambda: nc.mv(nc.ones(2, 3), nc.ones(3, 1)), RuntimeError,
     "vector \\+ matrix @ vector expected"),
    (lambda: nc.dot(nc.ones(3), nc.ones(4)), RuntimeError, "inconsistent tensor size"),
    (lambda: nc.dot(nc.ones(3, 1), nc.ones(3)), RuntimeError, "1D tensors expected"),
    (lambda: nc.outer(nc.ones(2, 1), nc.ones(3)), RuntimeError, "Expected 1-D argument self"),
    (lambda: nc.addmm(nc.ones(4), nc.ones(2, 3), nc.ones(3, 3)), RuntimeError,
     "does not broadcast"),
    (lambda: nc.tensordot(nc.ones(2, 3), nc.ones(4), 1), RuntimeError,
     "contracted dimensions need to match"),
    (lambda: nc.einsum("ij,jk->ik", nc.ones(3, 4)), RuntimeError, "fewer operands"),
    (lambda: nc.einsum("ij->ij", nc.ones(3, 4), nc.ones(1)), RuntimeError, "more operands"),
    (lambda: nc.einsum("ij,jk->ik", nc.ones(3, 4), nc.ones(5, 5)), RuntimeError,
     "subscript j has size 5 for operand 1"),
    (lambda: nc.einsum("ij->k", nc.ones(3, 4)), RuntimeError,
     "output subscript k does not appear"),
    (lambda: nc.einsum("ij->ii", nc.ones(3, 3)), RuntimeError, "appears more than once"),
    (lambda: nc.einsum("i1->i", nc.ones(3, 3)), RuntimeError, "invalid subscript"),
    (lambda: nc.einsum("ijk->i", nc.ones(3, 3)), RuntimeError, "does not match the number"),
    (lambda: nc.einsum("ij,jk", nc.ones(3, 4), nc.ones(4, 2, dtype=nc.float64)), RuntimeError,
     "same dtype"),
    (lambda: nc.cross(nc.ones(2, 4), nc.ones(2, 4), dim=1), RuntimeError,
     "dimension 1 must have length 3"),
    (lambda: nc.cross(nc.ones(3), nc.ones(2, 3), dim=-1), RuntimeError,
     "same number of dimensions"),
    (lambda: nc.cdist(nc.ones(2, 3), nc.ones(4, 2)), RuntimeError,
     "must have the same number of columns"),
    (lambda: nc.cdist(nc.ones(3), nc.ones(3)), RuntimeError, "at least 2D tensors"),
    (lambda: nc.cdist(nc.ones(2, 3, dtype=nc.int64), nc.ones(2, 3, dtype=nc.int64)),
     RuntimeError, "only supports floating-point dtypes"),
    (lambda: LA.vector_norm(nc.tensor([3, 4])), RuntimeError,
     "Expected a floating point or complex tensor as input. Got Long"),
    (lambda: LA.vector_norm(nc.ones(2), ord="fro"), TypeError, "'ord' must be Number"),
    (lambda: LA.vector_norm(nc.ones(2, dtype=nc.float64), dtype=nc.float32), RuntimeError,
     "convertible without narrowing"),
    (lambda: LA.vector_norm(nc.zeros(0), float("inf")), RuntimeError,
     "cannot compute the inf norm on an empty tensor"),
    (lambda: LA.norm(nc.ones(2, 3, 4), ord=2), RuntimeError,
     "If dim is not specified but ord is, the input must be 1D or 2D"),
    (lambda: LA.matrix_norm(nc.ones(3)), RuntimeError, "must have at least 2 dimensions"),
    (lambda: LA.inv(nc.zeros(2, 3)), RuntimeError, "A must be batches of square matrices"),
    (lambda: LA.inv(nc.zeros(2, 2)), LA.LinAlgError, "singular"),
    (lambda: LA.inv(nc.tensor([[1, 0], [0, 1]])), RuntimeError, "Got Long"),
    (lambda: LA.solve(nc.zeros(2, 2), nc.ones(2)), LA.LinAlgError, "singular"),
    (lambda: LA.solve(nc.ones(3, 3), nc.ones(2, 1)), RuntimeError, "Incompatible shapes"),
    (lambda: LA.cholesky(-nc.tensor([[1.0, 0.0], [0.0, 1.0]])), LA.LinAlgError,
     "not positive-definite"),
    (lambda: LA.qr(nc.ones(2, 2), mode="full"), RuntimeError, "unrecognized mode"),
])
def test_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
