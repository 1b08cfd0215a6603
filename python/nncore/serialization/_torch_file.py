"""Reading ``torch.save`` files without PyTorch and without running their pickle.

A ``torch.save`` file is a zip archive: ``<name>/data.pkl`` (a pickle of the object, whose tensors
refer to storages by key), ``<name>/data/<key>`` (each storage's raw bytes) and ``byteorder``.
Unpickling with Python's ``pickle`` calls whatever functions the file names, so this module
interprets the pickle opcodes itself (``_unpickler.py``): a stack machine in which a name can
only become one of the handlers below (PyTorch's tensor and Parameter rebuild functions, its
storage and dtype names, ``torch.Size``, ``torch.device``, ``OrderedDict``, sets, NumPy arrays
and scalars) or a class the caller's allow-list admits (``weights_only=True``) or that imports
(``weights_only=False``); such classes are only instantiated (``cls.__new__``, or ``cls(...)``
when the pickle calls the class) and given their state, never used to call a function. Tensors
come back as nncore Tensors over NumPy arrays; views of one storage share memory.
"""

from __future__ import annotations

import collections
import io
import re
import zipfile
from typing import Any, Callable

import numpy as np

from nncore import devices, dtypes
from nncore.nn.parameter import Parameter
from nncore.serialization._decoder import set_state
from nncore.serialization._globals import Resolver
from nncore.serialization._unpickler import Call, Machine
from nncore.tensor import Size, Tensor, _rebuild

_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64, "ComplexDoubleStorage": np.complex128,
    "BFloat16Storage": None,
}
_TORCH_DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "complex64": "complex64",
    "cfloat": "complex64", "complex128": "complex128", "cdouble": "complex128", "int8": "int8",
    "int16": "int16", "short": "int16", "int32": "int32", "int": "int32", "int64": "int64",
    "long": "int64", "uint8": "uint8", "bool": "bool",
}

# NOTE: PyTorch dtypes NumPy (and so nncore) has no tensors of.
_OTHER_DTYPES = re.compile(r"(u?int[1-7]|uint(16|32|64)|float8_\w+|float4_\w+|complex32|chalf"
                           r"|q(u)?int\w+|bits\w+)$")


class _Marker:
    """A name the pickle may only pass around (a storage type, ``torch.Tensor``...)."""

    def __init__(self, name: str, value: Any = None) -> None:
        self.name, self.value = name, value


class _Pending:
    """NumPy's two-step rebuild: an object made by REDUCE and completed by BUILD."""

    def __init__(self, kind: str, value: Any = None) -> None:
        self.kind, self.value = kind, value


class _Storage:
    def __init__(self, key: str, dtype: np.dtype | None, location: str, numel: int) -> None:
        self.key, self.dtype, self.location, self.numel = key, dtype, location, numel


