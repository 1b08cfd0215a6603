"""Module: PyTorch's layer API (registration by assignment, state_dict, train/eval)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Callable, NamedTuple

import numpy as np

from nncore import dtypes
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor, parse_to


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer. Subclasses set parameters in ``__init__`` and define
    ``forward``; assigning a Parameter, a Module or (via ``register_buffer``) an array
    registers it."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ----
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() first")
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()) and value is not None:
            self._buffers[name] = value if isinstance(value, Tensor) else Tensor(value)
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """Register non-learnable state (running statistics): saved in ``state_dict``."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        if value is None:
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, value)

    def add_module(self, name: str, module: Module | None) -> None:
        setattr(self, name, module)

    # ---- forward ----
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- traversal ----
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items()]
            stack.extend(reversed([c for c in children if c[1] is not None]))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, mod in mods:
            for pname, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for mname, mod in self.named_modules(prefix):
            for bname, b in mod._buffers.items():
                yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    # ---- modes and grads ----
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad._array[...] = 0

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``, as PyTorch:
        floating parameters and buffers are cast in place (the Parameter objects stay, so an
        optimizer made before keeps working); the CPU is the only device."""
        dtype, _ = parse_to(self, "Module.to", args, kwargs)
        if dtype is None:
            return self
        dtype = dtypes.to_numpy(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: nn.Module.to only accepts floating point dtypes, but "
                            f"got desired dtype={dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t._array.dtype.kind == "f" and t._array.dtype != dtype:
                t._array = t._array.astype(dtype)
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad._array.astype(dtype))
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ---- state ----
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and persistent buffers by dotted name, as NumPy arrays (copies)."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for mname, mod in self.named_modules():
            skip = mod.__dict__.get("_non_persistent", ())
            items = list(mod._parameters.items()) + list(mod._buffers.items())
            for name, t in items:
                if t is not None and name not in skip:
                    out[f"{mname}.{name}" if mname else name] = t._array.copy()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) into parameters and buffers, keeping their dtype.

        Raises KeyError (strict) naming missing and unexpected keys, ValueError on a shape
        mismatch.
        """
        own = self.state_dict()
        targets: dict[str, Tensor] = {}
        for mname, mod in self.named_modules():
            for name, t in list(mod._parameters.items()) + list(mod._buffers.items()):
                if t is not None:
                    targets[f"{mname}.{name}" if mname else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        arrays = {}
        for key in own:
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = np.asarray(value._array if isinstance(value, Tensor) else value)
            if arr.shape != own[key].shape:
                raise ValueError(f"load_state_dict: {key} has shape {arr.shape} in the state "
                                 f"dict but {own[key].shape} in the model")
            arrays[key] = arr
        for key, arr in arrays.items():
            t = targets[key]
            t._array[...] = arr
        return IncompatibleKeys(missing, unexpected)

    # ---- repr ----
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, mod in self._modules.items():
            body = repr(mod).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"{extra}" if extra else "")
        return head + "\n  " + "\n  ".join(lines) + "\n)"
