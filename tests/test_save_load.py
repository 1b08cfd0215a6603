"""nncore.save / nncore.load with torch.save / torch.load's semantics: every storable type round
trips bit for bit, sharing survives, checkpoints resume, whole Modules, the weights_only
allow-list, map_location, file objects, safetensors interop and corrupt files."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import io
import json
import math
import os
import pickle
import struct
import sys
from typing import Any, NamedTuple

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim
from nncore.serialization import _safetensors


# ---- module-level classes (files name classes by module and qualified name) ----
@dataclasses.dataclass
class Config:
    n_layer: int = 4
    dropout: float = 0.1
    name: str = "gpt"


class Point(NamedTuple):
    x: int
    y: float


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: Any, b: Any) -> None:
        self.a, self.b = a, b


class Stateful:
    def __init__(self, value: int) -> None:
        self.value = value
        self.cache = object()  # not saved: __getstate__ leaves it out

    def __getstate__(self) -> dict:
        return {"value": self.value}

    def __setstate__(self, state: dict) -> None:
        self.value = state["value"]
        self.cache = None


class Registry(dict):
    pass


class Stack(list):
    pass


class Called:
    def __init__(self, v: int) -> None:
        self.v = v

    def __reduce__(self) -> tuple:
        return (Called, (self.v,))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 7)
        self.act = nn.functional.relu
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(7, 3)
        self.register_buffer("scale", nc.tensor([1.0, 2.0, 3.0]))
        self.cfg = Config()

    def forward(self, x: nc.Tensor) -> nc.Tensor:
        return self.out(self.drop(self.act(self.fc(x)))) * self.scale


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.head = nn.Linear(6, 11, bias=False)
        self.head.weight = self.emb.weight
        self.parent_ref = {"me": self}  # a cycle back to the module
        self._forward_hooks = collections.OrderedDict({0: lambda *a: None})

    def forward(self, idx: nc.Tensor) -> nc.Tensor:
        return self.head(self.emb(idx))


NET_GLOBALS = [Net, Config, nn.Linear, nn.Dropout, nn.functional.relu]


def _roundtrip(obj: Any, **load_kw: Any) -> Any:
    buf = io.BytesIO()
    nc.save(obj, buf)
    buf.seek(0)
    return nc.load(buf, **load_kw)


def _same(a: Any, b: Any, where: str = "obj") -> None:
    """Equal values of the same types; arrays and tensors bit for bit."""
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, nc.Tensor):
        assert a.requires_grad == b.requires_grad, where
        _same(a._array, b._array, where)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
        if isinstance(a, collections.OrderedDict):
            assert a.__dict__.keys() == b.__dict__.keys(), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), where  # -0.0 kept
    elif isinstance(a, complex):
        assert struct.pack("<dd", a.real, a.imag) == struct.pack("<dd", b.real, b.imag), where
    else:
        assert a == b, where


def _every_value() -> dict:
    rng = np.random.default_rng(0)
    arrays = {f"a_{np.dtype(d).name}": (rng.standard_normal((3, 5)) * 40).astype(d)
              for d in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
                        np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)}
    arrays.update({
        "a_complex64": (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
                        ).astype(np.complex64),
        "a_complex128": np.array(1 - 2j),
        "a_big_endian": np.arange(6, dtype=">f8").reshape(2, 3),
        "a_empty": np.zeros((0, 4), np.float32), "a_0d": np.array(7, np.int64),
        "a_strings": np.array(["ab", "c"]), "a_dates": np.array(["2024-01-02"], "M8[D]"),
    })
    nan_payload = np.frombuffer(struct.pack("<I", 0x7FC0_1234), np.float32)[0]
    tensors = {f"t_{d.name}": nc.tensor((rng.standard_normal(4) * 9).astype(d.dtype))
               for d in (nc.float16, nc.float32, nc.float64, nc.int8, nc.int16, nc.int32,
                         nc.int64, nc.uint8, nc.bool, nc.complex64, nc.complex128)}
    return {
        "none": None, "bools": [True, False], "int": -3, "big": 2**100 + 1, "str": "héllo ☃",
        "floats": [0.1, -0.0, 1e308, 5e-324, float("inf"), float("-inf"), float("nan")],
        "complex": complex(1.5, float("nan")), "bytes": bytes(range(256)),
        "big_bytes": bytes(10_000), "bytearray": bytearray(b"xyz"),
        "tuple": (1, "a", (2.5, None)), "list": [[], {}, ()],
        "keys": {0: "int", 1.5: "float", True: "bool", None: "none", (1, "a"): "tuple",
                 "$dollar": "str", frozenset({3}): "frozenset"},
        "odict": collections.OrderedDict([("b", 1), ("a", 2)]),
        "counter": collections.Counter("abracadabra"), "set": {3, 1, 2},
        "frozenset": frozenset({"x", "y"}), "slice": slice(1, None, -2), "range": range(2, 9, 3),
        "ellipsis": Ellipsis, "np_scalars": [np.float32(1.5), np.int8(-3), np.bool_(True),
                                             np.float16(2.0), nan_payload, np.complex64(1j),
                                             np.uint64(2**64 - 1), np.str_("s")],
        "np_dtypes": [np.dtype(np.float32), np.dtype(">i4")],
        "dtypes": [nc.float32, nc.float64, nc.float16, nc.bfloat16, nc.int64, nc.bool,
                   nc.complex64, nc.uint8],
        "devices": [nc.device("cpu"), nc.device("cuda", 1)], "size": nc.Size([2, 3]),
        "arrays": arrays, "tensors": tensors,
        "grad": nc.tensor([1.0, 2.0], requires_grad=True),
        "param": nn.Parameter(nc.ones(2, 3)),
        "frozen": nn.Parameter(nc.ones(2), requires_grad=False),
    }


def test_every_type_roundtrips_bit_for_bit() -> None:
    obj = _every_value()
    back = _roundtrip(obj)
    _same(obj, back)
    assert isinstance(back["param"], nn.Parameter) and back["param"].requires_grad
    assert isinstance(back["frozen"], nn.Parameter) and not back["frozen"].requires_grad
    assert back["dtypes"][0] is nc.float32 and back["dtypes"][3] is nc.bfloat16
    assert back["tensors"]["t_complex64"].dtype == nc.complex64
    assert back["arrays"]["a_big_endian"].dtype == np.dtype(">f8")
    for arr in back["arrays"].values():
        assert arr.flags.writeable and arr.flags.c_contiguous
    # A fresh object, not the inputs: loading twice gives two independent copies.
    again = _roundtrip(obj)
    again["tensors"]["t_float32"]._array[0] = 99
    assert back["tensors"]["t_float32"]._array[0] != 99


def test_same_object_gives_the_same_file() -> None:
    def raw() -> bytes:
        buf = io.BytesIO()
        nc.save({"s": {"b", "a", "c"}, "t": nc.arange(4)}, buf)
        return buf.getvalue()

    assert raw() == raw()


def test_sharing_and_cycles_survive() -> None:
    base = np.arange(12.0).reshape(3, 4)
    p = nn.Parameter(nc.ones(3))
    shared = {"k": 1}
    loop: list = [1]
    loop.append(loop)
    obj = {"p": p, "p_again": p, "p_data": p.data, "arr": base, "same_view": base[:],
           "part": base[1:], "d1": shared, "d2": shared, "loop": loop,
           "tup": (shared, shared)}
    back = _roundtrip(obj)
    assert back["p"] is back["p_again"]
    assert back["p_data"] is not back["p"] and back["p_data"]._array is back["p"]._array
    assert not back["p_data"].requires_grad and type(back["p_data"]) is nc.Tensor
    assert back["same_view"] is not back["arr"]
    assert np.shares_memory(back["same_view"], back["arr"])
    assert not np.shares_memory(back["part"], back["arr"])  # partial views are stored apart
    np.testing.assert_array_equal(back["part"], base[1:])
    assert back["d1"] is back["d2"] is back["tup"][0] is back["tup"][1]
    assert back["loop"][1] is back["loop"]
    assert _stored_names(obj) == ["p", "arr", "part"]  # each memory once


def _header(obj: Any) -> dict:
    buf = io.BytesIO()
    nc.save(obj, buf)
    buf.seek(0)
    return _safetensors.read_header(buf, "buf", len(buf.getvalue()))[0]


def _stored_names(obj: Any) -> list[str]:
    return [k for k in _header(obj) if k != "__metadata__"]


def test_a_tuple_containing_itself_is_refused() -> None:
    holder: list = []
    t = (holder,)
    holder.append(t)
    with pytest.raises(ValueError, match=r"contains itself through a tuple"):
        nc.save(t, io.BytesIO())


def test_plain_classes_need_the_allow_list() -> None:
    objs = {"cfg": Config(n_layer=2), "pt": Point(1, 2.5), "color": Color.GREEN,
            "slots": Slotted([1], "b"), "stateful": Stateful(5), "reg": Registry(a=1),
            "stack": Stack([1, 2]), "when": datetime.datetime(2024, 5, 6, 7, 8, 9),
            "dd": collections.defaultdict(list, {"x": [1]}), "dq": collections.deque([1, 2], 5),
            "fn": nn.functional.relu, "cls": nn.Linear, "np_type": np.float32,
            "method": Stateful(1).__getstate__}
    with pytest.raises(pickle.UnpicklingError, match=r"Unsupported global: GLOBAL "
                                                     r"test_save_load\.Config"):
        _roundtrip(objs)
    back = _roundtrip(objs, weights_only=False)
    assert back["cfg"] == Config(n_layer=2) and back["pt"] == Point(1, 2.5)
    assert isinstance(back["pt"], Point) and back["color"] is Color.GREEN
    assert (back["slots"].a, back["slots"].b) == ([1], "b")
    assert back["stateful"].value == 5 and back["stateful"].cache is None
    assert type(back["reg"]) is Registry and back["reg"] == {"a": 1}
    assert type(back["stack"]) is Stack and back["stack"] == [1, 2]
    assert back["when"] == objs["when"]
    assert back["dd"]["new"] == [] and back["dq"].maxlen == 5 and list(back["dq"]) == [1, 2]
    assert back["fn"] is nn.functional.relu and back["cls"] is nn.Linear
    assert back["np_type"] is np.float32 and back["method"]() == {"value": 1}
    with nc.serialization.safe_globals([Config, Point, Color, Slotted, Stateful, Registry,
                                        Stack, datetime.datetime, nn.functional.relu,
                                        nn.Linear, Stateful.__getstate__]):
        allowed = _roundtrip(objs)
    assert allowed["color"] is Color.GREEN and allowed["when"] == objs["when"]
    assert nc.serialization.get_safe_globals() == []


def test_calling_a_class_on_load_needs_trust() -> None:
    # NOTE: even weights_only=False never calls a class it was not told to trust: files are
    # rebuilt with cls.__new__ and state, except value classes (enums, datetime, deque...).
    with pytest.raises(pickle.UnpicklingError, match="rebuilds a test_save_load.Called by "
                                                     "calling its class"):
        _roundtrip(Called(5), weights_only=False)
    with nc.serialization.safe_globals([Called]):
        assert _roundtrip(Called(5)).v == 5


def test_objects_that_cannot_be_saved() -> None:
    def local() -> None:
        pass

    class Local:
        pass

    class CallsAFunction:
        def __reduce__(self) -> tuple:
            return (os.getcwd, ())

    cases = [(lambda: 0, pickle.PicklingError, "lambda"),
             (local, pickle.PicklingError, "inside a function"),
             (Local(), pickle.PicklingError, "inside a function"),
             ((i for i in range(3)), TypeError, "cannot pickle 'generator'"),
             (np.array([object()]), TypeError, "dtype object"),
             (CallsAFunction(), TypeError, "never call functions on load")]
    for obj, exc, message in cases:
        with pytest.raises(exc, match=message):
            nc.save({"x": [obj]}, io.BytesIO())


def test_checkpoint_dict_resumes_training_identically(tmp_path) -> None:
    def make() -> tuple[nn.Module, optim.Optimizer]:
        model = nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 2))
        return model, optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)

    def steps(model: nn.Module, opt: optim.Optimizer, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(n):
            x = nc.tensor(rng.standard_normal((8, 6)).astype(np.float32))
            opt.zero_grad()
            y = model(x)
            (y * y).mean().backward()
            opt.step()

    nc.manual_seed(0)
    model, opt = make()
    steps(model, opt, 3, seed=1)
    path = tmp_path / "ckpt.pt"
    nc.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iter_num": 3,
             "best_val_loss": nc.tensor(0.25), "model_args": dict(n_layer=4, bias=True),
             "config": {"lr": 1e-2, "betas": (0.9, 0.95)}}, path)
    nc.manual_seed(7)
    model2, opt2 = make()
    ckpt = nc.load(path, map_location="cpu")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    assert ckpt["iter_num"] == 3 and ckpt["model_args"] == {"n_layer": 4, "bias": True}
    assert ckpt["config"]["betas"] == (0.9, 0.95)
    assert isinstance(ckpt["best_val_loss"], nc.Tensor) and ckpt["best_val_loss"].item() == 0.25
    steps(model, opt, 4, seed=2)
    steps(model2, opt2, 4, seed=2)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=k)


def test_whole_module_roundtrip() -> None:
    nc.manual_seed(3)
    net = Net()
    net.eval()
    with pytest.raises(pickle.UnpicklingError) as info:
        _roundtrip(net)
    message = str(info.value)
    assert "Weights only load failed" in message and "weights_only=False" in message
    assert "Unsupported global: GLOBAL test_save_load.Net" in message
    assert "add_safe_globals([test_save_load.Net])" in message and "safe_globals(" in message
    x = nc.randn(4, 5)
    for back in (_roundtrip(net, weights_only=False), _with_globals(net)):
        assert type(back) is Net and not back.training and not back.drop.training
        assert back.act is nn.functional.relu and back.cfg == Config()
        assert [n for n, _ in back.named_parameters()] == [n for n, _ in net.named_parameters()]
        assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in back.parameters())
        np.testing.assert_array_equal(back(x).detach().numpy(), net(x).detach().numpy())
        np.testing.assert_array_equal(np.asarray(back.scale), [1.0, 2.0, 3.0])
        back.train()
        assert back.drop.training


def _with_globals(obj: Any) -> Any:
    nc.serialization.add_safe_globals(NET_GLOBALS)
    try:
        assert set(nc.serialization.get_safe_globals()) == set(NET_GLOBALS)
        return _roundtrip(obj)
    finally:
        nc.serialization.clear_safe_globals()
    assert nc.serialization.get_safe_globals() == []


def test_module_ties_cycles_and_hooks(tmp_path) -> None:
    model = Tied()
    model.emb.weight.register_hook(lambda g: g * 2)
    with open(tmp_path / "tied.pt", "wb") as f:
        nc.save(model, f)
    with open(tmp_path / "tied.pt", "rb") as f:
        back = nc.load(f, weights_only=False)
    assert back.head.weight is back.emb.weight  # still tied
    assert back.parent_ref["me"] is back
    assert back._forward_hooks == collections.OrderedDict()  # hooks are dropped
    assert getattr(back.emb.weight, "_hooks", None) is None
    idx = nc.tensor([1, 4, 10])
    np.testing.assert_array_equal(back(idx).detach().numpy(), model(idx).detach().numpy())
    assert len(list(back.parameters())) == 1


@pytest.mark.parametrize("make, x", [
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU()),
     lambda: nc.randn(2, 2, 5, 5)),
    (lambda: nn.LSTM(4, 6, num_layers=2, batch_first=True), lambda: nc.randn(3, 7, 4)),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), lambda: nc.randn(5, 3, 8)),
])
def test_layer_families_roundtrip_whole(make, x) -> None:
    nc.manual_seed(5)
    model, inp = make(), x()
    model.train()
    model(inp)  # running statistics move away from their initial values
    model.eval()
    back = _roundtrip(model, weights_only=False)
    out, ref = back(inp), model(inp)
    out, ref = (out[0], ref[0]) if isinstance(out, tuple) else (out, ref)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    _same(dict(model.state_dict()), dict(back.state_dict()))


def test_safe_globals_context_restores_the_list() -> None:
    nc.serialization.add_safe_globals([Config])
    try:
        with nc.serialization.safe_globals([Point, (Color, "elsewhere.Color")]):
            assert set(nc.serialization.get_safe_globals()) == {
                Config, Point, (Color, "elsewhere.Color")}
        assert nc.serialization.get_safe_globals() == [Config]
    finally:
        nc.serialization.clear_safe_globals()
    with pytest.raises(TypeError, match="is not a class or function"):
        nc.serialization.add_safe_globals([3])
    with pytest.raises(TypeError, match="expected a list"):
        nc.serialization.add_safe_globals(Config)


@pytest.mark.parametrize("map_location", [
    None, "cpu", nc.device("cpu"), {"cuda:0": "cpu"}, {"cpu": "cpu"},
    lambda storage, location: storage, lambda storage, location: None,
    lambda storage, location: storage.cpu(),
])
def test_map_location_forms(map_location) -> None:
    obj = {"w": nc.randn(3, 2), "a": np.arange(3)}
    back = _roundtrip(obj, map_location=map_location)
    _same(obj, back)
    assert back["w"].device == nc.device("cpu")


@pytest.mark.parametrize("map_location, exc, message", [
    ("cuda", NotImplementedError, "device 'cuda' is not available"),
    (nc.device("cuda", 1), NotImplementedError, "device 'cuda:1' is not available"),
    ({"cpu": "cuda:0"}, NotImplementedError, "device 'cuda:0' is not available"),
    (lambda storage, location: storage.cuda(), NotImplementedError, "Tensor.cuda"),
    (lambda storage, location: 3, TypeError, "map_location returned 3"),
    (42, TypeError, "map_location must be None, a string"),
    ("tpu", RuntimeError, "Expected one of cpu"),
])
def test_map_location_to_another_device_raises(map_location, exc, message) -> None:
    with pytest.raises(exc, match=message):
        _roundtrip({"w": nc.ones(2)}, map_location=map_location)


def test_file_objects_streams_and_mmap(tmp_path) -> None:
    class Pipe:  # write()/read() only: no seek, tell or readinto
        def __init__(self) -> None:
            self.data, self.pos = bytearray(), 0

        def write(self, b: Any) -> int:
            self.data += bytes(b)
            return len(b)

        def read(self, n: int = -1) -> bytes:
            n = len(self.data) - self.pos if n < 0 else n
            out = bytes(self.data[self.pos:self.pos + n])
            self.pos += len(out)
            return out

    pipe = Pipe()
    nc.save({"a": nc.arange(5)}, pipe)
    nc.save([1, nc.ones(2)], pipe)  # two objects, one after the other
    assert nc.load(pipe)["a"].tolist() == [0, 1, 2, 3, 4]
    assert nc.load(pipe)[1].tolist() == [1.0, 1.0]
    path = tmp_path / "m.pt"
    sd = collections.OrderedDict(w=nc.randn(17, 3), b=nc.zeros(3, dtype=nc.float16),
                                 c=nc.ones(5, dtype=nc.complex128))
    nc.save(sd, str(path))
    with open(path, "rb") as f:
        _same(sd, nc.load(f))
    mapped = nc.load(path, mmap=True)
    _same(sd, mapped)
    before = path.read_bytes()
    mapped["w"]._array[:] = 0  # copy-on-write: the file does not change
    assert path.read_bytes() == before
    assert all(t._array.flags.aligned for t in mapped.values())
    with pytest.raises(ValueError, match="f must be a file path in order to use the mmap"):
        nc.load(io.BytesIO(before), mmap=True)
    with open(path, encoding="latin-1") as text, pytest.raises(TypeError, match="binary mode"):
        nc.load(text)
    with pytest.raises(TypeError, match="f must be a path or a binary file object"):
        nc.save(sd, 3)


def test_torch_signature_arguments(tmp_path) -> None:
    buf = io.BytesIO()
    nc.save({"x": 1}, buf, pickle_module=pickle, pickle_protocol=4,
            _use_new_zipfile_serialization=False)
    with pytest.raises(NotImplementedError, match="pickle_module=.* is not supported"):
        nc.save({"x": 1}, io.BytesIO(), pickle_module=json)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="Can not safely load weights when explicit "
                                           "pickle_module"):
        nc.load(buf, pickle_module=pickle, weights_only=True)
    buf.seek(0)
    assert nc.load(buf, pickle_module=pickle) == {"x": 1}  # implies weights_only=False
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        nc.load(buf, fix_imports=True)


def test_nncore_serialization_is_reachable() -> None:
    assert nc.serialization is sys.modules["nncore.serialization"]
    assert nc.save is nc.serialization.save and nc.load is nc.serialization.load
    for name in ("add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals",
                 "save_safetensors", "load_safetensors", "load_metadata"):
        assert callable(getattr(nc.serialization, name)), name


_STORED = {"w": np.ones(2, np.float32), "i": np.arange(2)}


@pytest.mark.parametrize("text, message", [
    ('{"$nope": 1}', "unknown node"),
    ('{"$tensor": "w", "$tuple": []}', "unknown node"),
    ('{"$memo": 3}', "refers to nothing before it"),
    ('{"a": {"$id": 0}, "b": {"$id": 0}}', "repeated \\$id"),
    ('{"$tensor": "missing"}', "stored array 'missing' the file does not hold"),
    ('{"$tensor": "w", "requires_grad": 1}', "requires_grad=1"),
    ('{"$tensor": "i", "requires_grad": true}', "requires_grad=True for a int64"),
    ('{"$tensor": "w", "class": ["builtins", "dict"]}', "not a Tensor subclass"),
    ('{"$dict": [[[1], 2]]}', "unhashable"),
    ('{"$dict": [[1]]}', "pairs"),
    ('{"$set": [[1]]}', "unhashable"),
    ('{"$ndarray": "w", "dtype": "O"}', "cannot be loaded"),
    ('{"$ndarray": "w", "dtype": "<c8", "shape": [5]}', "need 40"),
    ('{"$ndarray": "w", "dtype": "<i8"}', "cannot be int64"),
    ('{"$ndarray": "w", "dtype": "zz"}', "bad NumPy dtype"),
    ('{"$npscalar": "<f4", "hex": "zz"}', "npscalar bytes"),
    ('{"$npscalar": "<f4", "hex": "00"}', "has 1 bytes"),
    ('{"$float": "1.0"}', "nan, inf or -inf"),
    ('{"$complex": [1, "x"]}', "real, imag"),
    ('{"$global": "os.system"}', "\\[module, qualname\\]"),
    ('[1, {"$tuple": 3}]', "must be a list"),
    ('{"$bytes": "!!"}', "base64"),
    ('{"$device": "gpu"}', "\\$device"),
    ('{"$dtype": "Tensor"}', "unknown dtype"),
    ('{"$range": [0, 5, 0]}', "range"),
    ('{"$object": ["builtins", "int"], "state": {"a": 1}}', "cannot set the state of a int"),
    ('{"$object": ["nncore.tensor", "Tensor"]}', "cannot be rebuilt as an object"),
    ('{"$object": ["builtins", "list"], "kwargs": 3}', "kwargs must be a dict"),
    ('{"$object": ["builtins", "int"], "args": [[1]]}', "cannot rebuild a int from its"),
    ('{"$ndarray": "w", "dtype": ["<f4"]}', "dtype must be a string"),
    ('{"$ndarray": "w", "dtype": "<f4", "shape": [[2]]}', "not a list of sizes"),
    ('not json', "not JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_corrupt_object_trees_raise_value_error(tmp_path, text, message) -> None:
    path = tmp_path / "bad.pt"
    nc.serialization.save_safetensors(_STORED, path, metadata={"nncore.version": "1",
                                                               "nncore.object": text})
    with pytest.raises(ValueError, match=message):
        nc.load(path)


def test_other_versions_pickles_and_junk_are_refused(tmp_path) -> None:
    path = tmp_path / "x.pt"
    nc.serialization.save_safetensors(_STORED, path, metadata={"nncore.version": "2",
                                                               "nncore.object": "1"})
    with pytest.raises(ValueError, match="format version '2'; this nncore reads version 1"):
        nc.load(path)
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="is a pickle .* nncore never unpickles"):
        nc.load(path)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a valid PyTorch file: not a valid zip archive"):
        nc.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="fewer than the 8-byte header length"):
        nc.load(path)


def test_truncated_and_bit_flipped_files_never_crash() -> None:
    obj = {"model": collections.OrderedDict(w=nc.randn(3, 4), b=nc.zeros(4)),
           "optimizer": {"state": {0: {"step": 3, "m": np.ones(3)}},
                         "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0]}]},
           "cfg": (1, "x", None, float("nan")), "p": nn.Parameter(nc.ones(2)), "s": {1, 2}}
    buf = io.BytesIO()
    nc.save(obj, buf)
    raw = buf.getvalue()
    for cut in range(len(raw)):
        with pytest.raises(ValueError):
            nc.load(io.BytesIO(raw[:cut]))
    (n,) = struct.unpack("<Q", raw[:8])
    rng = np.random.default_rng(0)
    outcomes: collections.Counter = collections.Counter()
    for _ in range(600):
        data = bytearray(raw)
        for _ in range(int(rng.integers(1, 3))):
            pos = int(rng.integers(0, 8 + n)) if rng.random() < 0.9 else int(rng.integers(len(raw)))
            data[pos] ^= 1 << int(rng.integers(8))
        try:
            nc.load(io.BytesIO(bytes(data)))
            outcomes["loaded"] += 1
        except (ValueError, pickle.UnpicklingError) as e:
            outcomes[type(e).__name__] += 1
    assert outcomes["ValueError"] > 300 and outcomes["loaded"] > 0
