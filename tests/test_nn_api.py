"""nn.Module's API against PyTorch's: registration rules and errors, traversal, lookup by name,
modes, dtype conversion, hooks (order, return values, removal, backward hooks), state_dict and
load_state_dict (keys, sharing, messages, a failed load changing nothing), the containers' list
and dict behaviour, and the ``nncore.nn.modules`` import paths."""

from __future__ import annotations

import copy
import pickle
import re
from collections import OrderedDict

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore import nn

torch = pytest.importorskip("torch")

# Each scenario runs once with nncore as `lib` and once with torch as `lib`, and both runs must
# give the same record (names, shapes, error types and messages).


def _lib(which: str):
    return (nc, nn) if which == "nc" else (torch, torch.nn)


def _tensor(which: str, array: np.ndarray, requires_grad: bool = False):
    t = nc.tensor(array) if which == "nc" else torch.tensor(array)
    return t.requires_grad_(requires_grad)


def _numpy(t) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _both(scenario):
    ours, theirs = scenario("nc"), scenario("torch")
    assert ours == theirs
    return ours


def _error(fn) -> tuple[str, str]:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (the type and message are the record)
        return type(e).__name__, _normalise(str(e))
    return ("no error", "")


def _normalise(msg: str) -> str:
    # The only textual differences allowed: where each library keeps a class, and PyTorch's
    # torch.Size([2, 3]) where nncore prints (2, 3).
    msg = re.sub(r"<class '[\w.]*?\.?(\w+)'>", r"<class '\1'>", msg)
    msg = re.sub(r"torch\.Size\(\[([\d, ]*)\]\)", r"(\1)", msg)
    return msg.replace("nncore.nn.", "torch.nn.")


# ---- registration ---------------------------------------------------------------------------


def test_registration_rules_and_errors_match_torch() -> None:
    def scenario(which):
        lib, nn_ = _lib(which)
        m = nn_.Module()
        rec = []
        m.w = nn_.Parameter(lib.zeros(2, 3))
        m.child = nn_.Linear(2, 2)
        m.register_buffer("buf", lib.ones(3))
        m.register_buffer("tmp", lib.ones(1), persistent=False)
        m.plain = 5
        rec.append(sorted(m._parameters) + sorted(m._modules) + sorted(m._buffers))
        rec.append(_error(lambda: setattr(m, "w", lib.zeros(2))))
        rec.append(_error(lambda: setattr(m, "child", 3)))
        rec.append(_error(lambda: setattr(m, "buf", 3)))
        rec.append(_error(lambda: m.register_buffer("a.b", lib.ones(1))))
        rec.append(_error(lambda: m.register_buffer("", lib.ones(1))))
        rec.append(_error(lambda: m.register_buffer("plain", lib.ones(1))))
        rec.append(_error(lambda: m.register_buffer(3, lib.ones(1))))
        rec.append(_error(lambda: m.register_buffer("x", [1.0])))
        rec.append(_error(lambda: m.register_parameter("plain", None)))
        rec.append(_error(lambda: m.register_parameter("q", lib.zeros(1))))
        rec.append(_error(lambda: m.add_module("a.b", nn_.ReLU())))
        rec.append(_error(lambda: m.add_module("r", 3)))
        rec.append(_error(lambda: m.missing))
        m.w = None  # a registered parameter may become None
        m.child = None
        m.buf = None
        rec.append([m.w, m.child, m.buf, list(m.state_dict())])
        m.w = nn_.Parameter(lib.zeros(1))
        m.plain = nn_.Parameter(lib.zeros(1))  # a plain attribute becomes a parameter
        del m.tmp
        rec.append([sorted(m._parameters), "plain" in m.__dict__, "tmp" in m._buffers])
        rec.append([k for k in ("w", "child", "buf", "plain", "forward") if k in dir(m)])
        return rec

    _both(scenario)


def test_buffer_and_parameter_assignment_before_init_raise() -> None:
    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(nc.zeros(1))

    with pytest.raises(AttributeError, match="cannot assign parameters before "
                                             r"Module.__init__\(\) call"):
        Early()
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'x'"):
        nn.Module(x=1)


def test_buffer_class_and_ndarray_buffers() -> None:
    m = nn.Module()
    m.b = nn.Buffer(nc.ones(2), persistent=False)
    assert "b" in m._buffers and list(m.state_dict()) == []
    m.register_buffer("arr", np.arange(3))  # nncore extension: a NumPy array is wrapped
    assert isinstance(m.arr, nc.Tensor) and m.arr.dtype == nc.int64


# ---- traversal and lookup -------------------------------------------------------------------


