"""``nncore.save`` / ``nncore.load``: PyTorch's checkpoint API in a format that never runs code.

``save(obj, f)`` writes a safetensors file (https://github.com/huggingface/safetensors): the
tensors and arrays found in ``obj`` are its tensors, and its ``__metadata__`` holds the object
tree as JSON under ``"nncore.object"`` (format version under ``"nncore.version"``; the node
kinds are listed in ``_encoder.py``). A flat ``{name: tensor}`` dict is stored under its own
names, so the ``safetensors`` package reads ``nncore.save(model.state_dict(), f)`` as it is, and
``load`` of a plain safetensors file from any other tool returns ``{name: Tensor}``.

What ``save`` stores: dicts (any hashable keys), lists, tuples, sets, OrderedDict, Counter,
str/int/float/bool/None/bytes/complex, slices, ranges, NumPy arrays, scalars and dtypes,
Tensors (dtype, shape, ``requires_grad``; a Parameter stays a Parameter), ``nncore.dtype`` and
``nncore.device`` values, classes and functions by name, and objects of importable classes
(their ``__getstate__``/``__dict__``/slots, as pickle takes them; Modules keep parameters,
buffers, submodules and ``training``, and lose hooks). An object referenced twice loads as one
object (tied weights stay tied); tensors and arrays over the same memory with the same layout
load over one array, while partial views (``x[1:]`` saved next to ``x``) are stored as copies.

Loading never unpickles and never evaluates anything: objects are rebuilt by ``cls.__new__``
and their state (``__setstate__`` or the instance dict); a class is called only when its
``__reduce__`` asks for it and it builds plain values (enums, ``deque``, ``datetime``, paths) or
the user allow-listed it. With ``weights_only=True`` (the default, as in PyTorch 2.6+) only
classes and functions of the allow-list (``add_safe_globals``, ``safe_globals``) may be named
and nothing is imported; NumPy arrays and scalars are data here and need no allow-listing. With
``weights_only=False`` named modules are imported (which runs their code) and their classes'
``__new__``/``__setstate__`` run: only for trusted files; a name that no longer exists raises
ModuleNotFoundError/AttributeError, as pickle does. ``torch.save`` zip files are read by a pickle
interpreter that only knows PyTorch's tensor rebuild functions (``_torch_file.py``).
"""

from __future__ import annotations

import json
import mmap as _mmap
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

from nncore import devices, dtypes
from nncore.serialization import _safetensors
from nncore.serialization._decoder import Decoder
from nncore.serialization._encoder import Encoder
from nncore.serialization._globals import (
    Resolver,
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    safe_globals,
)
from nncore.serialization._safetensors import (
    atomic_write,
    load_metadata,
    load_safetensors,
    save_safetensors,
)
from nncore.serialization._torch_file import TorchReader
from nncore.tensor import Tensor

__all__ = [
    "DEFAULT_PROTOCOL", "add_safe_globals", "atomic_write", "clear_safe_globals",
    "get_safe_globals", "load", "load_metadata", "load_safetensors", "safe_globals", "save",
    "save_safetensors",
]

DEFAULT_PROTOCOL = 2
OBJECT_KEY = "nncore.object"
VERSION_KEY = "nncore.version"
VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"


def _check_pickle_module(op: str, pickle_module: Any) -> None:
    if pickle_module is not None and pickle_module is not pickle:
        raise NotImplementedError(f"{op}: pickle_module={pickle_module!r} is not supported: "
                                  f"nncore files hold no pickle (they are safetensors files)")


def save(obj: Any, f: Any, pickle_module: Any = None, pickle_protocol: int = DEFAULT_PROTOCOL,
         _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False) -> None:
    """Save an object (a state dict, a checkpoint dict, a tensor, a whole Module...) to a file,
    as ``torch.save``.

    Args:
        obj: what to save (see the module docstring for the supported types).
        f: a path (``str`` or ``os.PathLike``; written atomically: a crash leaves the previous
            file or none) or a binary file object with ``write`` (written at its position).
        pickle_module: None or ``pickle`` (accepted for PyTorch's signature; nothing is
            pickled).
        pickle_protocol, _use_new_zipfile_serialization, _disable_byteorder_record: accepted
            for PyTorch's signature; they do not change the format.

    Raises:
        TypeError: for an object nncore files cannot hold (a generator, a lock, an object
            array, an object whose ``__reduce__`` calls a function).
        pickle.PicklingError: for a class or function that cannot be found by its name
            (lambdas, classes defined inside functions).
    """
    _check_pickle_module("save", pickle_module)
    if not isinstance(pickle_protocol, int) or isinstance(pickle_protocol, bool):
        raise TypeError(f"save: pickle_protocol must be an int, got {pickle_protocol!r}")
    if not isinstance(f, (str, os.PathLike)) and not callable(getattr(f, "write", None)):
        raise TypeError(f"save: f must be a path or a binary file object with write(), got "
                        f"{type(f).__name__}")
    encoder = Encoder()
    text = encoder.dumps(obj)
    head, arrays = _safetensors.encode(encoder.storages,
                                       {VERSION_KEY: str(VERSION), OBJECT_KEY: text}, "save")
    _safetensors.write(f, head, arrays)


