"""An object tree as JSON plus named arrays: what ``nncore.save`` stores, without pickle.

JSON values stand for themselves: ``None``, ``bool``, ``int``, ``str``, finite ``float``, lists
(JSON arrays) and dicts whose keys are all strings not starting with ``$`` (JSON objects).
Everything else is a JSON object with one ``$tag`` key:

``$tensor``/``$ndarray`` (the name of a stored array, plus ``dtype``/``shape`` when it was stored
as raw bytes or in another byte order, ``requires_grad``, ``class`` for a Parameter or another
Tensor subclass), ``$dict``/``$odict``/``$counter`` (``[[key, value], ...]``), ``$tuple``,
``$set``, ``$frozenset``, ``$list``, ``$bytes``/``$bytearray`` (base64, or a stored uint8 array),
``$float`` (nan, inf, -inf), ``$complex``, ``$npscalar`` (dtype and raw bytes in hex),
``$npdtype``, ``$dtype``, ``$device``, ``$size``, ``$slice``, ``$range``, ``$ellipsis``,
``$global`` (a class or function by ``[module, qualname]``), ``$method`` (a bound method),
``$object`` (``cls.__new__(cls, *args)`` then the state, as pickle's NEWOBJ and BUILD) and
``$call`` (an object whose ``__reduce__`` asks for its own class to be called with data
arguments: enums, ``collections.deque``, ``datetime``). An object referenced twice carries
``$id`` where it first appears and is ``{"$memo": id}`` afterwards, so sharing and cycles
survive; two tensors or arrays over the same memory share one stored array.
"""

from __future__ import annotations

import base64
import collections
import copyreg
import json
import math
import types
from typing import Any

import numpy as np

from nncore import devices, dtypes
from nncore.serialization._globals import import_global
from nncore.serialization._safetensors import _CODES, _DTYPES
from nncore.tensor import Size, Tensor

# NOTE: bytes up to this size go into the JSON; larger ones are stored as uint8 arrays.
_INLINE_BYTES = 4096
_SCALAR_TYPES = (type(None), bool, int, str)


class _Slot:
    """The node of an object that may be referenced again; gets an id once it is."""

    __slots__ = ("node", "id")

    def __init__(self) -> None:
        self.node: Any = None
        self.id: int | None = None


class _Ref:
    __slots__ = ("slot",)

    def __init__(self, slot: _Slot) -> None:
        self.slot = slot


def _finish(x: Any) -> Any:
    """json.dumps' ``default``: a slot becomes its node (with ``$id`` when shared)."""
    if isinstance(x, _Ref):
        return {"$memo": x.slot.id}
    if isinstance(x, _Slot):
        if x.id is None:
            return x.node
        if isinstance(x.node, dict):
            return {"$id": x.id, **x.node}
        return {"$id": x.id, "$list": x.node}
    raise TypeError(f"unexpected {type(x).__name__} in the object tree")


def _where(path: tuple) -> str:
    return "obj" + "".join(f"[{p!r}]" for p in path)


def _drop_hooks(state: Any) -> Any:
    # NOTE: hooks are closures and bound methods of the running program, not state: a Module's
    # hook containers are saved empty (so the rebuilt Module has them), as its tensors' are.
    if not isinstance(state, dict):
        return state
    return {k: type(v)() if isinstance(k, str) and k.startswith("_") and "hooks" in k
            and isinstance(v, (dict, list)) else v for k, v in state.items()}