class TorchReader:
    """Loads the object of one ``torch.save`` archive.

    Args:
        data: the whole file.
        where: its name, for messages.
        locate: ``(array, location) -> array`` applying ``map_location`` (raises for devices
            other than the CPU).
        resolve: ``(module, name) -> class or function`` for names outside PyTorch, raising
            ``pickle.UnpicklingError`` when not allowed; also says which classes may be called.
        encoding: how protocol-0/1 ``str`` values of Python 2 pickles are decoded.
    """

    def __init__(self, data: bytes, where: str, locate: Callable[[np.ndarray, str], np.ndarray],
                 resolve: Resolver, encoding: str = "utf-8") -> None:
        self.where, self.locate, self.resolve, self.encoding = where, locate, resolve, encoding
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            names = self.zip.namelist()
        except (zipfile.BadZipFile, ValueError, OSError) as e:
            raise self.bad(f"not a valid zip archive ({e})") from None
        if any(n.endswith("/constants.pkl") and n.count("/") == 1 for n in names):
            raise ValueError(f"load: {where} is a TorchScript archive (torch.jit.save); nncore "
                             f"cannot run TorchScript: save the model's state_dict() with "
                             f"torch.save instead")
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise self.bad("the archive has no <name>/data.pkl record")
        self.prefix = pkl[0][:-len("data.pkl")]
        order = self._record("byteorder", optional=True)
        if order not in (None, b"little", b"big"):
            raise self.bad(f"unknown byteorder {order!r}")
        self.big = order == b"big"
        self.storages: dict[tuple[str, str], np.ndarray] = {}
        self.views: dict[tuple, np.ndarray] = {}
        self.classes: set[type] = set()
        self.pending = 0

    def bad(self, why: str) -> ValueError:
        return ValueError(f"load: {self.where} is not a valid PyTorch file: {why}")

    def _record(self, name: str, optional: bool = False) -> bytes | None:
        try:
            return self.zip.read(self.prefix + name)
        except KeyError:
            if optional:
                return None
            raise self.bad(f"the record {self.prefix + name!r} is missing") from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise self.bad(f"the record {self.prefix + name!r} cannot be read ({e})") from None

    # ---- names ----
    def find(self, module: str, name: str) -> Any:
        """What ``GLOBAL module name`` becomes."""
        full = f"{module}.{name}"
        handler = self._handlers().get(full)
        if handler is not None:
            return handler
        if module == "torch" and name in _STORAGES:
            d = _STORAGES[name]
            if d is None:
                raise NotImplementedError(f"load: {self.where} holds bfloat16 tensors, which "
                                          f"nncore cannot hold (NumPy has no bfloat16): convert "
                                          f"them with .float() before torch.save")
            return _Marker(full, np.dtype(d))
        if module == "torch" and name in _TORCH_DTYPES:
            return getattr(dtypes, _TORCH_DTYPES[name])
        if module == "torch" and _OTHER_DTYPES.match(name):
            raise NotImplementedError(f"load: {self.where} holds torch.{name} values, a dtype "
                                      f"nncore does not have (convert such tensors to a "
                                      f"supported dtype before torch.save)")
        if module == "torch" or module.startswith("torch."):
            import pickle

            raise pickle.UnpicklingError(
                f"load: {self.where} holds {full}, a PyTorch object nncore does not rebuild "
                f"(it reads tensors, Parameters, state dicts, optimizer states and plain Python "
                f"values from PyTorch files): torch.save the model's state_dict() rather than "
                f"the model")
        obj = self.resolve(module, name)
        if isinstance(obj, type):
            self.classes.add(obj)
        return obj

    def _handlers(self) -> dict[str, Any]:
        def codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
            if not (isinstance(text, str) and isinstance(encoding, str)
                    and encoding in ("latin1", "latin-1", "utf-8")):
                raise self.bad(f"_codecs.encode({text!r:.40}, {encoding!r})")
            return text.encode(encoding)

        def new_bytearray(*args: Any) -> bytearray:
            if len(args) == 0 or (len(args) == 1 and isinstance(args[0], bytes)):
                return bytearray(*args)
            if len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], str) \
                    and args[1] in ("latin-1", "latin1"):
                return bytearray(args[0], args[1])
            raise self.bad(f"bytearray{args!r:.60}")

        def reconstruct(cls: Any, shape: Any, tag: Any) -> _Pending:
            if not (isinstance(cls, _Marker) and cls.name == "numpy.ndarray"):
                raise self.bad(f"numpy _reconstruct of {cls!r:.60}")
            self.pending += 1
            return _Pending("ndarray")

        def np_dtype(name: Any, align: Any = False, copy: Any = True) -> _Pending:
            self.pending += 1
            return _Pending("dtype", self._np_dtype(name))

        def np_scalar(d: Any, raw: Any = None) -> np.generic:
            if not isinstance(d, np.dtype) or not isinstance(raw, bytes) or len(raw) != d.itemsize:
                raise self.bad("a NumPy scalar needs a dtype and its bytes")
            return np.frombuffer(raw, dtype=d, count=1)[0]

        def frombuffer(raw: Any, d: Any, shape: Any, order: Any) -> np.ndarray:
            if not isinstance(raw, (bytes, bytearray)) or not isinstance(d, np.dtype) \
                    or not isinstance(order, str) or order not in ("C", "F"):
                raise self.bad("numpy _frombuffer needs bytes, a dtype, a shape and an order")
            d = self._np_dtype(d.str)
            shape = self._ints(shape, "NumPy shape")
            if len(raw) != int(np.prod(shape)) * d.itemsize:
                raise self.bad(f"NumPy array of shape {shape} and dtype {d} with {len(raw)} "
                               f"bytes")
            return np.frombuffer(raw, dtype=d).reshape(shape, order=order).copy(order="K")

        def builtin(kind: type) -> Callable[..., Any]:
            def make(*args: Any) -> Any:
                try:
                    return kind(*args)
                except (TypeError, ValueError, RuntimeError) as e:
                    raise self.bad(f"{kind.__name__}{args!r:.60}: {e}") from None
            return make

        out: dict[str, Any] = {
            "torch._utils._rebuild_tensor": Call("_rebuild_tensor", self._tensor_v1),
            "torch._utils._rebuild_tensor_v2": Call("_rebuild_tensor_v2", self._tensor_v2),
            "torch._utils._rebuild_tensor_v3": Call("_rebuild_tensor_v3", self._tensor_v3),
            "torch._utils._rebuild_parameter": Call("_rebuild_parameter", self._parameter),
            "torch._utils._rebuild_parameter_with_state": Call(
                "_rebuild_parameter_with_state", self._parameter),
            "torch._tensor._rebuild_from_type_v2": Call("_rebuild_from_type_v2",
                                                         self._from_type),
            "torch.storage.UntypedStorage": _Marker("torch.storage.UntypedStorage", None),
            "torch.Tensor": _Marker("torch.Tensor", Tensor),
            "torch.nn.parameter.Parameter": _Marker("torch.nn.parameter.Parameter", Parameter),
            "torch.Size": Call("torch.Size", lambda dims=(): Size(self._ints(dims, "Size"))),
            "torch.device": Call("torch.device", builtin(devices.device)),
            "collections.OrderedDict": Call("OrderedDict", builtin(collections.OrderedDict)),
            "collections.Counter": Call("Counter", builtin(collections.Counter)),
            "_codecs.encode": Call("_codecs.encode", codecs_encode),
            "numpy.ndarray": _Marker("numpy.ndarray"),
            "numpy.dtype": Call("numpy.dtype", np_dtype),
        }
        for kind in (set, frozenset, complex, slice, range):
            out[f"builtins.{kind.__name__}"] = Call(kind.__name__, builtin(kind))
        out["builtins.bytearray"] = Call("bytearray", new_bytearray)
        for core in ("numpy.core", "numpy._core"):
            out[f"{core}.multiarray._reconstruct"] = Call("_reconstruct", reconstruct)
            out[f"{core}.multiarray.scalar"] = Call("scalar", np_scalar)
            out[f"{core}.numeric._frombuffer"] = Call("_frombuffer", frombuffer)
        return out

    def _np_dtype(self, name: Any) -> np.dtype:
        try:
            d = np.dtype(name) if isinstance(name, str) else None
        except TypeError:
            d = None
        if d is None or d.kind not in "biufc":
            raise self.bad(f"NumPy dtype {name!r:.40} (only bool, integer, float and complex "
                           f"NumPy arrays are read)")
        return d

    # ---- storages and tensors ----
    def load_storage(self, pid: Any) -> _Storage:
        """BINPERSID: ``('storage', storage type, key, location, numel)``."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and isinstance(pid[0], str)
                and pid[0] == "storage"
                and isinstance(pid[1], _Marker) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and type(pid[4]) is int and pid[4] >= 0):
            raise self.bad(f"unexpected persistent id {pid!r:.80}")
        try:
            devices.device(pid[3])
        except (RuntimeError, TypeError):
            raise self.bad(f"storage location {pid[3]!r:.40} is not a device") from None
        return _Storage(pid[2], pid[1].value, pid[3], pid[4])

    def _storage_array(self, s: _Storage, dtype: np.dtype) -> np.ndarray:
        """The storage's elements as a 1-d array of ``dtype`` (read once per key and dtype)."""
        found = self.storages.get((s.key, dtype.str))
        if found is not None:
            return found
        raw = self._record(f"data/{s.key}")
        nbytes = s.numel * (1 if s.dtype is None else s.dtype.itemsize)
        if len(raw) != nbytes or len(raw) % dtype.itemsize:
            raise self.bad(f"storage {s.key!r} has {len(raw)} bytes, expected {nbytes} "
                           f"(of {dtype})")
        arr = np.frombuffer(raw, dtype=dtype.newbyteorder(">" if self.big else "<"))
        arr = arr.astype(dtype, copy=True)
        arr = self.locate(arr, s.location)
        self.storages[(s.key, dtype.str)] = arr
        return arr

    @staticmethod
    def _ints(value: Any, what: str) -> tuple[int, ...]:
        if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
            raise ValueError(f"load: bad tensor {what} {value!r:.80} in a PyTorch file")
        return value

    def _view(self, s: Any, dtype: np.dtype, offset: Any, size: Any, stride: Any) -> np.ndarray:
        if not isinstance(s, _Storage):
            raise self.bad(f"a tensor's storage is a {type(s).__name__}")
        size, stride = self._ints(size, "size"), self._ints(stride, "stride")
        if type(offset) is not int or offset < 0 or len(size) != len(stride):
            raise self.bad(f"tensor offset {offset!r} / size {size} / stride {stride}")
        key = (s.key, dtype.str, offset, size, stride)
        found = self.views.get(key)
        if found is not None:
            return found
        base = self._storage_array(s, dtype)
        if 0 in size:
            arr = np.empty(size, dtype=dtype)
        else:
            last = offset + sum((n - 1) * st for n, st in zip(size, stride))
            if last >= base.size:
                raise self.bad(f"a tensor of size {size} and stride {stride} at offset "
                               f"{offset} reaches past its storage of {base.size} elements")
            contiguous = all(st == int(np.prod(size[i + 1:])) for i, st in enumerate(stride)
                             if size[i] > 1)
            if contiguous:
                arr = base[offset:offset + int(np.prod(size))].reshape(size)
            else:
                # NOTE: a strided view over the storage, as in PyTorch; one with a zero stride
                # (an expand()) is read-only, like nncore's expanded tensors.
                arr = np.lib.stride_tricks.as_strided(
                    base[offset:], size, tuple(st * dtype.itemsize for st in stride),
                    writeable=all(st or n == 1 for n, st in zip(size, stride)))
        self.views[key] = arr
        return arr

    def _make(self, arr: np.ndarray, requires_grad: Any, cls: type = Tensor) -> Tensor:
        if arr.dtype not in dtypes._BY_NUMPY:
            raise NotImplementedError(f"load: {self.where} holds a {arr.dtype} tensor, a dtype "
                                      f"nncore tensors cannot hold")
        if type(requires_grad) is not bool or (requires_grad and arr.dtype.kind not in "fc"):
            raise self.bad(f"requires_grad={requires_grad!r} for a {arr.dtype} tensor")
        return _rebuild(cls, arr, requires_grad)

    def _check_metadata(self, metadata: Any) -> None:
        if metadata is None or (isinstance(metadata, dict) and not metadata):
            return
        if isinstance(metadata, dict):
            raise NotImplementedError(f"load: {self.where} holds a tensor with metadata "
                                      f"{metadata!r:.80} (conjugate/negative views), which "
                                      f"nncore does not read")
        raise self.bad(f"tensor metadata {type(metadata).__name__}")

    def _tensor_v1(self, storage: Any, offset: Any, size: Any, stride: Any) -> Tensor:
        return self._tensor_v2(storage, offset, size, stride, False, None)

    def _tensor_v2(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any,
                   hooks: Any, metadata: Any = None) -> Tensor:
        self._check_metadata(metadata)
        if not isinstance(storage, _Storage) or storage.dtype is None:
            raise self.bad("_rebuild_tensor_v2 needs a typed storage")
        return self._make(self._view(storage, storage.dtype, offset, size, stride),
                          requires_grad)

    def _tensor_v3(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any,
                   hooks: Any, dtype: Any, metadata: Any = None) -> Tensor:
        self._check_metadata(metadata)
        if not isinstance(dtype, dtypes.dtype):
            raise self.bad(f"_rebuild_tensor_v3 dtype {dtype!r:.40}")
        try:
            np_dtype = dtypes.to_numpy(dtype)
        except NotImplementedError:
            raise NotImplementedError(f"load: {self.where} holds {dtype} tensors, which nncore "
                                      f"cannot hold: convert them with .float() before "
                                      f"torch.save") from None
        return self._make(self._view(storage, np_dtype, offset, size, stride), requires_grad)

    def _parameter(self, data: Any, requires_grad: Any, hooks: Any, state: Any = None
                   ) -> Parameter:
        if not isinstance(data, Tensor):
            raise self.bad("_rebuild_parameter of a non-tensor")
        self._no_attributes(state)
        return self._make(data._array, requires_grad, Parameter)

    def _from_type(self, func: Any, new_type: Any, args: Any, state: Any) -> Tensor:
        if not isinstance(func, Call) or not isinstance(new_type, _Marker) \
                or not isinstance(args, tuple):
            raise self.bad("_rebuild_from_type_v2 of an unknown function or type")
        t = func.fn(*args)
        if not isinstance(t, Tensor) or not isinstance(new_type.value, type):
            raise self.bad(f"_rebuild_from_type_v2 to {new_type.name}")
        self._no_attributes(state)
        if type(t) is not new_type.value:
            t = _rebuild(new_type.value, t._array, t.requires_grad)
        return t

    def _no_attributes(self, state: Any) -> None:
        if state is None or (isinstance(state, dict) and not state):
            return
        if not (isinstance(state, dict) and all(isinstance(k, str) for k in state)):
            raise self.bad(f"tensor state {type(state).__name__}")
        raise NotImplementedError(f"load: {self.where} holds a tensor with Python attributes "
                                  f"{sorted(state)!r:.80}, which nncore tensors cannot carry: "
                                  f"delete them before torch.save")

    # ---- BUILD ----
    def build(self, inst: Any, state: Any) -> Any:
        """pickle's BUILD on ``inst``; returns the object that replaces it."""
        if isinstance(inst, _Pending):
            self.pending -= 1
            return self._finish(inst, state)
        if type(inst) in self.classes:
            set_state(inst, state, self.bad)
            return inst
        if isinstance(inst, collections.OrderedDict) and isinstance(state, dict) \
                and all(isinstance(k, str) for k in state):
            # NOTE: a state_dict's OrderedDict carries ``_metadata`` (module versions).
            inst.__dict__.update(state)
            return inst
        raise self.bad(f"BUILD (setting the state) of a {type(inst).__name__}")

    def _finish(self, inst: _Pending, state: Any) -> Any:
        if inst.kind == "dtype":
            if not (isinstance(state, tuple) and len(state) >= 5 and isinstance(state[1], str)
                    and state[1] in ("<", ">", "|", "=") and all(x is None for x in state[2:5])):
                raise self.bad(f"NumPy dtype state {state!r:.80}")
            return inst.value.newbyteorder(state[1]) if state[1] in "<>" else inst.value
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], np.dtype)
                and isinstance(state[4], bytes)):
            raise self.bad(f"NumPy array state {type(state).__name__}")
        _, shape, d, fortran, raw = state
        shape = self._ints(shape, "NumPy shape")
        d = self._np_dtype(d.str)
        if len(raw) != int(np.prod(shape)) * d.itemsize:
            raise self.bad(f"NumPy array of shape {shape} and dtype {d} with {len(raw)} bytes")
        arr = np.frombuffer(raw, dtype=d).reshape(shape, order="F" if fortran else "C")
        return arr.copy(order="K")

    # ---- the pickle machine ----
    def load(self) -> Any:
        """The archive's object."""
        result = Machine(self, self._record("data.pkl")).run()
        if self.pending:
            raise self.bad("a NumPy object was never completed (BUILD missing)")
        return result
