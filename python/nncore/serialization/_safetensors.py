"""The safetensors container, written and read with NumPy alone, and the atomic file writer.

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length ``N``,
``N`` bytes of JSON ``{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}``
(padded with spaces to a multiple of 8), then the tensors' raw little-endian bytes, each at
``data_offsets = [begin, end)`` relative to the end of the header, packed without gaps. Files
written here load in the ``safetensors`` package and the other way round.

Every write to a path goes to a temporary file in the target's folder, is flushed and fsync'ed,
then renamed over the target (``os.replace`` is atomic), so a crash or an exception mid-write
leaves either the old file or none, never a partial one.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import tempfile
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, Callable

import numpy as np

from nncore.tensor import Tensor

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
# The CRC-32 of the header (canonical JSON, without this entry) and of the data section, in
# ``__metadata__``: written by every nncore writer, verified on load when present (files of
# other tools have none and load unverified).
CHECKSUM_KEY = "nncore.checksum"
# NOTE: a temporary file of a killed save is removed by a later save to the same folder once
# its writer is gone: at once when the writer ran on this host (its pid is in the name), after
# a day otherwise (a writer on another machine sharing the folder may still be running).
_STALE_SECONDS = 24 * 3600


def _umask() -> int:
    # NOTE: Linux reports the umask without changing it; os.umask can only read it by setting
    # it, which races with other threads creating files.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write a file all-or-nothing: ``write(f)`` fills a temporary file in the same folder,
    which is fsync'ed and renamed over ``path``. On any exception the temporary file is removed
    and ``path`` keeps its previous content (or stays absent). A new file gets the permissions
    ``open(path, "wb")`` would give it (0666 minus the umask); a replaced file keeps its own.

    Args:
        path: the destination file.
        write: called once with the open binary file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    base = os.path.basename(path)
    _remove_stale(folder, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}@{_host()}.", suffix=".tmp",
                               dir=folder)
    try:
        # NOTE: mkstemp creates the file 0600, private to the user; a saved model is not.
        os.fchmod(fd, mode)
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


def _host() -> str:
    return socket.gethostname().replace("/", "_") or "localhost"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _remove_stale(folder: str, base: str) -> None:
    """Remove temporary files left by killed saves of ``base`` in ``folder``."""
    prefix = f".{base}."
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    now = time.time()
    for name in names:
        owner = name[len(prefix):-len(".tmp")].rpartition(".")[0]
        pid, at, host = owner.partition("@")
        full = os.path.join(folder, name)
        try:
            if at and pid.isdigit() and host == _host():
                stale = int(pid) != os.getpid() and not _pid_alive(int(pid))
            else:
                stale = now - os.stat(full).st_mtime > _STALE_SECONDS
            if stale:
                os.unlink(full)
        except OSError:
            pass


def _canonical(header: Mapping[str, Any]) -> bytes:
    """The header as the checksum covers it: sorted keys, without the checksum entry."""
    meta = {k: v for k, v in header.get("__metadata__", {}).items() if k != CHECKSUM_KEY}
    body = {k: v for k, v in header.items() if k != "__metadata__"}
    body["__metadata__"] = meta
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def checksum(header: Mapping[str, Any], chunks: Iterable[Any]) -> str:
    """``"crc32:<8 hex digits>"`` of the canonical header and the data chunks in file order."""
    crc = zlib.crc32(_canonical(header))
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
    return f"crc32:{crc:08x}"


def _verify(header: Mapping[str, Any], chunks: Iterable[Any], where: str) -> None:
    saved = header.get("__metadata__", {}).get(CHECKSUM_KEY)
    if saved is None:
        return
    if checksum(header, chunks) != saved:
        raise corrupt(where, "the checksum of its header and tensor data does not match the "
                             "one it was saved with (the file was corrupted after writing)")


def _bytes(arr: np.ndarray) -> memoryview:
    return memoryview(arr.reshape(-1).view(np.uint8))


def _as_array(op: str, name: str, value: Any) -> np.ndarray:
    arr = value._array if isinstance(value, Tensor) else value
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: tensor {name!r} must be a NumPy array or a Tensor, got "
                        f"{type(value).__name__}")
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot "
                        f"store (supported: {', '.join(str(d) for d in _DTYPES.values())})")
    # NOTE: not ascontiguousarray, which turns a 0-d array into shape (1,).
    return np.asarray(arr, dtype=_DTYPES[code], order="C")


def encode(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None, op: str
           ) -> tuple[bytes, list[np.ndarray]]:
    """(header bytes, the arrays to write after it, little-endian and C-contiguous).

    Raises:
        TypeError: for a name, value, dtype or metadata entry safetensors cannot store.
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(f"{op}: expected a dict of name -> array, got {type(tensors).__name__}")
    header: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError(f"{op}: metadata must map str to str (safetensors' __metadata__), "
                            f"got {metadata!r:.200}")
        header["__metadata__"] = dict(metadata)
    arrays = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise TypeError(f"{op}: tensor names must be non-empty strings other than "
                            f"'__metadata__', got {name!r}")
        arr = _as_array(op, name, value)
        code = _CODES[(arr.dtype.kind, arr.dtype.itemsize)]
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    meta = header.pop("__metadata__", {})
    if CHECKSUM_KEY in meta:
        raise TypeError(f"{op}: metadata key {CHECKSUM_KEY!r} is reserved for nncore's "
                        f"checksum")
    header = {"__metadata__": meta, **header}
    meta[CHECKSUM_KEY] = checksum(header, (_bytes(a) for a in arrays if a.nbytes))
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(len(raw) + 8) % 8)
    return struct.pack("<Q", len(raw)) + raw, arrays


