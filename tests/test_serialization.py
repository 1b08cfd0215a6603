"""The safetensors layer (save_safetensors / load_safetensors / load_metadata): the format,
interop with the safetensors package, corrupt files refused (also by nncore.load), atomic writes
and file permissions."""

from __future__ import annotations

import collections
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc
from nncore import nn, serialization
from nncore.serialization import _safetensors, load_safetensors, save_safetensors

DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_]


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for i, dt in enumerate(DTYPES):
        shape = [(3, 17), (1,), (), (2, 0, 5), (4, 1, 3)][i % 5]
        out[f"t{i}.{np.dtype(dt).name}"] = np.asarray(rng.standard_normal(shape) * 50).astype(dt)
    return out


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_roundtrip_every_dtype_and_shape(tmp_path) -> None:
    arrays = _arrays()
    path = tmp_path / "m.safetensors"
    save_safetensors(arrays, path, metadata={"note": "hello", "epoch": "3"})
    back = load_safetensors(path)
    _assert_same(arrays, back)
    assert all(v.flags.writeable and v.flags.c_contiguous for v in back.values())
    assert serialization.load_metadata(path) == {"note": "hello", "epoch": "3"}
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0  # header padded to 8 bytes as the reference writer does
    header = json.loads(raw[8:8 + n])
    assert header["t0.float32"] == {"dtype": "F32", "shape": [3, 17],
                                    "data_offsets": [0, 3 * 17 * 4]}


