"""nncore.load of files written by torch.save (PyTorch 2.13): state dicts, checkpoints, every
dtype, views and sharing, Python values, map_location; what it refuses; and pickles that try to
run code, which never run."""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import os
import pickle
import subprocess
import warnings
import zipfile
from typing import Any

import numpy as np
import pytest

import nncore as nc
from nncore import nn

torch = pytest.importorskip("torch")


@dataclasses.dataclass
class RunConfig:
    lr: float = 3e-4
    name: str = "run"


class Evil:
    def __init__(self, call: Any, *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple:
        return self.call, self.args


def _torch_bytes(obj: Any, **kw: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def _load(raw: bytes, **kw: Any) -> Any:
    return nc.load(io.BytesIO(raw), **kw)


def _check(t: Any, ref: Any) -> None:
    assert isinstance(t, nc.Tensor)
    expected = ref.detach().numpy()
    assert t._array.dtype == expected.dtype and t.shape == tuple(expected.shape)
    assert t._array.tobytes() == expected.tobytes()
    assert t.requires_grad == ref.requires_grad
    assert isinstance(t, nn.Parameter) == isinstance(ref, torch.nn.Parameter)


def test_checkpoint_written_by_torch_loads_and_drives_an_nncore_model(tmp_path) -> None:
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2)
    for _ in range(2):
        topt.zero_grad()
        tmodel(torch.randn(4, 5)).square().mean().backward()
        topt.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": tmodel.state_dict(), "optimizer": topt.state_dict(), "iter_num": 2,
                "best_val_loss": torch.tensor(1.25), "model_args": dict(n_layer=4, bias=True),
                "config": {"betas": (0.9, 0.95), "device": "cpu"}}, path)
    ckpt = nc.load(path, map_location="cpu")
    assert type(ckpt["model"]) is collections.OrderedDict
    for key, ref in tmodel.state_dict().items():
        _check(ckpt["model"][key], ref)
    assert ckpt["iter_num"] == 2 and ckpt["best_val_loss"].item() == 1.25
    assert ckpt["model_args"] == {"n_layer": 4, "bias": True}
    assert ckpt["config"]["betas"] == (0.9, 0.95)
    tstate = topt.state_dict()
    assert ckpt["optimizer"]["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == tstate["param_groups"][0]["lr"]
    for i, state in tstate["state"].items():
        for name, ref in state.items():
            _check(ckpt["optimizer"]["state"][i][name], ref)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    model.load_state_dict(ckpt["model"])
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(nc.tensor(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_dtypes_views_sharing_and_python_values(protocol) -> None:
    base = torch.arange(24.0).reshape(4, 6)
    lin = torch.nn.Linear(3, 2)
    obj = {
        "dtypes": {str(d): (torch.randn(3, 2) * 20).to(d) for d in (
            torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32,
            torch.int64, torch.uint8, torch.bool, torch.complex64, torch.complex128)},
        "scalar": torch.tensor(2.5, dtype=torch.float64), "empty": torch.zeros(0, 3),
        "base": base, "col": base[:, 2], "block": base[1:3, 2:5], "t": base.t(),
        "expanded": torch.ones(3, 1).expand(3, 4),
        "param": lin.weight, "same_param": lin.weight, "frozen": torch.nn.Parameter(
            torch.ones(2), requires_grad=False), "grad": torch.ones(2, requires_grad=True),
        "size": torch.Size([2, 3]), "device": torch.device("cpu"), "dtype": torch.float16,
        "bytes": b"\x00\xffabc", "set": {1, 2}, "frozenset": frozenset({"a"}),
        "big": -(2**80), "nested": (1, [2.5, None], {"k": (True,)}), "str": "héllo",
        "np": np.arange(6.0).reshape(2, 3), "np_f": np.asfortranarray(np.ones((2, 3), np.int32)),
        "np_scalar": np.float32(1.5), "np_bool": np.bool_(True),
    }
    back = _load(_torch_bytes(obj, pickle_protocol=protocol))
    for name, ref in obj["dtypes"].items():
        _check(back["dtypes"][name], ref)
    for name in ("scalar", "empty", "base", "col", "block", "t", "expanded", "param", "frozen",
                 "grad"):
        _check(back[name], obj[name])
    assert back["param"] is back["same_param"]
    for view in ("col", "block", "t"):  # views of one storage share memory, as in PyTorch
        assert np.shares_memory(back[view]._array, back["base"]._array), view
    back["base"][1, 2] = -1.0
    assert back["col"][1].item() == -1.0 and back["block"][0, 0].item() == -1.0
    assert not back["expanded"]._array.flags.writeable
    assert back["size"] == nc.Size([2, 3]) and type(back["size"]) is nc.Size
    assert back["device"] == nc.device("cpu") and back["dtype"] is nc.float16
    for key in ("bytes", "set", "frozenset", "big", "nested", "str"):
        assert back[key] == obj[key] and type(back[key]) is type(obj[key]), key
    np.testing.assert_array_equal(back["np"], obj["np"])
    assert back["np_f"].flags.f_contiguous and back["np_f"].dtype == np.int32
    assert back["np_scalar"] == np.float32(1.5) and type(back["np_scalar"]) is np.float32
    assert type(back["np_bool"]) is np.bool_


def test_torch_files_from_paths_file_objects_and_mmap(tmp_path) -> None:
    sd = torch.nn.Conv2d(2, 3, 3).state_dict()
    path = tmp_path / "conv.pt"
    torch.save(sd, path)
    with open(path, "rb") as f:
        from_file = nc.load(f)
    for back in (nc.load(path), nc.load(str(path), mmap=True), from_file):
        for key, ref in sd.items():
            _check(back[key], ref)
    model = nn.Conv2d(2, 3, 3)
    model.load_state_dict(nc.load(path))


def test_storages_saved_on_cuda_need_a_map_to_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    raw = _torch_bytes({"w": torch.arange(3.0)})
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="saved on 'cuda:0'.*map_location='cpu'"):
        _load(raw)
    seen = []
    for map_location in ("cpu", nc.device("cpu"), {"cuda:0": "cpu"},
                         lambda s, loc: seen.append(loc) or s):
        assert _load(raw, map_location=map_location)["w"].tolist() == [0.0, 1.0, 2.0]
    assert seen == ["cuda:0"]
    with pytest.raises(NotImplementedError, match="device 'cuda:1' is not available"):
        _load(raw, map_location={"cuda:0": "cuda:1"})


def test_what_nncore_does_not_read_from_torch_files(tmp_path) -> None:
    with pytest.raises(pickle.UnpicklingError, match="holds torch.nn.modules.linear.Linear, a "
                                                     "PyTorch object nncore does not rebuild"):
        _load(_torch_bytes(torch.nn.Linear(2, 2)), weights_only=False)
    with pytest.raises(NotImplementedError, match="bfloat16 tensors"):
        _load(_torch_bytes({"w": torch.ones(2, dtype=torch.bfloat16)}))
    with pytest.raises(NotImplementedError, match="torch.uint16"):
        _load(_torch_bytes({"w": torch.ones(2, dtype=torch.uint16)}))
    t = torch.ones(2)
    t.note = "x"
    with pytest.raises(NotImplementedError, match=r"Python attributes \['note'\]"):
        _load(_torch_bytes(t))
    scripted = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), scripted)
    with pytest.raises(ValueError, match="TorchScript archive"):
        _load(scripted.getvalue())
    legacy = _torch_bytes({"w": torch.ones(2)}, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy PyTorch file .* never unpickles"):
        _load(legacy)
    raw = _torch_bytes({"w": torch.ones(2)})
    for cut in (10, len(raw) // 2, len(raw) - 30):
        with pytest.raises(ValueError, match="not a valid PyTorch file"):
            _load(raw[:cut])


def test_user_classes_in_torch_files_follow_weights_only() -> None:
    raw = _torch_bytes({"cfg": RunConfig(lr=0.1), "w": torch.ones(1)})
    with pytest.raises(pickle.UnpicklingError, match="Unsupported global: GLOBAL "
                                                     "test_torch_files.RunConfig"):
        _load(raw)
    with nc.serialization.safe_globals([RunConfig]):
        assert _load(raw)["cfg"] == RunConfig(lr=0.1)
    assert _load(raw, weights_only=False)["cfg"] == RunConfig(lr=0.1)


def _zip(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", b"little")
    return buf.getvalue()


def test_pickles_that_try_to_run_code_never_run(tmp_path) -> None:
    marker = tmp_path / "pwned"
    attacks = [Evil(os.system, f"touch {marker}"),
               Evil(subprocess.Popen, ["touch", str(marker)]),
               Evil(eval, f"open({str(marker)!r}, 'w')"),
               {"ok": Evil(exec, f"open({str(marker)!r}, 'w')")},
               Evil(torch._utils._rebuild_tensor_v2, "storage", 0, (10**9,), (1,), False, None)]
    for attack in attacks:
        for protocol in (2, 4):
            raw = _zip(pickle.dumps(attack, protocol=protocol))
            for weights_only in (True, False):
                with pytest.raises((pickle.UnpicklingError, ValueError)):
                    _load(raw, weights_only=weights_only)
    assert not marker.exists()
    # The same through nncore's own format: a class call needs the class to be allow-listed.
    path = tmp_path / "evil.pt"
    call = json.dumps({"$call": ["subprocess", "Popen"], "args": [["touch", str(marker)]]})
    nc.serialization.save_safetensors({}, path, metadata={"nncore.version": "1",
                                                          "nncore.object": call})
    for weights_only in (True, False):
        with pytest.raises(pickle.UnpicklingError):
            nc.load(path, weights_only=weights_only)
    assert not marker.exists()


def test_torch_reads_nncore_flat_files_through_safetensors(tmp_path) -> None:
    pytest.importorskip("safetensors")
    sd = {"weight": nc.randn(3, 2), "steps": nc.tensor([1, 2])}
    path = tmp_path / "m.safetensors"
    nc.save(sd, path)
    back = torch.load(path)  # PyTorch 2.13 hands *.safetensors paths to the safetensors package
    for key, value in sd.items():
        np.testing.assert_array_equal(back[key].numpy(), value._array)


def test_damaged_torch_pickles_raise_clear_errors() -> None:
    raw = _torch_bytes({"model": torch.nn.Linear(3, 2).state_dict(), "step": 3,
                        "opt": {"betas": (0.9, 0.99)}, "view": torch.arange(6.0)[1::2],
                        "np": np.ones(2), "dev": torch.device("cpu"), "b": b"x"})
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        records = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in records if n.endswith("/data.pkl"))
    rng = np.random.default_rng(0)
    outcomes: collections.Counter = collections.Counter()
    for _ in range(300):
        data = bytearray(records[name])
        for _ in range(int(rng.integers(1, 3))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n, v in records.items():
                z.writestr(n, bytes(data) if n == name else v)
        try:
            _load(buf.getvalue())
            outcomes["loaded"] += 1
        except (ValueError, pickle.UnpicklingError, NotImplementedError) as e:
            outcomes[type(e).__name__] += 1
    assert outcomes["ValueError"] > 150 and outcomes["loaded"] > 0
