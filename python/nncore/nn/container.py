"""Containers with PyTorch's list and dict behaviour: Sequential, ModuleList, ModuleDict,
ParameterList and ParameterDict (children named "0", "1", ... or by key)."""

from __future__ import annotations

import operator
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain, islice
from typing import Any

from nncore import autograd
from nncore.nn import hooks as _h
from nncore.nn.activation import ReLU
from nncore.nn.conv import MaxPool1d, MaxPool2d
from nncore.nn.flatten import Flatten  # noqa: F401  (nncore's old home of these two)
from nncore.nn.linear import Identity, Linear, linear_call  # noqa: F401 (Identity: its old home)
from nncore.nn.module import Module, _addindent
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor

__all__ = ["Container", "ModuleDict", "ModuleList", "ParameterDict", "ParameterList",
           "Sequential"]


class Container(Module):
    """Deprecated in PyTorch (subclass Module instead): children given as keywords."""

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn("`nn.Container` is deprecated. All of its functionality is now implemented "
                      "in `nn.Module`. Subclass that instead.", FutureWarning, stacklevel=2)
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)


def _renumber(container: Module) -> None:
    container._modules = OrderedDict((str(i), m) for i, m in
                                     enumerate(container._modules.values()))


class Sequential(Module):
    """Modules applied in order; children named "0", "1", ... (or by an OrderedDict's keys).

    Args:
        *args: modules, or one OrderedDict of name -> module.
    Shape:
        whatever the first module takes -> whatever the last returns.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def _item_by_idx(self, iterator: Iterable, idx: Any) -> Any:
        size = len(self)
        idx = operator.index(idx)
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range")
        return next(islice(iterator, idx % size, None))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._item_by_idx(self._modules.keys(), idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules)[idx]:
                delattr(self, key)
        else:
            delattr(self, self._item_by_idx(self._modules.keys(), idx))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def __add__(self, other: Any) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        out = Sequential()
        for layer in chain(self, other):
            out.append(layer)
        return out

    def __iadd__(self, other: Any) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        offset = len(self)
        for i, module in enumerate(other):
            self.add_module(str(i + offset), module)
        return self

    def _check_factor(self, other: Any) -> None:
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")

    def __mul__(self, other: int) -> Sequential:
        self._check_factor(other)
        out = Sequential()
        for i, module in enumerate(chain.from_iterable([self] * other)):
            out.add_module(str(i), module)
        return out

    __rmul__ = __mul__

    def __imul__(self, other: int) -> Sequential:
        self._check_factor(other)
        mods = list(self._modules.values())
        for i, module in enumerate(mods * (other - 1), start=len(mods)):
            self.add_module(str(i), module)
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove and return the module (or Sequential of modules) at ``key``."""
        v = self[key]
        del self[key]
        return v

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end."""
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (negative counts from the end)."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        index = index + n if index < 0 else index
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules = OrderedDict((str(i), m) for i, m in enumerate(mods))
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        """Append every module of ``sequential``."""
        for layer in sequential:
            self.append(layer)
        return self

    def forward(self, input: Any) -> Any:
        modules = list(self)
        i, n = 0, len(modules)
        while i < n:
            module = modules[i]
            nxt = modules[i + 1] if i + 1 < n else None
            kind = type(module)
            # NOTE: two exact rewrites of a pair of layers, only when nothing could see the
            # first one's output: no hooks anywhere, no subclass, no per-instance forward, no op
            # tracer or profiler (the ONNX exporter and nncore.profiler show each layer's ops).
            # - Linear then ReLU run as one native linear_relu each way: the same bits as the
            #   two ops (tests/ops/test_linear.py), one op and one pass over the activations
            #   fewer (~10 us of a 0.4 ms MLP step).
            # - ReLU then MaxPool1d/2d run as the pool then the ReLU: max and ReLU commute
            #   (NaN included), and so do their gradients (a window's maximum is positive at
            #   the same position in both orders, else its gradient is zero in both), so values
            #   and gradients keep their bits (tests/test_nn_fast_path.py); the ReLU
            #   passes over a quarter of the activations (a 2x2 pool): LeNet's 1-thread train
            #   step 18.8 -> 16.0 ms.
            if ((kind is Linear and type(nxt) is ReLU or kind is ReLU
                 and type(nxt) in _POOLS_AFTER_RELU and not nxt.return_indices)
                    and isinstance(input, Tensor) and autograd._tracer is None
                    and autograd._spans is None
                    and _unobserved(module) and _unobserved(nxt)):
                input = (linear_call(module, input, True) if kind is Linear
                         else module(nxt(input)))
                i += 2
                continue
            input = module(input)
            i += 1
        return input


# Pools whose maximum commutes with a ReLU before them (Sequential.forward).
_POOLS_AFTER_RELU = (MaxPool1d, MaxPool2d)


def _unobserved(module: Module) -> bool:
    """Whether calling ``module`` is exactly its class's forward: no forward or backward hook on
    it or global, no forward set on the instance."""
    return not (module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks or _h._global_forward_hooks
                or _h._global_forward_pre_hooks or _h._global_backward_hooks
                or _h._global_backward_pre_hooks or "forward" in module.__dict__)


class ModuleList(Module):
    """A list of Modules whose parameters are registered (children "0", "1", ...).

    Args:
        modules: an iterable of modules to add.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def _abs_index(self, idx: Any) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._abs_index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._abs_index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._abs_index(idx))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        out = ModuleList()
        for i, module in enumerate(chain(self, other)):
            out.add_module(str(i), module)
        return out

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def __repr__(self) -> str:
        # NOTE: PyTorch's compressed form: a run of identical children prints once as
        # "(0-2): 3 x Linear(...)".
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        runs: list[list[Any]] = []
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = []
        for start, end, r in runs:
            head = f"({start}): " if start == end else f"({start}-{end}): {end - start + 1} x "
            lines.append(_addindent(head + r, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules = OrderedDict((str(i), m) for i, m in enumerate(mods))

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end."""
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove and return the module at ``key``."""
        v = self[key]
        del self[key]
        return v

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``."""
        if not isinstance(modules, Iterable):
            raise TypeError(f"ModuleList.extend should be called with an iterable, but got "
                            f"{type(modules).__name__}")
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self


def _pairs(op: str, values: Any, sort_plain: bool) -> Iterator[tuple[Any, Any]]:
    """(key, value) pairs of a mapping or an iterable of pairs, with PyTorch's checks."""
    if not isinstance(values, Iterable):
        raise TypeError(f"{op}.update should be called with an iterable of key/value pairs, but "
                        f"got {type(values).__name__}")
    if isinstance(values, (OrderedDict, ModuleDict, ParameterDict)):
        yield from values.items()
    elif isinstance(values, Mapping):
        yield from (sorted(values.items()) if sort_plain else values.items())
    else:
        for j, item in enumerate(values):
            if not isinstance(item, Iterable):
                raise TypeError(f"{op} update sequence element #{j} should be Iterable; is"
                                f"{type(item).__name__}")
            item = list(item)
            if len(item) != 2:
                raise ValueError(f"{op} update sequence element #{j} has length {len(item)}; 2 "
                                 f"is required")
            yield item[0], item[1]


class ModuleDict(Module):
    """An ordered dict of Modules whose parameters are registered.

    Args:
        modules: a mapping of name -> module, or an iterable of (name, module) pairs.
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``."""
        v = self[key]
        del self[key]
        return v

    def keys(self) -> Any:
        return self._modules.keys()

    def items(self) -> Any:
        return self._modules.items()

    def values(self) -> Any:
        return self._modules.values()

    def update(self, modules: Any) -> None:
        """Add or replace modules from a mapping or an iterable of (name, module) pairs."""
        for key, module in _pairs("ModuleDict", modules, sort_plain=False):
            self[key] = module


def _tensor_line(k: Any, p: Any, type_name: bool) -> str:
    """One line of ParameterList's (dtype: ``torch.float32``) or ParameterDict's (type name:
    ``torch.FloatTensor``) repr, as PyTorch prints them."""
    if isinstance(p, Tensor):
        kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
        size = "x".join(str(s) for s in p.shape)
        what = p.type() if type_name else f"torch.{p.dtype.name}"
        return f"  ({k}): {kind} containing: [{what} of size {size}]"
    return f"  ({k}): Object of type: {type(p).__name__}"


class ParameterList(Module):
    """A list whose Tensors are registered as Parameters (plain Tensors are converted).

    Args:
        values: an iterable of elements to add.
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _abs_index(self, idx: Any) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            out = type(self)()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, self._abs_index(idx))

    def __setitem__(self, idx: int, param: Any) -> None:
        key = self._abs_index(idx)
        if isinstance(param, Tensor) and not isinstance(param, Parameter):
            param = Parameter(param)
        setattr(self, key, param)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value: Any) -> ParameterList:
        """Add ``value`` at the end (a Tensor becomes a Parameter)."""
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append every element of ``values``."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got "
                            f"{type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_tensor_line(k, p, False) for k, p in enumerate(self))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict whose Tensors are registered as Parameters (plain Tensors are converted).

    Args:
        parameters: a mapping of name -> value, or an iterable of (name, value) pairs (a plain
            dict is added in sorted key order, as PyTorch does).
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _attr(key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"Index given to ParameterDict cannot be used as a key as it is not "
                            f"a string (type is '{type(key).__name__}'). Open an issue on "
                            f"github if you need non-string keys.")
        return key

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._attr(key))

    def __setitem__(self, key: str, value: Any) -> None:
        self._keys[key] = None
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, self._attr(key), value)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def copy(self) -> ParameterDict:
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def popitem(self) -> tuple[str, Any]:
        k = next(reversed(self._keys))
        return k, self.pop(k)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        return ParameterDict((k, default) for k in keys)

    def keys(self) -> Any:
        return self._keys.keys()

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, self[k]) for k in self._keys)

    def values(self) -> Iterator[Any]:
        return (self[k] for k in self._keys)

    def update(self, parameters: Any) -> None:
        """Add or replace entries from a mapping or an iterable of (name, value) pairs."""
        for key, value in _pairs("ParameterDict", parameters, sort_plain=True):
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(_tensor_line(k, p, True) for k, p in self.items())

    def __call__(self, input: Any) -> Any:
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other: ParameterDict) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self