def test_state_dict_tensors_views_and_byte_order(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    save_safetensors(model.state_dict(), tmp_path / "a.safetensors")
    other = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    other.load_state_dict(load_safetensors(tmp_path / "a.safetensors"))
    _assert_same(model.state_dict(), other.state_dict())
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    weird = {"strided": base[:, ::2], "fortran": np.asfortranarray(base),
             "big": base.astype(">f4"), "tensor": nc.tensor(base[0])}
    save_safetensors(weird, tmp_path / "b.safetensors")
    back = load_safetensors(tmp_path / "b.safetensors")
    np.testing.assert_array_equal(back["strided"], base[:, ::2])
    np.testing.assert_array_equal(back["fortran"], base)
    assert back["big"].dtype == np.float32 and back["big"].dtype.isnative
    np.testing.assert_array_equal(back["big"], base.astype(np.float32))
    np.testing.assert_array_equal(back["tensor"], base[0])


def test_files_interoperate_with_the_safetensors_package(tmp_path) -> None:
    st = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file, save_file

    arrays = _arrays()
    ours = tmp_path / "ours.safetensors"
    save_safetensors(arrays, ours, metadata={"framework": "nncore"})
    _assert_same(dict(sorted(arrays.items())), dict(sorted(load_file(str(ours)).items())))
    with st.safe_open(str(ours), framework="np") as f:
        meta = f.metadata()
    # The checksum rides in the metadata; other readers ignore it.
    assert meta.pop("nncore.checksum").startswith("crc32:")
    assert meta == {"framework": "nncore"}
    theirs = tmp_path / "theirs.safetensors"
    save_file(arrays, str(theirs), metadata={"format": "np"})
    _assert_same(dict(sorted(arrays.items())), dict(sorted(load_safetensors(theirs).items())))
    assert serialization.load_metadata(theirs) == {"format": "np"}


@pytest.mark.parametrize("bad, exc, message", [
    ({1: np.zeros(2)}, TypeError, "tensor names must be non-empty strings"),
    ({"__metadata__": np.zeros(2)}, TypeError, "'__metadata__'"),
    ({"a": [1.0, 2.0]}, TypeError, "tensor 'a' must be a NumPy array or a Tensor, got list"),
    ({"a": np.zeros(2, dtype=np.complex64)}, TypeError, "dtype complex64"),
    ({"a": np.array(["x"], dtype=object)}, TypeError, "dtype object"),
    ([np.zeros(2)], TypeError, "expected a dict of name -> array"),
])
def test_save_refuses_what_safetensors_cannot_hold(tmp_path, bad, exc, message) -> None:
    path = tmp_path / "x.safetensors"
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        save_safetensors(bad, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_save_refuses_non_string_metadata(tmp_path) -> None:
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save_safetensors({"a": np.zeros(2)}, tmp_path / "x", metadata={"epoch": 3})


def _file(header: dict, data: bytes, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}}


@pytest.mark.parametrize("content, message", [
    (b"\x01\x00", "fewer than the 8-byte header length"),
    (_file(GOOD, bytes(16), length=10**12), "header length 1000000000000 exceeds the file"),
    (_file(GOOD, bytes(16), length=300), "header length 300 exceeds the file"),
    (struct.pack("<Q", 5) + b"{abc}" + bytes(8), "not valid UTF-8 JSON"),
    (struct.pack("<Q", 2) + b"\xff\xfe", "not valid UTF-8 JSON"),
    (_file([1, 2], b""), "is a JSON list, not an object"),
    (_file(GOOD, bytes(12)), r"data_offsets \[8, 16\] outside the 12-byte data section"),
    (_file(GOOD, bytes(20)), "cover 16 bytes but the data section has 20"),
    (_file({**GOOD, "b": {"dtype": "I64", "shape": [1], "data_offsets": [4, 12]}}, bytes(16)),
     "tensors 'a' and 'b' overlap"),
    (_file({**GOOD, "b": {"dtype": "I64", "shape": [1], "data_offsets": [12, 20]}}, bytes(20)),
     "a gap of 4 bytes precedes tensor 'b'"),
    (_file({**GOOD, "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(16)),
     r"spans 8 bytes but its dtype F32 and shape \[3\] need 12"),
    (_file({**GOOD, "a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, bytes(16)),
     "dtype 'BF16'"),
    (_file({**GOOD, "a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(16)),
     "not a list of non-negative integers"),
    (_file({**GOOD, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, bytes(16)),
     r"not \[begin, end\]"),
    (_file({**GOOD, "a": {"dtype": "F32", "shape": [2]}}, bytes(16)),
     "needs exactly dtype, shape and data_offsets"),
    (_file({**GOOD, "__metadata__": {"x": 1}}, bytes(16)), "__metadata__ must map strings"),
])
def test_load_refuses_corrupt_files(tmp_path, content, message) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_safetensors(path)
    with pytest.raises(ValueError, match=message):
        nc.load(path)
    if "cover" not in message:  # a stream may go on after the last tensor
        with pytest.raises(ValueError, match="is not a valid safetensors file"):
            nc.load(io.BytesIO(content))
    with pytest.raises(ValueError, match="is not a valid safetensors file"):
        serialization.load_metadata(path)


def test_load_refuses_every_truncation(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors({"w": np.ones((3, 4), np.float32), "b": np.ones(3)}, path)
    full = path.read_bytes()
    assert load_safetensors(path)["w"].shape == (3, 4)
    for cut in (0, 4, 8, 20, len(full) // 2, len(full) - 1):
        path.write_bytes(full[:cut])
        with pytest.raises(ValueError, match="not a valid safetensors file"):
            load_safetensors(path)
        with pytest.raises(ValueError, match="not a valid safetensors file"):
            nc.load(io.BytesIO(full[:cut]))


def _no_temp_files(folder) -> None:
    assert [p for p in os.listdir(folder) if p.endswith(".tmp")] == []


def test_exception_mid_write_leaves_the_old_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "m.safetensors"
    old = {"w": np.arange(6.0).reshape(2, 3)}
    save_safetensors(old, path)
    before = path.read_bytes()

    def broken(f, arrays) -> None:
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(_safetensors, "_write_arrays", broken)
    with pytest.raises(OSError, match="disk full"):
        save_safetensors({"w": np.zeros((100, 100))}, path)
    assert path.read_bytes() == before
    _no_temp_files(tmp_path)
    fresh = tmp_path / "fresh.safetensors"
    with pytest.raises(OSError, match="disk full"):
        save_safetensors({"w": np.zeros(3)}, fresh)
    assert not fresh.exists()
    _no_temp_files(tmp_path)


def test_killed_process_never_leaves_a_partial_file(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors({"w": np.arange(4.0)}, path)
    before = path.read_bytes()
    # NOTE: SIGKILL right after the data is written, before the rename: no cleanup runs.
    code = (
        "import os, signal, numpy as np, nncore as nc\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"nc.serialization.save_safetensors({{'w': np.zeros((256, 256))}}, {str(path)!r})\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert path.read_bytes() == before
    np.testing.assert_array_equal(load_safetensors(path)["w"], np.arange(4.0))


def test_new_files_respect_the_umask(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        nc.save({"a": 1}, tmp_path / "a.pt")
        os.umask(0o077)
        nc.save({"a": 1}, tmp_path / "b.pt")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.pt").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "b.pt").st_mode & 0o777 == 0o600
    os.chmod(tmp_path / "a.pt", 0o640)
    nc.save({"a": 2}, tmp_path / "a.pt")  # a replaced file keeps its mode
    assert os.stat(tmp_path / "a.pt").st_mode & 0o777 == 0o640
    assert nc.load(tmp_path / "a.pt") == {"a": 2}


def test_safetensors_package_interop(tmp_path) -> None:
    st = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file, save_file

    sd = collections.OrderedDict([
        ("fc.weight", nc.randn(4, 3)), ("fc.bias", nc.zeros(4, dtype=nc.float64)),
        ("steps", nc.tensor(3)), ("mask", nc.tensor([True, False])),
        ("half", nc.ones(2, 2, dtype=nc.float16)), ("bytes", nc.arange(5, dtype=nc.uint8))])
    ours = tmp_path / "m.safetensors"
    nc.save(sd, ours)
    theirs = load_file(str(ours))
    assert sorted(theirs) == sorted(sd)
    for k, v in sd.items():
        assert theirs[k].dtype == v._array.dtype and theirs[k].tobytes() == v._array.tobytes()
    with st.safe_open(str(ours), framework="np") as f:
        meta = f.metadata()
    assert meta["nncore.version"] == "1" and json.loads(meta["nncore.object"])["$odict"][0] == \
        ["fc.weight", {"$tensor": "fc.weight"}]
    nc.save({"model": sd, "optimizer": {"state": {0: {"exp_avg": np.ones(3)}}}},
            tmp_path / "nested.safetensors")
    assert sorted(load_file(str(tmp_path / "nested.safetensors"))) == sorted(
        [f"model.{k}" for k in sd] + ["optimizer.state.0.exp_avg"])
    arrays = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.ones(3, np.float16),
              "c": np.array(2.5)}
    save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata={"format": "np"})
    back = nc.load(tmp_path / "theirs.safetensors")
    assert sorted(back) == sorted(arrays) and all(type(v) is nc.Tensor for v in back.values())
    for k, v in arrays.items():
        assert back[k]._array.dtype == v.dtype and back[k]._array.tobytes() == v.tobytes()
    save_file({"u": np.zeros(2, np.uint16)}, str(tmp_path / "u16.safetensors"))
    with pytest.raises(TypeError, match="dtype uint16, which nncore tensors cannot hold.*"
                                        "load_safetensors"):
        nc.load(tmp_path / "u16.safetensors")