def _write_arrays(f: BinaryIO, arrays: Iterable[np.ndarray]) -> None:
    for arr in arrays:
        # NOTE: memoryview of the contiguous array: no copy of the bytes.
        f.write(_bytes(arr))


def write(target: Any, head: bytes, arrays: list[np.ndarray]) -> None:
    """Write a header and its arrays to a path (atomically) or to an open binary file."""
    def fill(f: BinaryIO) -> None:
        f.write(head)
        _write_arrays(f, arrays)

    if isinstance(target, (str, os.PathLike)):
        atomic_write(target, fill)
    else:
        fill(target)


def save_safetensors(tensors: Mapping[str, Any], path: str | os.PathLike,
                     metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays to a plain safetensors file, atomically.

    Args:
        tensors: name -> NumPy array or Tensor (``model.state_dict()``); bool, int, uint and
            float dtypes of 1-8 bytes.
        path: destination file (conventionally ``*.safetensors``).
        metadata: optional str -> str map stored as the header's ``__metadata__``.

    Raises:
        TypeError: for a name, value, dtype or metadata entry that safetensors cannot store.
    """
    head, arrays = encode(tensors, metadata, "save_safetensors")
    write(path, head, arrays)


def corrupt(where: str, why: str) -> ValueError:
    return ValueError(f"load: {where} is not a valid safetensors file: {why}")


def read_header(f: BinaryIO, where: str, size: int | None) -> tuple[dict[str, Any], int]:
    """Read and validate the header at the stream's position.

    Args:
        f: positioned at the 8-byte length field.
        where: the file's name for messages.
        size: the bytes from the position to the end of the file, or None for a stream whose
            size is unknown (the data section then ends where the last tensor ends).

    Returns:
        (the header, the byte length of the data section that follows it).

    Raises:
        ValueError: for a corrupt or truncated header.
    """
    first = f.read(8)
    if len(first) < 8:
        raise corrupt(where, f"the file has {len(first)} bytes, fewer than the 8-byte header "
                             f"length")
    (n,) = struct.unpack("<Q", first)
    if n > _MAX_HEADER or (size is not None and n > size - 8):
        raise corrupt(where, f"header length {n} exceeds the file ({size} bytes) or the "
                             f"{_MAX_HEADER}-byte limit: truncated or not safetensors")
    raw = f.read(n)
    if len(raw) != n:
        raise corrupt(where, f"the header is {n} bytes but the file ends after {len(raw)}")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise corrupt(where, f"the header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise corrupt(where, f"the header is a JSON {type(header).__name__}, not an object")
    data_len = None if size is None else size - 8 - n
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise corrupt(where, "__metadata__ must map strings to strings")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise corrupt(where, f"entry {name!r} needs exactly dtype, shape and data_offsets, "
                                 f"got {info!r:.120}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            raise corrupt(where, f"tensor {name!r} has dtype {dtype!r}, not one of "
                                 f"{sorted(_DTYPES)} (NumPy has no bfloat16 or float8)")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise corrupt(where, f"tensor {name!r} has shape {shape!r}, not a list of "
                                 f"non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise corrupt(where, f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end or (data_len is not None and end > data_len):
            raise corrupt(where, f"tensor {name!r} has data_offsets [{begin}, {end}] outside "
                                 f"the {data_len}-byte data section (truncated file?)")
        expected = _DTYPES[dtype].itemsize
        for d in shape:
            expected *= d
        if end - begin != expected:
            raise corrupt(where, f"tensor {name!r} spans {end - begin} bytes but its dtype "
                                 f"{dtype} and shape {shape} need {expected}")
        spans.append((begin, end, name))
    spans.sort()
    position, previous = 0, None
    for begin, end, name in spans:
        if begin < position:
            raise corrupt(where, f"tensors {previous!r} and {name!r} overlap")
        if begin > position:
            raise corrupt(where, f"a gap of {begin - position} bytes precedes tensor {name!r}")
        position, previous = end, name
    if data_len is not None and position != data_len:
        raise corrupt(where, f"the tensors cover {position} bytes but the data section has "
                             f"{data_len}")
    return header, position


def _fill(f: BinaryIO, buf: memoryview) -> int:
    """Read into ``buf`` until it is full or the stream ends; the number of bytes read."""
    readinto = getattr(f, "readinto", None)
    done = 0
    while done < len(buf):
        if readinto is not None:
            n = readinto(buf[done:])
        else:
            chunk = f.read(len(buf) - done)
            n = len(chunk)
            buf[done:done + n] = chunk
        if not n:
            break
        done += n
    return done


def read_tensors(f: BinaryIO, header: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """Read the data section that follows a validated header into new arrays.

    Returns:
        name -> writable, aligned NumPy array in native byte order, in header order.

    Raises:
        ValueError: when the stream ends before the last tensor.
    """
    entries = sorted((info["data_offsets"][0], name) for name, info in header.items()
                     if name != "__metadata__")
    out: dict[str, np.ndarray] = {}
    for _, name in entries:
        info = header[name]
        dtype = _DTYPES[info["dtype"]]
        # NOTE: each tensor is read straight into its own new array: no second copy of the
        # file in memory, and every array is aligned (tensors are packed without padding).
        arr = np.empty(info["shape"], dtype=dtype)
        if arr.nbytes:
            got = _fill(f, memoryview(arr.reshape(-1).view(np.uint8)))
            if got != arr.nbytes:
                raise corrupt(where, f"the file ends inside tensor {name!r} ({got} of "
                                     f"{arr.nbytes} bytes)")
        out[name] = arr
    _verify(header, (_bytes(out[name]) for _, name in entries if out[name].nbytes), where)
    for name, arr in out.items():
        if not arr.dtype.isnative:
            out[name] = arr.astype(arr.dtype.newbyteorder("="))
    return {name: out[name] for name in header if name != "__metadata__"}


def map_tensors(buf: Any, start: int, header: dict[str, Any], where: str = "the file"
                ) -> dict[str, np.ndarray]:
    """Arrays viewing a mapped file (``mmap.ACCESS_COPY``: writes never reach the file)
    whose data section begins at byte ``start``; misaligned ones are copied. A checksum in the
    header is verified first (which reads the whole file once)."""
    if header.get("__metadata__", {}).get(CHECKSUM_KEY) is not None:
        end = max([info["data_offsets"][1] for name, info in header.items()
                   if name != "__metadata__"], default=0)
        _verify(header, [memoryview(buf)[start:start + end]] if end else [], where)
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        if end == begin:
            out[name] = np.empty(info["shape"], dtype=dtype.newbyteorder("="))
            continue
        arr = np.frombuffer(buf, dtype=dtype, count=(end - begin) // dtype.itemsize,
                            offset=start + begin).reshape(info["shape"])
        if not (arr.flags.aligned and dtype.isnative and arr.flags.writeable):
            arr = arr.astype(dtype.newbyteorder("="), copy=True)
        out[name] = arr
    return out


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file (the header is validated, the tensor
    bytes are not read).

    Raises:
        ValueError: for a corrupt or truncated file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        header, _ = read_header(f, repr(path), os.fstat(f.fileno()).st_size)
    return {k: v for k, v in header.get("__metadata__", {}).items() if k != CHECKSUM_KEY}


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every tensor of a safetensors file as NumPy arrays.

    Args:
        path: a file written by ``save_safetensors``, ``nncore.save``, ``safetensors`` or any
            other writer.

    Returns:
        name -> writable NumPy array in native byte order, in file order (use
        ``load_metadata`` for the metadata).

    Raises:
        ValueError: for a corrupt or truncated file (bad header length, bad JSON, unknown
            dtype, offsets out of range, overlapping or with gaps, size mismatch).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        header, _ = read_header(f, repr(path), os.fstat(f.fileno()).st_size)
        return read_tensors(f, header, repr(path))
