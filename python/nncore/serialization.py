"""Model files in the safetensors format, written and read with NumPy alone.

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length ``N``,
``N`` bytes of JSON ``{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}``
(padded with spaces to a multiple of 8), then the tensors' raw little-endian bytes, each at
``data_offsets = [begin, end)`` relative to the end of the header, packed without gaps. Files
written here load in the ``safetensors`` package and the other way round.

Every write goes to a temporary file in the target's folder, is flushed and fsync'ed, then
renamed over the target (``os.replace`` is atomic), so a crash or an exception mid-write leaves
either the old file or none, never a partial one.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, Callable

import numpy as np

from nncore.tensor import Tensor

__all__ = ["atomic_write", "load", "load_metadata", "save"]

_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "I16": np.dtype("<i2"), "U16": np.dtype("<u2"), "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"), "U32": np.dtype("<u4"), "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"), "U64": np.dtype("<u8"), "F64": np.dtype("<f8"),
}
_CODES: dict[tuple[str, int], str] = {(d.kind, d.itemsize): code for code, d in _DTYPES.items()}
# NOTE: the safetensors reference reader refuses headers above 100 MB; a larger length field is
# corruption, and checking it first avoids allocating it.
_MAX_HEADER = 100_000_000


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write a file all-or-nothing: ``write(f)`` fills a temporary file in the same folder,
    which is fsync'ed and renamed over ``path``. On any exception the temporary file is removed
    and ``path`` keeps its previous content (or stays absent).

    Args:
        path: the destination file.
        write: called once with the open binary file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # NOTE: the rename itself is durable only once the folder entry is on disk.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _as_array(name: str, value: Any) -> np.ndarray:
    arr = value._array if isinstance(value, Tensor) else value
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"save: tensor {name!r} must be a NumPy array or a Tensor, got "
                        f"{type(value).__name__}")
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or arr.dtype.kind not in "biuf":
        raise TypeError(f"save: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot "
                        f"store (supported: {', '.join(str(d) for d in _DTYPES.values())})")
    # NOTE: not ascontiguousarray, which turns a 0-d array into shape (1,).
    return np.asarray(arr, dtype=_DTYPES[code], order="C")


def _encode(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None
            ) -> tuple[bytes, list[np.ndarray]]:
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save: expected a dict of name -> array, got {type(tensors).__name__}")
    header: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError(f"save: metadata must map str to str (safetensors' __metadata__), "
                            f"got {metadata!r:.200}")
        header["__metadata__"] = dict(metadata)
    arrays = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise TypeError(f"save: tensor names must be non-empty strings other than "
                            f"'__metadata__', got {name!r}")
        arr = _as_array(name, value)
        code = _CODES[(arr.dtype.kind, arr.dtype.itemsize)]
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(len(raw) + 8) % 8)
    return struct.pack("<Q", len(raw)) + raw, arrays


def _write_arrays(f: BinaryIO, arrays: Iterable[np.ndarray]) -> None:
    for arr in arrays:
        # NOTE: memoryview of the contiguous array: no copy of the bytes.
        f.write(memoryview(arr.reshape(-1).view(np.uint8)))


def save(state_dict: Mapping[str, Any], path: str | os.PathLike,
         metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays to a safetensors file, atomically.

    Args:
        state_dict: name -> NumPy array or Tensor (``model.state_dict()``); bool, int, uint and
            float dtypes of 1-8 bytes.
        path: destination file (conventionally ``*.safetensors``).
        metadata: optional str -> str map stored as the header's ``__metadata__``.

    Raises:
        TypeError: for a name, value, dtype or metadata entry that safetensors cannot store.
    """
    head, arrays = _encode(state_dict, metadata)

    def write(f: BinaryIO) -> None:
        f.write(head)
        _write_arrays(f, arrays)

    atomic_write(path, write)


def _corrupt(path: str, why: str) -> ValueError:
    return ValueError(f"load: {path!r} is not a valid safetensors file: {why}")


def _read_header(f: BinaryIO, path: str, size: int) -> tuple[dict[str, Any], int]:
    """(validated header, byte length of the data section)."""
    if size < 8:
        raise _corrupt(path, f"the file has {size} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > _MAX_HEADER or n > size - 8:
        raise _corrupt(path, f"header length {n} exceeds the file ({size} bytes) or the "
                             f"{_MAX_HEADER}-byte limit: truncated or not safetensors")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _corrupt(path, f"the header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, f"the header is a JSON {type(header).__name__}, not an object")
    data_len = size - 8 - n
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _corrupt(path, "__metadata__ must map strings to strings")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _corrupt(path, f"entry {name!r} needs exactly dtype, shape and data_offsets, "
                                 f"got {info!r:.120}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            raise _corrupt(path, f"tensor {name!r} has dtype {dtype!r}, not one of "
                                 f"{sorted(_DTYPES)} (NumPy has no bfloat16 or float8)")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise _corrupt(path, f"tensor {name!r} has shape {shape!r}, not a list of "
                                 f"non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise _corrupt(path, f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise _corrupt(path, f"tensor {name!r} has data_offsets [{begin}, {end}] outside "
                                 f"the {data_len}-byte data section (truncated file?)")
        expected = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize
        if end - begin != expected:
            raise _corrupt(path, f"tensor {name!r} spans {end - begin} bytes but its dtype "
                                 f"{dtype} and shape {shape} need {expected}")
        spans.append((begin, end, name))
    spans.sort()
    position, previous = 0, None
    for begin, end, name in spans:
        if begin < position:
            raise _corrupt(path, f"tensors {previous!r} and {name!r} overlap")
        if begin > position:
            raise _corrupt(path, f"a gap of {begin - position} bytes precedes tensor {name!r}")
        position, previous = end, name
    if position != data_len:
        raise _corrupt(path, f"the tensors cover {position} bytes but the data section has "
                             f"{data_len}")
    return header, data_len


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file (the header is validated, the tensor
    bytes are not read).

    Raises:
        ValueError: for a corrupt or truncated file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        header, _ = _read_header(f, path, os.fstat(f.fileno()).st_size)
    return dict(header.get("__metadata__", {}))


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every tensor of a safetensors file.

    Args:
        path: a file written by ``nncore.save``, ``safetensors`` or any other writer.

    Returns:
        name -> writable NumPy array in native byte order, in file order (use
        ``load_metadata`` for the metadata).

    Raises:
        ValueError: for a corrupt or truncated file (bad header length, bad JSON, unknown
            dtype, offsets out of range, overlapping or with gaps, size mismatch).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, data_len = _read_header(f, path, size)
        data = f.read(data_len)
    if len(data) != data_len:
        raise _corrupt(path, f"read {len(data)} of {data_len} data bytes (file changed?)")
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        arr = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize,
                            offset=begin).reshape(info["shape"])
        out[name] = arr.astype(dtype.newbyteorder("="), copy=True)
    return out
