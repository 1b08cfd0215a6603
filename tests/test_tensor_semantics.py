"""PyTorch's Tensor semantics, rule by rule, against PyTorch 2.13: dtype policy, dtype and device
objects, ``.data``, in-place rules and version checks, differentiable ``__setitem__``, views,
Python number protocols, hooks and graph release."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.functional as F
from nncore import nn

torch = pytest.importorskip("torch")


def _same_grads(ours: list, theirs: list) -> None:
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)


# ---- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [np.zeros(3), np.zeros(3, np.float32),
                                  np.arange(3, dtype=np.int32), np.array([True]), [1.0, 2.0],
                                  [1, 2], True, 2.5, 7,
                                  np.float64(1.5), [[1, 2], [3, 4]], np.zeros(2, np.float16)])
def test_dtype_policy_matches_torch(data) -> None:
    ours, theirs = nc.tensor(data), torch.tensor(data)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    assert ours.shape == tuple(theirs.shape)


def test_default_dtype_switch() -> None:
    try:
        nc.set_default_dtype(nc.float64)
        assert nc.get_default_dtype() == nc.float64
        assert nc.tensor([1.0]).dtype == nc.float64 and nc.zeros(2).dtype == nc.float64
        assert nc.tensor([1]).dtype == nc.int64
        assert (nc.arange(3) * 0.5).dtype == nc.float64
    finally:
        nc.set_default_dtype(nc.float32)
    assert nc.tensor([1.0]).dtype == nc.float32
    with pytest.raises(TypeError, match="floating"):
        nc.set_default_dtype(nc.int64)


def test_dtype_objects() -> None:
    assert nc.float32 == np.float32 and nc.float32 == np.dtype("float32") and nc.float == nc.float32
    assert np.float64 == nc.double and np.dtype(nc.long) == np.int64 and nc.long is nc.int64
    assert nc.float32 != nc.float64 and nc.float32 != None  # noqa: E711
    assert {nc.float32: 1}[nc.float32] == 1 and nc.float16 == nc.half
    assert nc.float32.is_floating_point and not nc.int64.is_floating_point
    assert nc.int32.itemsize == 4 and nc.bool.itemsize == 1 and repr(nc.int64) == "nncore.int64"
    assert np.zeros(2, dtype=nc.float64).dtype == np.float64
    assert nc.ones(2).dtype.kind == "f" and nc.ones(2, dtype=nc.int32).dtype == nc.int32
    with pytest.raises(NotImplementedError, match="bfloat16"):
        nc.zeros(2, dtype=nc.bfloat16)
    assert nc.finfo(nc.float32).eps == torch.finfo(torch.float32).eps
    assert nc.iinfo(nc.int64).max == torch.iinfo(torch.int64).max


@pytest.mark.parametrize("method", ["float", "double", "half", "long", "int", "short", "bool",
                                    "byte", "char"])
def test_casts_match_torch(method) -> None:
    x = np.array([[-1.5, 0.0, 2.7]], np.float32)
    ours, theirs = getattr(nc.tensor(x), method)(), getattr(torch.tensor(x), method)()
    assert ours.type() == theirs.type()
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_type_and_to() -> None:
    t = nc.ones(2, 3)
    assert t.type() == "torch.FloatTensor" and t.type(nc.float64).dtype == nc.float64
    assert t.type("torch.LongTensor").dtype == nc.int64
    assert t.to("cpu") is t and t.to(nc.device("cpu")) is t and t.to(nc.float32) is t
    assert t.to("cpu", nc.float64).dtype == nc.float64 and t.to(dtype=nc.int32).dtype == nc.int32
    assert t.to(nc.zeros(1, dtype=nc.float64)).dtype == nc.float64
    assert t.to("cpu", copy=True) is not t and t.cpu() is t
    with pytest.raises(RuntimeError, match="CPU only"):
        t.to("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        t.cuda()
    a = nc.randn(3, requires_grad=True)
    a.double().sum().backward()
    assert a.grad.dtype == nc.float32


# ---- devices -----------------------------------------------------------------------------


def test_device_objects() -> None:
    cpu = nc.device("cpu")
    assert cpu == nc.device("cpu") and cpu == "cpu" and str(cpu) == "cpu"
    assert repr(cpu) == repr(torch.device("cpu")).replace("torch.", "")
    assert nc.device("cuda:1").index == 1 and nc.device("cuda", 0).type == "cuda"
    assert nc.ones(1).device == cpu and nc.zeros(2, device="cpu").device.type == "cpu"
    with pytest.raises(RuntimeError):
        nc.device("gpu")
    with pytest.raises(RuntimeError, match="CPU only"):
        nc.zeros(2, device="cuda")
    m = nn.Linear(2, 3)
    assert m.to("cpu") is m and m.to(nc.device("cpu")) is m
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")
    weight = m.weight
    m.to(nc.float64)
    assert m.weight is weight and m.weight.dtype == nc.float64


def test_cuda_and_backend_namespaces() -> None:
    assert nc.cuda.is_available() is False and nc.cuda.device_count() == 0
    nc.cuda.manual_seed(1)
    nc.cuda.manual_seed_all(1)
    assert nc.accelerator.is_available() is False and nc.accelerator.current_accelerator() is None
    assert nc.backends.mps.is_available() is False and nc.backends.cudnn.is_available() is False
    nc.backends.cuda.matmul.allow_tf32 = True
    nc.backends.cudnn.benchmark = True
    assert nc.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "SSE", "DEFAULT")
    with pytest.raises(RuntimeError, match="CPU only"):
        nc.cuda.synchronize()
    model = nn.Linear(2, 2)
    assert nc.compile(model) is model and nc.jit.script(model) is model


# ---- .data, numpy interop ------------------------------------------------------------------


def test_data_is_a_tensor_sharing_memory() -> None:
    p = nn.Parameter(nc.ones(3))
    d = p.data
    assert isinstance(d, nc.Tensor) and not d.requires_grad and d.is_leaf
    d += 1
    np.testing.assert_array_equal(p.detach().numpy(), [2, 2, 2])
    p.data[0] = 7
    assert p.detach().numpy()[0] == 7
    p.data += nc.ones(3)
    np.testing.assert_array_equal(p.detach().numpy(), [8, 3, 3])
    p.data = nc.zeros(2)
    assert p.shape == (2,) and p.requires_grad
    with pytest.raises(RuntimeError, match="requires grad"):
        p.numpy()
    assert p.detach().numpy() is p.numpy(force=True)


def test_from_numpy_shares_tensor_copies_as_tensor_shares() -> None:
    a = np.arange(4.0)
    t, c, s = nc.from_numpy(a), nc.tensor(a), nc.as_tensor(a)
    a[0] = 9
    assert t[0].item() == 9 and c[0].item() == 0 and s[0].item() == 9
    with pytest.raises(TypeError, match="from_numpy"):
        nc.from_numpy([1, 2])


# ---- in place ------------------------------------------------------------------------------


def test_inplace_on_leaf_requiring_grad_raises_like_torch() -> None:
    a, ta = nc.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    for x in (a, ta):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            x += 1
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            x[0] = 1.0
    with nc.no_grad():
        a += 1
        a[0] = 5.0
    assert a.requires_grad and a.is_leaf and a[0].item() == 5.0


def test_modified_saved_tensor_is_detected() -> None:
    for lib in (nc, torch):
        x = lib.ones(3, requires_grad=True)
        y = x.exp()
        with lib.no_grad():
            y += 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
        x = lib.ones(3, requires_grad=True)
        h = x * 1.0
        z = h * h
        with lib.no_grad():
            h += 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


def test_inplace_on_a_non_leaf_keeps_earlier_uses_exact() -> None:
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((2, 3)).astype(np.float32)
    leaves = []
    for lib in (nc, torch):
        x = lib.tensor(x0, requires_grad=True)
        h = x * 2
        y = h * 3
        h *= x
        h += 1
        z = (y + h * h).sum()
        z.backward()
        leaves.append(x)
    _same_grads(leaves[:1], leaves[1:])


def test_differentiable_setitem_matches_torch() -> None:
    rng = np.random.default_rng(1)
    a0, v0 = rng.standard_normal((4, 5)), rng.standard_normal((2, 5))
    got = []
    for lib in (nc, torch):
        a, v = lib.tensor(a0, requires_grad=True), lib.tensor(v0, requires_grad=True)
        b = a * 1.5
        b[1:3] = v * 2
        b[0, 0] = 4.0
        mask = lib.tensor(a0 > 0.5)
        b[mask] = 0.0
        (b * b).sum().backward()
        got.append((a, v))
    _same_grads(got[0], got[1])


def test_setitem_without_grad_writes_in_place() -> None:
    pe = nc.zeros(6, 4)
    pos = nc.arange(6, dtype=nc.float32).unsqueeze(1)
    pe[:, 0::2] = (pos * 0.5).expand(6, 2)
    tpe = torch.zeros(6, 4)
    tpe[:, 0::2] = (torch.arange(6, dtype=torch.float32).unsqueeze(1) * 0.5).expand(6, 2)
    np.testing.assert_array_equal(pe.numpy(), tpe.numpy())
    logits = nc.tensor([[1.0, 3.0, 2.0]])
    logits[logits < 2.0] = -float("inf")
    assert logits.tolist() == [[-float("inf"), 3.0, 2.0]]


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss", "mse_loss", "l1_loss"])
@pytest.mark.parametrize("op", ["div", "mul", "add", "sub"])
def test_scalar_op_on_a_loss_before_backward(loss, op) -> None:
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((4, 3)).astype(np.float32)
    target = np.array([0, 2, 1, 2]) if loss in ("cross_entropy", "nll_loss") else x0 * 0.3
    got = []
    for lib, fn in ((nc, getattr(F, loss)), (torch, getattr(torch.nn.functional, loss))):
        x = lib.tensor(x0, requires_grad=True)
        inp = x.log_softmax(1) if loss == "nll_loss" else x
        out = fn(inp, lib.tensor(target))
        out = {"div": out / 4, "mul": 2 * out, "add": out + 1.0, "sub": 3.0 - out}[op]
        out.backward()
        got.append(x)
    _same_grads(got[:1], got[1:])


# ---- numbers, views -----------------------------------------------------------------------


def test_python_number_protocols() -> None:
    for lib in (nc, torch):
        assert float(lib.tensor(2.5)) == 2.5 and int(lib.tensor([3])) == 3
        assert bool(lib.tensor([1])) and not bool(lib.tensor(0.0))
        assert [10, 11, 12][lib.tensor(2)] == 12
        assert f"{lib.tensor(1.23456):.2f}" == "1.23"
        with pytest.raises(RuntimeError):
            bool(lib.tensor([1, 2]))
        with pytest.raises(TypeError):
            [0][lib.tensor(0.5)]
        with pytest.raises(TypeError):
            len(lib.tensor(1.0))
        with pytest.raises(TypeError):
            f"{lib.tensor([1.0, 2.0]):.2f}"
    w = nc.tensor([1.0, -2.0])
    assert "{:+.2f} {:+.2f}".format(*w) == "+1.00 -2.00"
    assert [t.shape for t in nc.ones(3, 2)] == [(2,)] * 3


def test_view_reshape_contiguous_match_torch() -> None:
    for lib in (nc, torch):
        t = lib.arange(12).reshape(3, 4).t()
        assert not t.is_contiguous()
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            t.view(12)
        assert t.reshape(12).tolist() == t.contiguous().view(12).tolist()
        assert t.contiguous().is_contiguous()
        qkv = lib.arange(2 * 3 * 12).reshape(2, 3, 12)
        q = qkv.split(4, dim=2)[1] if lib is torch else qkv[:, :, 4:8]
        assert q.view(2, 3, 2, 2).transpose(1, 2).shape == (2, 2, 3, 2)
        assert lib.ones(2, 3).view(-1, 2).shape == (3, 2)
        with pytest.raises(RuntimeError):
            lib.ones(2, 3).view(4, -1)
    a = nc.arange(6).view(2, 3)
    a.view(6)[0] = 100
    assert a[0, 0].item() == 100


# ---- graph ---------------------------------------------------------------------------------


def test_second_backward_raises_unless_retain_graph() -> None:
    for lib in (nc, torch):
        x = lib.ones(2, requires_grad=True)
        y = (x.exp() * 2).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()
        x = lib.ones(2, requires_grad=True)
        y = (x.exp() * 2).sum()
        y.backward(retain_graph=True)
        y.backward()
        np.testing.assert_allclose(x.grad.tolist(), [4 * np.e] * 2, rtol=1e-6)


def test_hooks_and_retain_grad_match_torch() -> None:
    got = []
    for lib in (nc, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        seen: list = []
        x.register_hook(lambda g, seen=seen: seen.append(g.tolist()) or g * 2)
        h = x * x
        h.retain_grad()
        h.register_hook(lambda g: g + 1)
        h.sum().backward()
        got.append((x.grad.tolist(), h.grad.tolist(), seen))
    assert got[0] == got[1]
    p = nn.Parameter(nc.ones(2))
    calls = []
    handle = p.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
    (p * 3).sum().backward()
    handle.remove()
    (p * 3).sum().backward()
    assert calls == [[3.0, 3.0]] and p.grad.tolist() == [6.0, 6.0]


def test_integer_index_gives_a_0d_view_usable_as_data():
    x = nc.tensor([1, 2, 3])
    one = x[1]
    assert isinstance(one._array, np.ndarray) and one.shape == ()
    one.fill_(7)  # a view, as PyTorch: the write reaches x
    assert x.tolist() == [1, 7, 3]
    # nested lists of 0-d tensors convert (generate.py's ``Tensor([[word_idx]])``)
    assert nc.Tensor([[one]]).long().tolist() == [[7]]
    assert isinstance(nc.tensor([1.0, 2.0]).sum()._array, np.ndarray)
