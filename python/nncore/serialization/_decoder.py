"""Rebuilding an object from the JSON tree ``_encoder.py`` writes (its docstring lists the node
kinds) and the file's arrays. Every node is validated: a malformed tree raises ValueError."""

from __future__ import annotations

import base64
import binascii
import collections
import math
from typing import Any, Callable

import numpy as np

from nncore import devices, dtypes
from nncore.serialization._globals import Resolver
from nncore.tensor import Size, Tensor, _rebuild

_SCALAR_TYPES = (type(None), bool, int, str)


class Decoder:
    """Rebuilds an object from its tree and the file's arrays.

    Args:
        arrays: stored array name -> loaded array.
        resolve: names -> objects (raising for names not allowed), and which classes may be
            called.
        where: the file, for messages.
    """

    def __init__(self, arrays: dict[str, np.ndarray], resolve: Resolver,
                 where: str) -> None:
        self.arrays = arrays
        self.resolve = resolve
        self.where = where
        self._memo: dict[int, Any] = {}
        self._views: dict[tuple, np.ndarray] = {}
        self._handed: set[str] = set()

    def bad(self, why: str) -> ValueError:
        return ValueError(f"load: {self.where} has a corrupt object tree: {why}")

    def decode(self, node: Any) -> Any:
        t = type(node)
        if t in _SCALAR_TYPES or t is float:
            return node
        if t is list:
            return [self.decode(v) for v in node]
        if t is not dict:
            raise self.bad(f"unexpected JSON value {node!r:.80}")
        tags = [k for k in node if k.startswith("$") and k != "$id"]
        if not tags:
            out: dict[str, Any] = {}
            self._register(node, out)
            for k, v in node.items():
                if k != "$id":
                    out[k] = self.decode(v)
            return out
        if len(tags) != 1 or tags[0] not in _TAGS:
            raise self.bad(f"unknown node {tags}")
        return _TAGS[tags[0]](self, node, node[tags[0]])

    # ---- helpers ----
    def _register(self, node: dict, obj: Any) -> Any:
        mid = node.get("$id")
        if mid is not None:
            if type(mid) is not int or mid in self._memo:
                raise self.bad(f"invalid or repeated $id {mid!r}")
            self._memo[mid] = obj
        return obj

    def _list(self, value: Any, what: str) -> list:
        if type(value) is not list:
            raise self.bad(f"{what} must be a list, got {value!r:.80}")
        return value

    def _str(self, value: Any, what: str) -> str:
        if type(value) is not str:
            raise self.bad(f"{what} must be a string, got {value!r:.80}")
        return value

    def _pairs(self, value: Any, what: str) -> list[tuple[Any, Any]]:
        out = []
        for pair in self._list(value, what):
            if type(pair) is not list or len(pair) != 2:
                raise self.bad(f"{what} entries must be [key, value] pairs, got {pair!r:.80}")
            out.append((self.decode(pair[0]), self.decode(pair[1])))
        return out

    def _fill(self, target: Any, pairs: list[tuple[Any, Any]], what: str) -> Any:
        for k, v in pairs:
            try:
                target[k] = v
            except TypeError as e:
                raise self.bad(f"{what} key {k!r:.80}: {e}") from None
        return target

    def _np_dtype(self, value: Any) -> np.dtype:
        try:
            d = np.dtype(self._str(value, "dtype"))
        except (TypeError, ValueError, OverflowError) as e:
            raise self.bad(f"bad NumPy dtype {value!r}: {e}") from None
        if d.hasobject or d.fields is not None or d.subdtype is not None or d.kind == "V":
            raise self.bad(f"NumPy dtype {d} cannot be loaded")
        return d

    def _name(self, value: Any) -> Any:
        if type(value) is not list or len(value) != 2 or not all(type(v) is str for v in value):
            raise self.bad(f"a global must be [module, qualname], got {value!r:.80}")
        return self.resolve(value[0], value[1])

    def _array(self, node: dict, name: Any) -> np.ndarray:
        if type(name) is not str or name not in self.arrays:
            raise self.bad(f"it refers to a stored array {name!r:.80} the file does not hold")
        base = self.arrays[name]
        d, shape = node.get("dtype"), node.get("shape")
        if d is None and shape is None:
            return base
        np_d = self._np_dtype(d)
        if shape is not None and not all(type(n) is int and n >= 0
                                         for n in self._list(shape, "shape")):
            raise self.bad(f"array shape {shape!r:.80} is not a list of sizes")
        key = (name, np_d.str, None if shape is None else tuple(shape))
        arr = self._views.get(key)
        if arr is not None:
            return arr
        if shape is not None:
            size = math.prod(shape) * np_d.itemsize
            if base.dtype != np.uint8 or base.ndim != 1 or base.size != size:
                raise self.bad(f"stored array {name!r} has {base.size} bytes, dtype {np_d} and "
                               f"shape {shape} need {size}")
            arr = base.view(np_d).reshape(shape) if size else np.empty(shape, dtype=np_d)
            if not arr.flags.aligned:
                arr = arr.copy()
        else:
            if (np_d.kind, np_d.itemsize) != (base.dtype.kind, base.dtype.itemsize):
                raise self.bad(f"stored array {name!r} of dtype {base.dtype} cannot be {np_d}")
            arr = base.astype(np_d)
        self._views[key] = arr
        return arr

    # ---- node kinds ----
    def _memo_ref(self, node: dict, mid: Any) -> Any:
        if type(mid) is not int or mid not in self._memo:
            raise self.bad(f"$memo {mid!r:.80} refers to nothing before it")
        return self._memo[mid]

    def _tensor(self, node: dict, name: Any) -> Tensor:
        arr = self._array(node, name)
        cls = Tensor
        if "class" in node:
            cls = self._name(node["class"])
            if not (isinstance(cls, type) and issubclass(cls, Tensor)):
                raise self.bad(f"tensor class {cls!r} is not a Tensor subclass")
        requires_grad = node.get("requires_grad", False)
        if type(requires_grad) is not bool or (requires_grad and arr.dtype.kind not in "fc"):
            raise self.bad(f"requires_grad={requires_grad!r} for a {arr.dtype} tensor")
        if arr.dtype not in dtypes._BY_NUMPY or not arr.dtype.isnative:
            raise self.bad(f"a tensor cannot have NumPy dtype {arr.dtype}")
        t = self._register(node, _rebuild(cls, arr, requires_grad))
        if "attrs" in node:
            self._setstate(t, self.decode(node["attrs"]))
        return t

    def _ndarray(self, node: dict, name: Any) -> np.ndarray:
        arr = self._array(node, name)
        # NOTE: distinct arrays over the same memory load as distinct views of one array.
        key = (name, node.get("dtype"), str(node.get("shape")))
        if key in self._handed:
            arr = arr.view()
        self._handed.add(key)
        return self._register(node, arr)

    def _dict(self, node: dict, value: Any) -> dict:
        return self._fill(self._register(node, {}), self._pairs(value, "$dict"), "$dict")

    def _odict(self, node: dict, value: Any) -> collections.OrderedDict:
        out = self._fill(self._register(node, collections.OrderedDict()),
                         self._pairs(value, "$odict"), "$odict")
        if "attrs" in node:
            self._setstate(out, self.decode(node["attrs"]))
        return out

    def _counter(self, node: dict, value: Any) -> collections.Counter:
        return self._fill(self._register(node, collections.Counter()),
                          self._pairs(value, "$counter"), "$counter")

    def _list_node(self, node: dict, value: Any) -> list:
        out = self._register(node, [])
        out.extend(self.decode(v) for v in self._list(value, "$list"))
        return out

    def _tuple(self, node: dict, value: Any) -> tuple:
        return self._register(node, tuple(self.decode(v) for v in self._list(value, "$tuple")))

    def _set(self, node: dict, value: Any) -> set:
        out = self._register(node, set())
        try:
            out.update(self.decode(v) for v in self._list(value, "$set"))
        except TypeError as e:
            raise self.bad(f"$set: {e}") from None
        return out

    def _frozenset(self, node: dict, value: Any) -> frozenset:
        try:
            out = frozenset(self.decode(v) for v in self._list(value, "$frozenset"))
        except TypeError as e:
            raise self.bad(f"$frozenset: {e}") from None
        return self._register(node, out)

    def _raw(self, node: dict, value: Any) -> bytes:
        if type(value) is dict and set(value) == {"storage"}:
            arr = self._array({}, value["storage"])
            if arr.dtype != np.uint8 or arr.ndim != 1:
                raise self.bad("stored bytes must be a 1-d uint8 array")
            return arr.tobytes()
        try:
            return base64.b64decode(self._str(value, "bytes"), validate=True)
        except binascii.Error as e:
            raise self.bad(f"bytes are not base64 ({e})") from None

    def _bytes(self, node: dict, value: Any) -> bytes:
        return self._raw(node, value)

    def _bytearray(self, node: dict, value: Any) -> bytearray:
        return self._register(node, bytearray(self._raw(node, value)))

    def _float(self, node: dict, value: Any) -> float:
        if value not in ("nan", "inf", "-inf"):
            raise self.bad(f"$float must be nan, inf or -inf, got {value!r:.80}")
        return float(value)

    def _complex(self, node: dict, value: Any) -> complex:
        parts = [self.decode(v) for v in self._list(value, "$complex")]
        if len(parts) != 2 or not all(type(p) is float for p in parts):
            raise self.bad(f"$complex must be [real, imag], got {value!r:.80}")
        return complex(*parts)

    def _npscalar(self, node: dict, value: Any) -> np.generic:
        d = self._np_dtype(value)
        try:
            raw = bytes.fromhex(self._str(node.get("hex"), "hex"))
        except ValueError as e:
            raise self.bad(f"$npscalar bytes: {e}") from None
        if len(raw) != d.itemsize:
            raise self.bad(f"$npscalar of dtype {d} has {len(raw)} bytes")
        return np.frombuffer(raw, dtype=d, count=1)[0]

    def _npdtype(self, node: dict, value: Any) -> np.dtype:
        return self._np_dtype(value)

    def _dtype(self, node: dict, value: Any) -> dtypes.dtype:
        d = getattr(dtypes, self._str(value, "$dtype"), None)
        if not isinstance(d, dtypes.dtype):
            raise self.bad(f"unknown dtype {value!r:.80}")
        return d

    def _device(self, node: dict, value: Any) -> devices.device:
        try:
            return devices.device(self._str(value, "$device"))
        except (RuntimeError, TypeError) as e:
            raise self.bad(f"$device: {e}") from None

    def _size(self, node: dict, value: Any) -> Size:
        if not all(type(n) is int for n in self._list(value, "$size")):
            raise self.bad(f"$size must list integers, got {value!r:.80}")
        return Size(value)

    def _slice(self, node: dict, value: Any) -> slice:
        parts = [self.decode(v) for v in self._list(value, "$slice")]
        if len(parts) != 3:
            raise self.bad(f"$slice must be [start, stop, step], got {value!r:.80}")
        return slice(*parts)

    def _range(self, node: dict, value: Any) -> range:
        parts = self._list(value, "$range")
        if len(parts) != 3 or not all(type(p) is int for p in parts) or parts[2] == 0:
            raise self.bad(f"$range must be [start, stop, step], got {value!r:.80}")
        return range(*parts)

    def _ellipsis(self, node: dict, value: Any) -> Any:
        return Ellipsis

    def _global(self, node: dict, value: Any) -> Any:
        return self._name(value)

    def _method(self, node: dict, value: Any) -> Any:
        owner = self.decode(value)
        name = self._str(node.get("name"), "method name")
        try:
            return getattr(owner, name)
        except AttributeError as e:
            raise self.bad(f"$method: {e}") from None

    def _object(self, node: dict, value: Any) -> Any:
        cls = self._name(value)
        if not isinstance(cls, type) or issubclass(cls, (Tensor, np.ndarray, np.generic)):
            raise self.bad(f"{cls!r} cannot be rebuilt as an object")
        args = [self.decode(a) for a in self._list(node.get("args", []), "args")]
        kwargs = self.decode(node.get("kwargs", {}))
        if type(kwargs) is not dict:
            raise self.bad("kwargs must be a dict")
        if "$call" in node and not self.resolve.may_call(cls):
            raise self.resolve.refuse_call(cls, self.where)
        try:
            obj = cls(*args, **kwargs) if "$call" in node else cls.__new__(cls, *args, **kwargs)
        except TypeError as e:
            raise self.bad(f"cannot rebuild a {cls.__qualname__} from its arguments ({e})"
                           ) from e
        self._register(node, obj)
        if "items" in node:
            items = [self.decode(v) for v in self._list(node["items"], "items")]
            extend = getattr(obj, "extend", None)
            if extend is None:
                raise self.bad(f"list items for a {cls.__qualname__}, which has no extend()")
            extend(items)
        if "dict" in node:
            self._fill(obj, self._pairs(node["dict"], "dict"), "dict")
        if "state" in node:
            self._setstate(obj, self.decode(node["state"]))
        return obj

    def _setstate(self, obj: Any, state: Any) -> None:
        set_state(obj, state, self.bad)