class _Locations:
    """``map_location`` as PyTorch takes it; nncore tensors always land on the CPU."""

    def __init__(self, map_location: Any) -> None:
        self.fn = None
        self.table: dict[str, Any] = {}
        self.target = None
        if map_location is None:
            return
        if isinstance(map_location, (str, devices.device)):
            self.target = devices.check(map_location, "load: map_location")
        elif isinstance(map_location, dict):
            for k, v in map_location.items():
                if not isinstance(k, str) or not isinstance(v, (str, devices.device)):
                    raise TypeError(f"load: a map_location dict maps location strings to "
                                    f"devices, got {k!r}: {v!r}")
            self.table = dict(map_location)
        elif callable(map_location):
            self.fn = map_location
        else:
            raise TypeError(f"load: map_location must be None, a string, a device, a dict or "
                            f"a callable, got {type(map_location).__name__}")

    def __call__(self, arr: np.ndarray, location: str) -> np.ndarray:
        """The array a storage saved at ``location`` loads as (checks the destination)."""
        if self.fn is not None:
            result = self.fn(Tensor._wrap(arr), location)
            if result is not None:
                if not isinstance(result, Tensor) or result._array.dtype != arr.dtype \
                        or result._array.shape != arr.shape:
                    raise TypeError(f"load: map_location returned {result!r:.80}; it must "
                                    f"return the storage it was given (on the CPU) or None")
                return result._array
        elif self.target is not None:
            return arr
        elif location in self.table:
            devices.check(self.table[location], "load: map_location")
            return arr
        try:
            devices.check(location, "load")
        except (NotImplementedError, RuntimeError):
            raise RuntimeError(f"load: the file holds tensors saved on {location!r}, and nncore "
                               f"runs on the CPU only: pass map_location='cpu'") from None
        return arr


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None,
         **pickle_load_args: Any) -> Any:
    """Load an object saved by ``nncore.save`` or ``torch.save``, or the tensors of any
    safetensors file, as ``torch.load``; the file is never unpickled or evaluated.

    Args:
        f: a path or a binary file object with ``read`` (read from its position).
        map_location: None, ``"cpu"``, ``nncore.device("cpu")``, a dict of saved location ->
            device (``{"cuda:0": "cpu"}``) or a callable ``(storage, location)`` returning the
            storage (or None); every tensor lands on the CPU, and a map to another device
            raises.
        pickle_module: must be None with ``weights_only``; otherwise ignored.
        weights_only: only rebuild classes and functions of the allow-list
            (``add_safe_globals``/``safe_globals``; nncore's Tensor, Parameter, dtypes,
            devices, OrderedDict are always allowed). None means True (PyTorch 2.6+), or False
            when a ``pickle_module`` is given. With False any importable class may be
            rebuilt: only for files you trust.
        mmap: map the file instead of reading it (nncore files given by path): arrays are
            copy-on-write views of the file, read by the OS when first touched (misaligned
            ones are copied at once). For PyTorch files the storages are read.
        pickle_load_args: ``encoding`` (Python 2 strings in PyTorch files) is accepted.

    Returns:
        the saved object; ``{name: Tensor}`` for a safetensors file written by another tool.

    Raises:
        pickle.UnpicklingError: with ``weights_only``, for a class or function outside the
            allow-list (as PyTorch).
        ValueError: for a corrupt or truncated file, or a file in a format nncore does not read
            (pickles, legacy PyTorch files).
        RuntimeError: for tensors saved on an accelerator without a map to the CPU.
    """
    if weights_only is None:
        weights_only = pickle_module is None
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is "
                           "specified")
    unknown = set(pickle_load_args) - {"encoding", "errors"}
    if unknown:
        raise TypeError(f"load: unexpected keyword arguments {sorted(unknown)}")
    encoding = pickle_load_args.get("encoding", "utf-8")
    locate = _Locations(map_location)
    resolve = Resolver(bool(weights_only))
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        where = repr(path)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            first = fh.read(8)
            if first[:4] == _ZIP_MAGIC:
                return TorchReader(first + fh.read(), where, locate, resolve, encoding).load()
            if mmap:
                return _load_mapped(fh, size, first, where, locate, resolve)
            return _load_safetensors(fh, size, first, where, locate, resolve)
    if mmap:
        raise ValueError("f must be a file path in order to use the mmap argument")
    if not callable(getattr(f, "read", None)):
        raise TypeError(f"load: f must be a path or a binary file object with read(), got "
                        f"{type(f).__name__}")
    where = repr(getattr(f, "name", "<file object>"))
    first = f.read(8)
    if not isinstance(first, bytes):
        raise TypeError(f"load: f must be opened in binary mode ('rb'), got "
                        f"{type(first).__name__} from read()")
    if first[:4] == _ZIP_MAGIC:
        return TorchReader(first + f.read(), where, locate, resolve, encoding).load()
    return _load_safetensors(f, None, first, where, locate, resolve)