def _shared_model(nn_):
    shared = nn_.Linear(2, 2)
    m = nn_.Sequential(OrderedDict([("a", shared), ("b", nn_.Sequential(shared, nn_.ReLU())),
                                    ("c", nn_.BatchNorm1d(2))]))
    m.b.tied = m.a.weight  # a parameter shared by two modules
    return m


def test_traversal_names_and_duplicates_match_torch() -> None:
    def scenario(which):
        _, nn_ = _lib(which)
        m = _shared_model(nn_)
        return [
            [n for n, _ in m.named_modules()],
            [n for n, _ in m.named_modules(remove_duplicate=False)],
            [n for n, _ in m.named_modules(prefix="root")],
            [n for n, _ in m.named_parameters()],
            [n for n, _ in m.named_parameters(remove_duplicate=False)],
            [n for n, _ in m.named_parameters(prefix="p", recurse=True)],
            [n for n, _ in m.b.named_parameters(recurse=False)],
            [n for n, _ in m.named_buffers()],
            [n for n, _ in m.named_children()],
            len(list(m.parameters())), len(list(m.modules())), len(list(m.buffers())),
        ]

    _both(scenario)


def test_get_submodule_parameter_buffer_match_torch() -> None:
    def scenario(which):
        _, nn_ = _lib(which)
        m = _shared_model(nn_)
        rec = [type(m.get_submodule("b.0")).__name__, tuple(m.get_parameter("b.0.bias").shape),
               tuple(m.get_buffer("c.running_mean").shape), m.get_submodule("") is m]
        for call in (lambda: m.get_submodule("b.x"), lambda: m.get_submodule("c.weight"),
                     lambda: m.get_parameter("c.running_mean"), lambda: m.get_parameter("a.x"),
                     lambda: m.get_buffer("c.weight"), lambda: m.get_buffer("z.q"),
                     lambda: m.set_submodule("", nn_.ReLU()),
                     lambda: m.set_submodule("b.q", nn_.ReLU(), strict=True),
                     lambda: m.set_submodule("a.weight", nn_.ReLU())):
            rec.append(_error(call))
        m.set_submodule("b.1", nn_.Tanh())
        rec.append(type(m.b[1]).__name__)
        return rec

    _both(scenario)


def test_apply_order_train_eval_requires_grad_match_torch() -> None:
    def scenario(which):
        _, nn_ = _lib(which)
        m = _shared_model(nn_)
        seen = []
        m.apply(lambda mod: seen.append(type(mod).__name__))
        m.eval()
        modes = [mod.training for mod in m.modules()]
        m.b.train()
        modes += [mod.training for mod in m.modules()]
        m.requires_grad_(False)
        flags = [p.requires_grad for p in m.parameters()]
        return [seen, modes, flags, _error(lambda: m.train("yes"))]

    _both(scenario)


def test_zero_grad_keeps_or_drops_the_grad_tensor() -> None:
    m = nn.Linear(3, 2)
    m(nc.randn(4, 3)).sum().backward()
    g = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g and not g.numpy().any()
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_to_double_half_type_keep_parameter_objects_and_grads() -> None:
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    w = m[0].weight
    m(nc.randn(4, 3)).sum().backward()
    assert m.double() is m
    assert m[0].weight is w and w.dtype == nc.float64 and w.grad.dtype == nc.float64
    assert m[1].running_mean.dtype == nc.float64
    assert m[1].num_batches_tracked.dtype == nc.int64  # integer buffers are left alone
    m.to(nc.float32)
    assert w.dtype == nc.float32 and m[1].running_var.dtype == nc.float32
    m.half()
    assert w.dtype == nc.float16
    m.float()
    assert m.to("cpu") is m and m.cpu() is m and m.share_memory() is m
    with pytest.raises(NotImplementedError, match="cuda"):
        m.to("cuda")
    with pytest.raises(NotImplementedError, match="cuda"):
        m.cuda()
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex"):
        m.to(nc.int64)
    m.type(nc.float64)
    assert m[1].num_batches_tracked.dtype == nc.float64  # type() casts every tensor, as torch


def test_pickle_and_deepcopy_keep_structure_and_values() -> None:
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    m.register_forward_hook(_double_output)
    for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        x = nc.randn(2, 3)
        np.testing.assert_array_equal(clone(x).numpy(force=True), m(x).numpy(force=True))
        assert clone[0].weight is not m[0].weight
        assert list(clone.state_dict()) == list(m.state_dict())


def _double_output(module, args, output):
    return output * 2


# ---- forward hooks --------------------------------------------------------------------------


