"""In-place methods: PyTorch's rules (leaf error, version counter, writes through views,
optimizer-style updates), values, dtypes and gradients against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from nncore.tensor_ops import inplace

BRIEF = ("add_ sub_ mul_ div_ pow_ neg_ clamp_ clamp_min_ clamp_max_ sqrt_ exp_ log_ abs_ zero_ "
         "fill_ copy_ lerp_ addcmul_ addcdiv_ uniform_ normal_ bernoulli_ exponential_ random_ "
         "sigmoid_ tanh_ relu_ floor_ round_ masked_fill_").split()


def _pair(values, requires_grad=False, dtype="float32"):
    tt = pytest.importorskip("torch")
    a = np.asarray(values, dtype=dtype)
    return (nc.tensor(a, requires_grad=requires_grad),
            tt.tensor(a, requires_grad=requires_grad))


def test_every_in_place_method_exists_on_both() -> None:
    tt = pytest.importorskip("torch")
    for name in BRIEF:
        assert hasattr(nc.Tensor, name), name
    for name in inplace.METHODS:
        assert hasattr(tt.Tensor, name), f"torch.Tensor.{name} does not exist"


# ---- PyTorch's rules ---------------------------------------------------------------------------


def test_leaf_requiring_grad_refuses_in_grad_mode_only() -> None:
    tt = pytest.importorskip("torch")
    for name, args in (("add_", (1.0,)), ("mul_", (2.0,)), ("zero_", ()), ("copy_", None),
                       ("normal_", ()), ("sigmoid_", ()), ("clamp_", (0.0, 1.0))):
        ours, theirs = nc.ones(3, requires_grad=True), tt.ones(3, requires_grad=True)
        a_ours = (nc.zeros(3),) if args is None else args
        a_theirs = (tt.zeros(3),) if args is None else args
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(ours, name)(*a_ours)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(theirs, name)(*a_theirs)
        with nc.no_grad():
            getattr(ours, name)(*a_ours)
        assert ours.requires_grad and ours.is_leaf


def test_version_counter_catches_a_saved_input_modified_in_place() -> None:
    tt = pytest.importorskip("torch")
    for lib in (nc, tt):
        w = lib.ones(3, requires_grad=True)
        x = lib.ones(3)
        y = (w * x).sum()  # saves x
        x.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()
        a = lib.ones(3, requires_grad=True)
        b = a * 2
        c = (b * b).sum()  # saves b
        with lib.no_grad():
            b.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            c.backward()
        d = a.exp()  # saves its output
        e = d.sum()
        with lib.no_grad():
            d.zero_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            e.backward()


def test_in_place_on_views_writes_through_to_the_base() -> None:
    tt = pytest.importorskip("torch")
    for lib in (nc, tt):
        base = lib.zeros(3, 4)
        base[1].add_(1)
        base.t()[2].mul_(0).add_(5)  # column 2 through a transposed view
        base.view(12)[0:2].fill_(7)
        base[:, 3].copy_(lib.tensor([1.0, 2.0, 3.0]))
        base[0].masked_fill_(lib.tensor([False, True, False, False]), -1)
        base[2:].clamp_(max=2.5)
        if lib is nc:
            ours = base.numpy().copy()
        else:
            np.testing.assert_array_equal(ours, base.numpy())


def test_expanded_views_refuse_writes() -> None:
    e = nc.ones(1, 3).expand(4, 3)
    for fn in (lambda t: t.add_(1), lambda t: t.fill_(2), lambda t: t.copy_(nc.zeros(3)),
               lambda t: t.mul_(nc.ones(3))):
        with pytest.raises(RuntimeError, match="expand"):
            fn(e)


def test_optimizer_style_updates_write_the_parameter_in_memory() -> None:
    tt = pytest.importorskip("torch")
    ours, theirs = nc.nn.Parameter(nc.ones(2, 3)), tt.nn.Parameter(tt.ones(2, 3))
    for p in (ours, theirs):
        (p * p).sum().backward()
    memory, version = ours.numpy(force=True), ours._version
    ours.data.add_(ours.grad, alpha=-0.1)
    theirs.data.add_(theirs.grad, alpha=-0.1)
    with nc.no_grad():
        ours -= 0.05 * ours.grad
        ours.mul_(0.9).addcdiv_(ours.grad, ours.grad.sqrt().add(1e-8), value=-0.01)
    with tt.no_grad():
        theirs -= 0.05 * theirs.grad
        theirs.mul_(0.9).addcdiv_(theirs.grad, theirs.grad.sqrt().add(1e-8), value=-0.01)
    assert ours.numpy(force=True) is memory and ours.is_leaf and ours.requires_grad
    assert ours._version > version
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6)


def test_adam_like_moment_updates_match_torch() -> None:
    tt = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    m, v = nc.zeros(3, 5), nc.zeros(3, 5)
    tm, tv = tt.zeros(3, 5), tt.zeros(3, 5)
    for _ in range(3):
        m.mul_(0.9).add_(nc.tensor(g), alpha=0.1)
        v.mul_(0.999).addcmul_(nc.tensor(g), nc.tensor(g), value=0.001)
        m.lerp_(nc.tensor(g), 0.5)
        tm.mul_(0.9).add_(tt.tensor(g), alpha=0.1)
        tv.mul_(0.999).addcmul_(tt.tensor(g), tt.tensor(g), value=0.001)
        tm.lerp_(tt.tensor(g), 0.5)
    np.testing.assert_allclose(m.numpy(), tm.numpy(), rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-6)


# ---- autograd through in-place ops ---------------------------------------------------------------


def test_gradients_through_in_place_chains_match_torch() -> None:
    tt = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a0, o0 = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    results = []
    for lib in (nc, tt):
        a = lib.tensor(a0, requires_grad=True)
        o = lib.tensor(o0, requires_grad=True)
        # NOTE: a fresh tensor (b * 1) after each op that saves its output, which PyTorch
        # forbids modifying in place.
        b = a * 1.5
        b.add_(o, alpha=2).mul_(o).sub_(0.5).div_(o.abs().add(1)).sigmoid_()
        b = (b * 1).tanh_()
        b = (b * 1).pow_(2).clamp_(0.01, 0.9).addcmul_(o, a, value=0.3)
        b.lerp_(a, 0.25).addcdiv_(o, a.abs().add(1), value=-1).exp_()
        b = (b * 1).log_().add_(1).sqrt_()
        b = b * 1
        b.masked_fill_(b > 0.9, 0.0)
        c = lib.zeros(3, 4, dtype=lib.float64)
        c.copy_(b * o).relu_()
        b = c
        (b * lib.arange(12, dtype=lib.float64).reshape(3, 4)).sum().backward()
        results.append((b.detach().numpy(), a.grad.numpy(), o.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_in_place_ops_that_save_their_output_backward_like_torch() -> None:
    for name in ("exp_", "sigmoid_", "tanh_", "sqrt_", "rsqrt_", "reciprocal_", "tan_"):
        a, ta = _pair([0.3, 0.7, 1.2], requires_grad=True)
        b, tb = a * 1, ta * 1
        getattr(b, name)()
        getattr(tb, name)()
        (b * b).sum().backward()
        (tb * tb).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, err_msg=name)


def test_fills_and_copies_cut_or_route_the_gradient_like_torch() -> None:
    tt = pytest.importorskip("torch")
    for fill in (lambda t, lib: t.zero_(), lambda t, lib: t.fill_(3.0),
                 lambda t, lib: t.normal_(), lambda t, lib: t.copy_(lib.ones(3))):
        a, ta = _pair([1.0, 2.0, 3.0], requires_grad=True)
        b, tb = a * 2, ta * 2
        fill(b, nc)
        fill(tb, tt)
        (b * a).sum().backward()
        (tb * ta).sum().backward()
        if fill.__code__.co_names.count("normal_"):
            np.testing.assert_array_equal(a.grad.numpy() - b.detach().numpy(),
                                          ta.grad.numpy() - tb.detach().numpy())
        else:
            np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    s, ts = _pair(2.0, requires_grad=True)
    d, td = nc.zeros(2, 3), tt.zeros(2, 3)
    d.fill_(s)
    td.fill_(ts)
    src, tsrc = _pair([[1.0], [2.0]], requires_grad=True, dtype="float64")
    d.copy_(src * s)  # broadcast (2, 1) -> (2, 3) and cast float64 -> float32
    td.copy_(tsrc * ts)
    assert d.dtype == nc.float32 and d.requires_grad and not d.is_leaf
    (d * d).sum().backward()
    (td * td).sum().backward()
    np.testing.assert_allclose(src.grad.numpy(), tsrc.grad.numpy(), rtol=1e-6)
    assert src.grad.dtype == nc.float64
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-6)


# ---- values, dtypes and errors -------------------------------------------------------------------


def test_copy_casts_any_dtype_and_broadcasts_like_torch() -> None:
    tt = pytest.importorskip("torch")
    src = np.array([[1.7, -2.5, 300.0]])
    for dst_dtype in ("int64", "uint8", "bool", "float16", "float32"):
        ours = nc.zeros((2, 3), dtype=getattr(nc, dst_dtype)).copy_(nc.tensor(src))
        theirs = tt.zeros((2, 3), dtype=getattr(tt, dst_dtype)).copy_(tt.tensor(src))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=dst_dtype)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        nc.zeros(3).copy_(nc.zeros(2))
    with pytest.raises(TypeError, match="copy_"):
        nc.zeros(3).copy_([1, 2, 3])


def test_dtype_rules_of_in_place_ops_like_torch() -> None:
    tt = pytest.importorskip("torch")
    cases = [("int64", "add_", (1.5,)), ("int64", "add_", ("float",)), ("int64", "div_", (2,)),
             ("int64", "mul_", (3,)), ("float32", "add_", ("float64",)), ("int32", "sub_", (1,)),
             ("uint8", "add_", (300,)), ("int64", "sqrt_", ()), ("int64", "fill_", (2.7,)),
             ("bool", "sub_", (True,)), ("int64", "div_", (2,), {"rounding_mode": "floor"}),
             ("float32", "pow_", (2,)), ("int64", "clamp_", (0.5,)), ("int64", "neg_", ()),
             ("float16", "sigmoid_", ()), ("int64", "relu_", ()), ("float32", "exp_", ())]
    for d, name, args, *kw in cases:
        kwargs = kw[0] if kw else {}
        vals = np.array([1, 2, 3], dtype=d)
        def conv(x, lib):
            if x == "float":
                return lib.tensor([0.5, 0.5, 0.5])
            if x == "float64":
                return lib.tensor([0.25, 0.5, 1.0], dtype=lib.float64)
            return x
        try:
            theirs = getattr(tt.from_numpy(vals.copy()), name)(*[conv(x, tt) for x in args],
                                                               **kwargs)
        except Exception as e:  # noqa: BLE001 (nncore must raise the same type)
            with pytest.raises(type(e)):
                getattr(nc.tensor(vals), name)(*[conv(x, nc) for x in args], **kwargs)
            continue
        ours = getattr(nc.tensor(vals), name)(*[conv(x, nc) for x in args], **kwargs)
        where = f"{d}.{name}{args}"
        assert ours.dtype == str(theirs.dtype).removeprefix("torch."), where
        np.testing.assert_allclose(ours.numpy().astype(float), theirs.numpy().astype(float),
                                   rtol=1e-3, err_msg=where)


def test_unary_in_place_values_match_torch() -> None:
    tt = pytest.importorskip("torch")
    vals = np.array([-1.7, -0.5, 0.3, 2.5, 0.5], np.float32)
    for name in ("neg_", "abs_", "exp_", "sigmoid_", "tanh_", "relu_", "floor_", "ceil_",
                 "round_", "trunc_", "frac_", "sign_", "square_", "sin_", "cos_", "expm1_",
                 "reciprocal_", "clamp_min_", "clamp_max_", "logical_not_", "erf_"):
        args = (0.1,) if name.startswith("clamp") else ()
        ours = getattr(nc.tensor(vals), name)(*args)
        theirs = getattr(tt.tensor(vals), name)(*args)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, err_msg=name)
    pos = np.abs(vals) + 0.1
    for name in ("sqrt_", "log_", "log1p_", "rsqrt_", "log2_"):
        np.testing.assert_allclose(getattr(nc.tensor(pos), name)().numpy(),
                                   getattr(tt.tensor(pos), name)().numpy(), rtol=1e-6)


def test_operators_in_place() -> None:
    tt = pytest.importorskip("torch")
    for lib in (nc, tt):
        x = lib.arange(1, 7).reshape(2, 3)
        keep = x
        x += 2
        x *= 3
        x -= 1
        x //= 2
        x %= 5
        x **= 2
        x &= 7
        x |= 8
        x ^= 1
        assert x is keep
        y = lib.ones(2, 3)
        y /= 4
        if lib is nc:
            ours = (x.numpy().copy(), y.numpy().copy())
    np.testing.assert_array_equal(ours[0], x.numpy())
    np.testing.assert_array_equal(ours[1], y.numpy())
    z = nc.ones(3, dtype=nc.int64)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        z /= 2


def test_masked_fill_values_dtypes_and_errors_like_torch() -> None:
    tt = pytest.importorskip("torch")
    vals = np.arange(12).reshape(3, 4)
    mask = np.array([True, False, True, False])
    ours = nc.tensor(vals).masked_fill_(nc.tensor(mask), 2.9)
    theirs = tt.tensor(vals).masked_fill_(tt.tensor(mask), 2.9)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    ours = nc.ones(3, 4).masked_fill_(nc.tensor(mask), nc.tensor(-5.0))
    np.testing.assert_array_equal(ours.numpy()[:, 0], [-5, -5, -5])
    with pytest.raises(RuntimeError, match="masked_fill_ only supports boolean masks"):
        nc.ones(4).masked_fill_(nc.tensor([1, 0, 1, 0]), 0.0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        nc.ones(4).masked_fill_(nc.tensor(mask), nc.ones(1))
    with pytest.raises(RuntimeError, match="doesn.t match the broadcast shape"):
        nc.ones(4).masked_fill_(nc.tensor(np.ones((2, 4), bool)), 0.0)


def test_in_place_shape_errors_like_torch() -> None:
    tt = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast "
                                           r"shape \[2, 3\]"):
        nc.ones(3).add_(nc.ones(2, 3))
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        tt.ones(3).add_(tt.ones(2, 3))
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        nc.ones(3).mul_(nc.ones(2, 1))
    with pytest.raises(RuntimeError, match="doesn't match"):
        nc.ones(3).addcmul_(nc.ones(2, 3), nc.ones(3))