class Encoder:
    """Turns an object into a JSON-able tree; ``storages`` collects the arrays by name."""

    def __init__(self) -> None:
        self.storages: dict[str, np.ndarray] = {}
        self._slots: dict[int, _Slot] = {}
        self._keep: list[Any] = []  # NOTE: keeps every visited object alive, so ids stay unique
        self._building: set[int] = set()  # tuples (and objects' constructor args) in progress
        self._by_memory: dict[tuple, str] = {}
        self._next_id = 0

    def dumps(self, obj: Any) -> str:
        """The JSON text of ``obj``'s tree (fills ``storages``)."""
        tree = self.encode(obj, ())
        return json.dumps(tree, default=_finish, allow_nan=False, ensure_ascii=False,
                          separators=(",", ":"))

    # ---- leaves ----
    def encode(self, obj: Any, path: tuple) -> Any:
        t = type(obj)
        if t in _SCALAR_TYPES:
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if isinstance(obj, np.generic):
            return self._npscalar(obj, path)
        if t is complex:
            return {"$complex": [self.encode(obj.real, path), self.encode(obj.imag, path)]}
        if t is bytes:
            return {"$bytes": self._bytes(obj, path)}
        if t is dtypes.dtype:
            return {"$dtype": obj.name}
        if t is np.dtype or isinstance(obj, np.dtype):
            return {"$npdtype": self._dtype_str(obj, path)}
        if t is devices.device:
            return {"$device": str(obj)}
        if t is Size:
            return {"$size": [int(n) for n in obj]}
        if t is slice:
            return {"$slice": [self.encode(v, path) for v in (obj.start, obj.stop, obj.step)]}
        if t is range:
            return {"$range": [obj.start, obj.stop, obj.step]}
        if obj is Ellipsis:
            return {"$ellipsis": None}
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
            return {"$global": self._name_of(obj, path)}
        return self._shared(obj, t, path)

    def _npscalar(self, obj: np.generic, path: tuple) -> dict:
        return {"$npscalar": self._dtype_str(obj.dtype, path),
                "hex": np.asarray(obj).tobytes().hex()}

    @staticmethod
    def _dtype_str(d: np.dtype, path: tuple) -> str:
        if d.hasobject or d.fields is not None or d.subdtype is not None or d.kind == "V":
            raise TypeError(f"save: {_where(path)} has NumPy dtype {d}, which nncore files "
                            f"cannot hold (object, structured and void dtypes)")
        return d.str

    def _bytes(self, data: bytes | bytearray, path: tuple) -> Any:
        if len(data) <= _INLINE_BYTES:
            return base64.b64encode(data).decode("ascii")
        return {"storage": self._storage(np.frombuffer(data, dtype=np.uint8), path)[0]}

    def _name_of(self, obj: Any, path: tuple) -> list[str]:
        """``[module, qualname]`` of a class or function that can be found again by name."""
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if isinstance(obj, np.ufunc):
            module, qualname = "numpy", obj.__name__
        problem = None
        if not isinstance(module, str) or not isinstance(qualname, str):
            problem = "it has no __module__ and __qualname__"
        elif "<locals>" in qualname or "<lambda>" in qualname:
            problem = "it is defined inside a function (or is a lambda)"
        else:
            try:
                found = import_global(module, qualname)
            except (ImportError, AttributeError) as e:
                problem = f"{module}.{qualname} cannot be imported ({e})"
            else:
                if found is not obj:
                    problem = f"{module}.{qualname} is another object"
        if problem is not None:
            import pickle

            raise pickle.PicklingError(f"save: cannot save {_where(path)} ({obj!r}): files "
                                       f"name classes and functions by module and qualified "
                                       f"name, and {problem}")
        return [module, qualname]

    # ---- objects that may be shared ----
    def _shared(self, obj: Any, t: type, path: tuple) -> Any:
        key = id(obj)
        slot = self._slots.get(key)
        if slot is not None:
            if key in self._building:
                raise ValueError(f"save: {_where(path)} contains itself through a tuple (or an "
                                 f"object's constructor arguments), which cannot be rebuilt")
            if slot.id is None:
                slot.id = self._next_id
                self._next_id += 1
            return _Ref(slot)
        slot = self._slots[key] = _Slot()
        self._keep.append(obj)
        slot.node = self._container(obj, t, path)
        return slot

    def _pairs(self, items: Any, path: tuple) -> list[list[Any]]:
        return [[self.encode(k, path), self.encode(v, path + (k,))] for k, v in items]

    def _container(self, obj: Any, t: type, path: tuple) -> Any:
        if isinstance(obj, Tensor):
            return self._tensor(obj, path)
        if isinstance(obj, np.ndarray):
            name, node = self._storage(obj, path)
            return {"$ndarray": name, **node}
        if t is list:
            return [self.encode(v, path + (i,)) for i, v in enumerate(obj)]
        if t is dict:
            if all(type(k) is str and not k.startswith("$") for k in obj):
                return {k: self.encode(v, path + (k,)) for k, v in obj.items()}
            return {"$dict": self._pairs(obj.items(), path)}
        if t is collections.OrderedDict:
            node = {"$odict": self._pairs(obj.items(), path)}
            if getattr(obj, "__dict__", None):
                node["attrs"] = self.encode(dict(obj.__dict__), path)
            return node
        if t is collections.Counter:
            return {"$counter": self._pairs(obj.items(), path)}
        if t in (tuple, frozenset):
            self._building.add(id(obj))
            try:
                items = [self.encode(v, path + (i,)) for i, v in enumerate(self._ordered(obj))]
            finally:
                self._building.discard(id(obj))
            return {"$tuple" if t is tuple else "$frozenset": items}
        if t is set:
            return {"$set": [self.encode(v, path + (i,)) for i, v in enumerate(self._ordered(obj))]}
        if t is bytearray:
            return {"$bytearray": self._bytes(bytes(obj), path)}
        if t is types.MethodType:
            return {"$method": self.encode(obj.__self__, path), "name": obj.__func__.__name__}
        return self._object(obj, t, path)

    @staticmethod
    def _ordered(items: Any) -> list[Any]:
        # NOTE: sets iterate in hash order, which differs between runs for strings; sorted
        # elements make the same object give the same file.
        if isinstance(items, tuple):
            return list(items)
        try:
            return sorted(items)
        except (TypeError, ValueError, RuntimeError):  # unorderable (or tensor) elements
            return list(items)

    def _storage(self, arr: np.ndarray, path: tuple) -> tuple[str, dict[str, Any]]:
        """(the stored array's name, the node fields that restore ``arr``'s dtype)."""
        d = arr.dtype
        self._dtype_str(d, path)
        code = _CODES.get((d.kind, d.itemsize)) if d.kind in "biuf" else None
        fields: dict[str, Any] = {}
        if code is None:
            fields = {"dtype": d.str, "shape": list(arr.shape)}
        elif d.byteorder == ">":
            fields = {"dtype": d.str}
        key = (arr.__array_interface__["data"][0], arr.shape, arr.strides, d.str)
        name = self._by_memory.get(key)
        if name is None:
            if code is None:
                stored = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
            else:
                stored = np.asarray(arr, dtype=_DTYPES[code], order="C")
            base = ".".join(str(p) for p in path) or "tensor"
            name, k = base, 1
            while name in self.storages or name == "__metadata__":
                k += 1
                name = f"{base}#{k}"
            self.storages[name] = stored
            self._by_memory[key] = name
            self._keep.append(arr)
        return name, fields

    def _tensor(self, t: Tensor, path: tuple) -> dict[str, Any]:
        name, fields = self._storage(t._array, path)
        node: dict[str, Any] = {"$tensor": name, **fields}
        if t.requires_grad:
            node["requires_grad"] = True
        if type(t) is not Tensor:
            node["class"] = self._name_of(type(t), path)
        extra = getattr(t, "__dict__", None)
        if extra:
            node["attrs"] = self.encode(dict(extra), path)
        return node

    def _object(self, obj: Any, t: type, path: tuple) -> Any:
        try:
            rv = obj.__reduce_ex__(4)
        except TypeError as e:
            raise TypeError(f"save: cannot save {_where(path)} (a {t.__qualname__}): {e}"
                            ) from None
        if isinstance(rv, str):
            return {"$global": self._name_of(obj, path)}
        func, args, state, items, pairs, setter = (tuple(rv) + (None,) * 6)[:6]
        kwargs: dict = {}
        if func is copyreg.__newobj__:
            cls, args, kind = args[0], args[1:], "$object"
        elif func is copyreg.__newobj_ex__:
            (cls, args, kwargs), kind = args, "$object"
        elif func is t:
            cls, kind = t, "$call"
        else:
            raise TypeError(f"save: cannot save {_where(path)} (a {t.__qualname__}): its "
                            f"__reduce__ rebuilds it by calling {func!r}, and nncore files never "
                            f"call functions on load (only a class's __new__, or the class "
                            f"itself when __reduce__ asks for it)")
        if cls is not t or setter is not None:
            raise TypeError(f"save: cannot save {_where(path)} (a {t.__qualname__}): its "
                            f"__reduce__ rebuilds another class or uses a state setter")
        node: dict[str, Any] = {kind: self._name_of(cls, path)}
        self._building.add(id(obj))
        try:
            if args:
                node["args"] = [self.encode(a, path + (i,)) for i, a in enumerate(args)]
            if kwargs:
                node["kwargs"] = self.encode(dict(kwargs), path)
        finally:
            self._building.discard(id(obj))
        if items is not None:
            node["items"] = [self.encode(v, path + (i,)) for i, v in enumerate(items)]
        if pairs is not None:
            node["dict"] = self._pairs(pairs, path)
        if state is not None:
            from nncore.nn.module import Module

            if isinstance(obj, Module):
                state = _drop_hooks(state)
            node["state"] = self.encode(state, path)
        return node