def test_forward_hook_order_return_values_and_removal_match_torch() -> None:
    def scenario(which):
        lib, nn_ = _lib(which)
        m = nn_.Linear(3, 2)
        log = []

        def pre_a(mod, args):
            log.append(("pre_a", len(args)))
            return args[0] * 2  # a single value is wrapped into a tuple

        def pre_b(mod, args, kwargs):
            log.append(("pre_b", sorted(kwargs)))
            return None

        def pre_first(mod, args):
            log.append("pre_first")

        def post_a(mod, args, out):
            log.append(("post_a", tuple(out.shape)))
            return out + 1

        def post_kw(mod, args, kwargs, out):
            log.append("post_kw")

        handles = [m.register_forward_pre_hook(pre_a),
                   m.register_forward_pre_hook(pre_b, with_kwargs=True),
                   m.register_forward_pre_hook(pre_first, prepend=True),
                   m.register_forward_hook(post_a),
                   m.register_forward_hook(post_kw, with_kwargs=True)]
        x = _tensor(which, np.ones((1, 3), np.float32))
        with lib.no_grad():
            m.weight.fill_(0.5) if which == "torch" else m.weight.data.__setitem__(Ellipsis, 0.5)
            m.bias.zero_() if which == "torch" else m.bias.data.__setitem__(Ellipsis, 0.0)
            y = m(x)
        log.append(_numpy(y).tolist())
        handles[0].remove()
        handles[0].remove()  # a second remove is a no-op
        with handles[3]:
            pass  # the context manager removes on exit
        with lib.no_grad():
            log.append(_numpy(m(x)).tolist())
        log.append(sorted(type(h).__name__ for h in handles))
        return log

    _both(scenario)


def test_forward_pre_hook_bad_return_and_always_call_match_torch() -> None:
    def scenario(which):
        _, nn_ = _lib(which)
        m = nn_.Linear(3, 2)
        log = []
        h = m.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
        rec = [_error(lambda: m(_tensor(which, np.ones((1, 3), np.float32))))]
        h.remove()
        m.register_forward_hook(lambda mod, a, out: log.append(("always", out)),
                                always_call=True)
        m.register_forward_hook(lambda mod, a, out: log.append("never"))
        rec.append(_error(lambda: m(_tensor(which, np.ones((1, 4), np.float32))))[0])
        return rec[:1] + [rec[1], log]

    ours, theirs = scenario("nc"), scenario("torch")
    assert ours[0] == theirs[0] and ours[2] == theirs[2] == [("always", None)]
    assert ours[1] == "ValueError" and theirs[1] == "RuntimeError"  # the forward's own error


def test_global_hooks_run_before_module_hooks() -> None:
    from nncore.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    log = []
    m = nn.Linear(2, 2)
    m.register_forward_pre_hook(lambda mod, a: log.append("local pre"))
    m.register_forward_hook(lambda mod, a, o: log.append("local post"))
    handles = [register_module_forward_pre_hook(lambda mod, a: log.append("global pre")),
               register_module_forward_hook(lambda mod, a, o: log.append("global post"))]
    try:
        m(nc.randn(1, 2))
    finally:
        for h in handles:
            h.remove()
    assert log == ["global pre", "local pre", "global post", "local post"]
    log.clear()
    m(nc.randn(1, 2))
    assert log == ["local pre", "local post"]


def test_registration_hooks_can_replace_values() -> None:
    from nncore.nn.modules.module import register_module_parameter_registration_hook

    seen = []
    h = register_module_parameter_registration_hook(
        lambda mod, name, p: seen.append((type(mod).__name__, name)))
    try:
        nn.Linear(2, 3)
    finally:
        h.remove()
    assert seen == [("Linear", "weight"), ("Linear", "bias")]


# ---- backward hooks -------------------------------------------------------------------------


class _Mix(nn.Module):
    """Two tensor inputs and a non-tensor one, two outputs."""

    def forward(self, a, b, scale):
        return a * b * scale, a + b


class _TMix(torch.nn.Module):
    def forward(self, a, b, scale):
        return a * b * scale, a + b