class _Prefixed:
    """A stream whose first bytes were already read."""

    def __init__(self, first: bytes, f: BinaryIO) -> None:
        self.first, self.f = first, f

    def read(self, n: int) -> bytes:
        head, self.first = self.first[:n], self.first[n:]
        return head + self.f.read(n - len(head)) if len(head) < n else head

    def readinto(self, buf: memoryview) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def _header(f: BinaryIO, size: int | None, first: bytes, where: str) -> dict[str, Any]:
    if len(first) == 8 and first[0] == 0x80 and int.from_bytes(first, "little") > \
            _safetensors._MAX_HEADER:
        raise ValueError(f"load: {where} is a pickle (a legacy PyTorch file written with "
                         f"_use_new_zipfile_serialization=False, or pickle.dump); nncore never "
                         f"unpickles: re-save it with torch.save's default (zip) format, which "
                         f"nncore reads without running it")
    header, _ = _safetensors.read_header(_Prefixed(first, f), where, size)
    return header


def _load_safetensors(f: BinaryIO, size: int | None, first: bytes, where: str,
                      locate: _Locations, resolve: Resolver) -> Any:
    header = _header(f, size, first, where)
    arrays = _safetensors.read_tensors(f, header, where)
    return _rebuild(header, arrays, where, locate, resolve)


def _load_mapped(f: BinaryIO, size: int, first: bytes, where: str, locate: _Locations,
                 resolve: Resolver) -> Any:
    header = _header(f, size, first, where)
    start = f.tell()
    if size == start:
        arrays = _safetensors.map_tensors(b"", 0, header)
    else:
        # NOTE: ACCESS_COPY: pages are shared with the file until written; writes stay private.
        buf = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_COPY)
        arrays = _safetensors.map_tensors(buf, start, header, where)
    return _rebuild(header, arrays, where, locate, resolve)


def _rebuild(header: dict[str, Any], arrays: dict[str, np.ndarray], where: str,
             locate: _Locations, resolve: Resolver) -> Any:
    arrays = {name: locate(arr, "cpu") for name, arr in arrays.items()}
    meta = header.get("__metadata__", {})
    if OBJECT_KEY not in meta:
        out = {}
        for name, arr in arrays.items():
            if arr.dtype not in dtypes._BY_NUMPY:
                raise TypeError(f"load: tensor {name!r} of {where} has dtype {arr.dtype}, which "
                                f"nncore tensors cannot hold; nncore.serialization."
                                f"load_safetensors reads it as a NumPy array")
            out[name] = Tensor._wrap(arr)
        return out
    if meta.get(VERSION_KEY) != str(VERSION):
        raise ValueError(f"load: {where} has nncore format version {meta.get(VERSION_KEY)!r}; "
                         f"this nncore reads version {VERSION} (a newer nncore wrote it?)")
    try:
        tree = json.loads(meta[OBJECT_KEY])
        return Decoder(arrays, resolve, where).decode(tree)
    except json.JSONDecodeError as e:
        raise ValueError(f"load: {where} has a corrupt object tree: not JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"load: {where} has an object tree nested too deeply to rebuild"
                         ) from None