def set_state(obj: Any, state: Any, bad: Callable[[str], ValueError]) -> None:
    """pickle's BUILD: ``obj.__setstate__(state)`` when the class has one, else the instance
    dict (and slots) updated from ``state``; ``bad(why)`` makes the error for a malformed one."""
    setstate = getattr(obj, "__setstate__", None)
    if setstate is not None:
        setstate(state)
        return
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    for part in (state, slots):
        if part is not None and not (isinstance(part, dict)
                                     and all(type(k) is str for k in part)):
            raise bad(f"the state of a {type(obj).__qualname__} must map attribute names to "
                      f"values")
    try:
        if state:
            obj.__dict__.update(state)
        for k, v in (slots or {}).items():
            setattr(obj, k, v)
    except AttributeError as e:
        raise bad(f"cannot set the state of a {type(obj).__qualname__}: {e}") from None


_TAGS: dict[str, Callable[[Decoder, dict, Any], Any]] = {
    "$memo": Decoder._memo_ref, "$tensor": Decoder._tensor, "$ndarray": Decoder._ndarray,
    "$dict": Decoder._dict, "$odict": Decoder._odict, "$counter": Decoder._counter,
    "$list": Decoder._list_node, "$tuple": Decoder._tuple, "$set": Decoder._set,
    "$frozenset": Decoder._frozenset, "$bytes": Decoder._bytes,
    "$bytearray": Decoder._bytearray, "$float": Decoder._float, "$complex": Decoder._complex,
    "$npscalar": Decoder._npscalar, "$npdtype": Decoder._npdtype, "$dtype": Decoder._dtype,
    "$device": Decoder._device, "$size": Decoder._size, "$slice": Decoder._slice,
    "$range": Decoder._range, "$ellipsis": Decoder._ellipsis, "$global": Decoder._global,
    "$method": Decoder._method, "$object": Decoder._object, "$call": Decoder._object,
}