def test_full_backward_hooks_match_torch_values_and_replacement() -> None:
    rng, seed = fresh_rng()
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)

    def scenario(which):
        mod = _Mix() if which == "nc" else _TMix()
        log = []

        def pre(m, grad_output):
            log.append(("pre", [None if g is None else _numpy(g).round(5).tolist()
                                for g in grad_output]))
            return (grad_output[0] * 2, grad_output[1])

        def hook(m, grad_input, grad_output):
            log.append(("hook", [None if g is None else _numpy(g).round(5).tolist()
                                 for g in grad_input + grad_output]))
            return (grad_input[0] * 0 + 1, grad_input[1], None)

        mod.register_full_backward_pre_hook(pre)
        mod.register_full_backward_hook(hook)
        ta, tb = _tensor(which, a, True), _tensor(which, b, True)
        y1, y2 = mod(ta, tb, 3.0)
        (y1.sum() + (y2 * y2).sum()).backward()
        log.append(("a.grad", _numpy(ta.grad).round(5).tolist()))
        log.append(("b.grad", _numpy(tb.grad).round(5).tolist()))
        return log

    ours, theirs = scenario("nc"), scenario("torch")
    for (k1, v1), (k2, v2) in zip(ours, theirs):
        assert k1 == k2
        for x, y in zip(v1 if k1 in ("pre", "hook") else [v1], v2 if k2 in ("pre", "hook")
                        else [v2]):
            if x is None or y is None:
                assert x is None and y is None, f"{k1} (seed {seed})"
            else:
                np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4, err_msg=f"{k1} {seed}")


def test_full_backward_hook_on_a_layer_and_removal() -> None:
    ours = nn.Linear(5, 3)
    theirs = torch.nn.Linear(5, 3)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in
                            ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    records = {}
    for name, m, t in (("nc", ours, nc.tensor(x, requires_grad=True)),
                       ("torch", theirs, torch.tensor(x, requires_grad=True))):
        got = []
        h = m.register_full_backward_hook(lambda mod, gi, go, got=got: got.append(
            [_numpy(g).copy() for g in gi + go]))  # copies: torch reuses grad buffers
        y = m(t)
        (y * y).sum().backward()
        h.remove()
        m(t).sum().backward()
        records[name] = got
    assert len(records["nc"]) == len(records["torch"]) == 1
    for g1, g2 in zip(records["nc"][0], records["torch"][0]):
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-5)


def test_full_backward_hook_fires_on_outputs_when_no_input_requires_grad() -> None:
    m = nn.Linear(3, 2)
    got = []
    m.register_full_backward_hook(lambda mod, gi, go: got.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        m(nc.randn(4, 3)).sum().backward()
    assert got == [((None,), (4, 2))]
    m2 = nn.Linear(3, 2)
    m2.register_full_backward_hook(lambda mod, gi, go: (nc.ones(4, 3),))
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="should always return None"):
        m2(nc.randn(4, 3)).sum().backward()


def test_backward_hook_kinds_cannot_mix_and_bad_counts_raise() -> None:
    m = nn.Linear(3, 2)
    m.register_full_backward_hook(lambda mod, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full"):
        m.register_backward_hook(lambda mod, gi, go: None)
    m2 = nn.Linear(3, 2)
    m2.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        m2(nc.randn(2, 3, requires_grad=True)).sum().backward()


# ---- state_dict -----------------------------------------------------------------------------


def test_state_dict_keys_sharing_keep_vars_and_metadata_match_torch() -> None:
    def scenario(which):
        lib, nn_ = _lib(which)
        m = nn_.Sequential(nn_.Linear(3, 2), nn_.BatchNorm1d(2))
        m[0].register_buffer("scratch", lib.zeros(1), persistent=False)
        sd = m.state_dict()
        kv = m.state_dict(keep_vars=True)
        dest = OrderedDict()
        m.state_dict(destination=dest, prefix="net.")
        return [list(sd), [type(v).__name__ for v in sd.values()],
                [v.requires_grad for v in sd.values()], kv["0.weight"] is m[0].weight,
                kv["0.weight"].requires_grad, list(dest), dict(sd._metadata)]

    ours, theirs = scenario("nc"), scenario("torch")
    ours[1] = [n.replace("Tensor", "X").replace("Parameter", "X") for n in ours[1]]
    theirs[1] = [n.replace("Tensor", "X").replace("Parameter", "X") for n in theirs[1]]
    ours[6] = {k: v for k, v in ours[6].items()}
    theirs[6] = {k: {"version": v["version"]} for k, v in theirs[6].items()}
    ours[6]["1"] = theirs[6]["1"]  # BatchNorm's own version number is norm.py's business
    assert ours == theirs
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    sd["weight"][0, 0] = 7.0  # shares memory with the parameter
    assert m.weight.numpy(force=True)[0, 0] == 7.0


def test_state_dict_hooks_and_extra_state() -> None:
    class WithExtra(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.step = 3

        def get_extra_state(self):
            return {"step": self.step}

        def set_extra_state(self, state):
            self.step = state["step"]

    m = WithExtra()
    calls = []
    m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: calls.append(("pre", prefix)))
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.__delitem__("lin.bias"))
    sd = m.state_dict()
    assert list(sd) == ["_extra_state", "lin.weight"] and calls == [("pre", "")]
    other = WithExtra()
    other.step = 0
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "lin.bias"'):
        other.load_state_dict(sd)
    assert other.step == 0  # nothing applied
    res = other.load_state_dict(sd, strict=False)
    assert other.step == 3 and res.missing_keys == ["lin.bias"]
    bad = WithExtra()
    bad.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd)
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        bad.state_dict()


# ---- load_state_dict ------------------------------------------------------------------------


def _mlp(nn_):
    return nn_.Sequential(nn_.Linear(4, 3), nn_.ReLU(), nn_.Linear(3, 2), nn_.BatchNorm1d(2))


def test_load_state_dict_messages_match_torch() -> None:
    source = {k: v.numpy() for k, v in _mlp(torch.nn).state_dict().items()}
    broken = dict(source)
    del broken["0.bias"]
    broken["2.weight"] = np.zeros((5, 5), np.float32)
    broken["9.weight"] = np.zeros(1, np.float32)
    broken["3.weight"] = "not a tensor"

    def scenario(which):
        _, nn_ = _lib(which)
        m = _mlp(nn_)
        conv = (lambda a: a) if which == "nc" else (
            lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else a)
        rec = [_error(lambda: m.load_state_dict({k: conv(v) for k, v in broken.items()}))]
        res = m.load_state_dict({k: conv(v) for k, v in source.items() if k != "0.bias"},
                                strict=False)
        rec += [res.missing_keys, res.unexpected_keys, repr(m.load_state_dict(
            {k: conv(v) for k, v in source.items()})), _error(lambda: m.load_state_dict(3))[0]]
        return rec

    _both(scenario)


def test_failed_load_changes_nothing_and_good_load_copies_in_place() -> None:
    m = _mlp(nn)
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    params = [p for p in m.parameters()]
    good = {k: v.numpy() + 1 for k, v in _mlp(nn).state_dict().items()}
    bad = dict(good)
    bad["2.weight"] = np.zeros((9, 9), np.float32)  # one bad entry among good ones
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):
        m.load_state_dict(bad)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)
    m.load_state_dict(good)
    assert [p for p in m.parameters()] == params  # the same Parameter objects
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), good[k].astype(v.numpy().dtype), err_msg=k)
    assert m[0].weight.dtype == nc.float32  # a float64 array is cast to the parameter's dtype
    m.load_state_dict({k: v.astype(np.float64) if v.dtype.kind == "f" else v
                       for k, v in good.items()})
    assert m[0].weight.dtype == nc.float32


def test_load_state_dict_from_torch_tensors_assign_and_scalars() -> None:
    theirs = _mlp(torch.nn)
    ours = _mlp(nn)
    ours.load_state_dict(theirs.state_dict())  # torch tensors convert through NumPy
    np.testing.assert_array_equal(ours[2].weight.numpy(force=True), theirs[2].weight.detach())
    src = {k: nc.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(src, assign=True)
    assert isinstance(ours[0].weight, nn.Parameter) and ours[0].weight.requires_grad
    src["0.weight"][0, 0] = 42.0  # assigned tensors share memory with the state dict
    assert ours[0].weight.numpy(force=True)[0, 0] == 42.0
    bn = nn.BatchNorm1d(2)
    sd = {k: v.numpy() for k, v in bn.state_dict().items()}
    sd["num_batches_tracked"] = np.array([5])  # a 1-element 1-D value loads into a 0-d buffer
    bn.load_state_dict(sd)
    assert int(bn.num_batches_tracked) == 5


def test_load_state_dict_hooks() -> None:
    m = nn.Linear(2, 2)
    calls = []

    def rename(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        calls.append("pre")
        if prefix + "w" in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")

    def forgive(module, keys):
        calls.append("post")
        keys.missing_keys.clear()

    m.register_load_state_dict_pre_hook(rename)
    m.register_load_state_dict_post_hook(forgive)
    w = np.full((2, 2), 3.0, np.float32)
    res = m.load_state_dict({"w": w})
    assert calls == ["pre", "post"] and res.missing_keys == []
    np.testing.assert_array_equal(m.weight.numpy(force=True), w)
    m2 = nn.Linear(2, 2)
    old = m2.weight.numpy(force=True).copy()
    m2.register_load_state_dict_post_hook(lambda mod, keys: None)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        m2.load_state_dict({"weight": w})
    np.testing.assert_array_equal(m2.weight.numpy(force=True), old)  # undone
    m2.register_load_state_dict_post_hook(lambda mod, keys: keys)
    with pytest.raises(AssertionError, match="are not expected to return new values"):
        m2.load_state_dict(m2.state_dict())
