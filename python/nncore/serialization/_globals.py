"""The classes and functions a file may name, and how a name becomes an object on load.

A file names a class or function as ``(module, qualname)``. With ``weights_only=True`` the name
is looked up in an allow-list (nncore's own types, a few of the standard library's, and what
the user passed to ``add_safe_globals`` / ``safe_globals``) and nothing is imported; any other
name raises ``pickle.UnpicklingError`` as ``torch.load`` does. With ``weights_only=False`` the
module is imported and the name looked up in it (importing a module runs its code: only for
files from a trusted source).
"""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import fractions
import functools
import importlib
import pathlib
import pickle
from typing import Any

import numpy as np

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "safe_globals"]

# NOTE: a set, as PyTorch keeps them: entries are callables or (callable, "module.name") pairs.
_user: set[Any] = set()


def global_name(obj: Any) -> str:
    """``module.qualname`` of a class or function (the name a file records)."""
    return f"{obj.__module__}.{obj.__qualname__}"


def _check_entries(op: str, entries: Any) -> list[Any]:
    if not isinstance(entries, (list, tuple, set)):
        raise TypeError(f"{op}: expected a list of classes or functions, got "
                        f"{type(entries).__name__}")
    for e in entries:
        if isinstance(e, tuple):
            if len(e) != 2 or not isinstance(e[1], str):
                raise TypeError(f"{op}: a tuple entry must be (class or function, "
                                f"'module.name'), got {e!r}")
        elif not callable(e) or not hasattr(e, "__qualname__"):
            raise TypeError(f"{op}: {e!r} is not a class or function")
    return list(entries)


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allow ``load(weights_only=True)`` to rebuild objects of these classes (and to return
    these functions), as ``torch.serialization.add_safe_globals``.

    Args:
        safe_globals: classes or functions, or ``(obj, "module.name")`` pairs for an object
            that files name differently from its ``__module__.__qualname__``.
    """
    _user.update(_check_entries("add_safe_globals", safe_globals))


def get_safe_globals() -> list[Any]:
    """The entries added by ``add_safe_globals`` (nncore's built-in ones are not listed)."""
    return list(_user)


def clear_safe_globals() -> None:
    """Remove every entry added by ``add_safe_globals``."""
    _user.clear()


class safe_globals:  # noqa: N801 (PyTorch's name)
    """``with safe_globals([MyModel, nn.Linear]): nncore.load(f)``: the entries are allowed
    inside the block only (the previous allow-list is restored on exit).

    Args:
        safe_globals: as for ``add_safe_globals``.
    """

    def __init__(self, safe_globals: list[Any]) -> None:
        self.safe_globals = _check_entries("safe_globals", safe_globals)
        self._saved: set[Any] = set()

    def __enter__(self) -> None:
        self._saved = set(_user)
        _user.update(self.safe_globals)

    def __exit__(self, *exc: object) -> None:
        _user.clear()
        _user.update(self._saved)


def _defaults() -> dict[str, Any]:
    from nncore import devices, dtypes
    from nncore.nn.parameter import Parameter
    from nncore.tensor import Size, Tensor

    out = {global_name(c): c for c in (
        Tensor, Parameter, Size, dtypes.dtype, devices.device, collections.OrderedDict,
        collections.Counter, collections.defaultdict, collections.deque,
        int, float, bool, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset,
        slice, range)}
    # NOTE: NumPy's scalar types (``dtype=np.float32`` in a config) are plain data.
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128):
        out[f"numpy.{t.__name__}"] = t
    return out


def allowed() -> dict[str, Any]:
    """Name -> object of everything ``weights_only=True`` may rebuild now."""
    out = _defaults()
    for e in _user:
        if isinstance(e, tuple):
            out[e[1]] = e[0]
        else:
            out[global_name(e)] = e
    return out


def unsupported(name: str) -> pickle.UnpicklingError:
    """PyTorch's error for a name outside the allow-list."""
    return pickle.UnpicklingError(
        "Weights only load failed. This file can still be loaded, to do so you have two "
        "options, do those steps only if you trust the source of the checkpoint.\n"
        "\t(1) Re-running `nncore.load` with `weights_only` set to `False` (weights_only=False) "
        "will likely succeed, but it imports modules and runs the classes' __setstate__, which "
        "can result in arbitrary code execution. Do it only if you got the file from a trusted "
        "source.\n"
        "\t(2) Alternatively, to load with `weights_only=True` please check the recommended "
        "steps in the following error message.\n"
        f"\tWeightsUnpickler error: Unsupported global: GLOBAL {name} was not an allowed "
        f"global by default. Please use `nncore.serialization.add_safe_globals([{name}])` or "
        f"the `nncore.serialization.safe_globals([{name}])` context manager to allowlist this "
        f"global if you trust this class/function.")


def import_global(module: str, qualname: str) -> Any:
    """The object ``module.qualname`` names, importing ``module`` (pickle's lookup).

    Raises:
        ModuleNotFoundError, AttributeError: when it does not exist.
    """
    if not all(part.isidentifier() for part in module.split(".")):
        # NOTE: importlib would take a leading "." as a relative import.
        raise ModuleNotFoundError(f"No module named {module!r}")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"Can't get attribute {qualname!r} on module "
                                 f"{module!r}") from None
    return obj


# NOTE: classes whose constructor only builds a value (no I/O, no calls of their arguments):
# loading may call them when their __reduce__ asks for it. Enums (a call is a member lookup)
# and pathlib's paths (no file system access) are admitted by kind.
_VALUE_CLASSES = frozenset({
    collections.deque, collections.defaultdict, collections.OrderedDict, collections.Counter,
    datetime.date, datetime.time, datetime.datetime, datetime.timedelta, datetime.timezone,
    decimal.Decimal, fractions.Fraction, functools.partial})


class Resolver:
    """Turns the names in one file into objects, by the allow-list or by import."""

    def __init__(self, weights_only: bool) -> None:
        self.weights_only = weights_only
        self.allowed = allowed() if weights_only else {}
        self._trusted = {id(e[0] if isinstance(e, tuple) else e) for e in _user}

    def may_call(self, cls: type) -> bool:
        """Whether loading may call ``cls(...)`` (not just ``cls.__new__``): value classes,
        enums, paths, and classes the user allow-listed (so trusted), whatever
        ``weights_only`` says."""
        return (cls in _VALUE_CLASSES or issubclass(cls, (enum.Enum, pathlib.PurePath))
                or id(cls) in self._trusted)

    def refuse_call(self, cls: type, where: str) -> pickle.UnpicklingError:
        name = global_name(cls)
        return pickle.UnpicklingError(
            f"load: {where} rebuilds a {name} by calling its class (its __reduce__ asks for "
            f"it), and nncore.load only calls classes that build plain values or that you "
            f"allow-list, even with weights_only=False: if you trust it, use "
            f"nncore.serialization.add_safe_globals([{name}]) or safe_globals([{name}])")

    def __call__(self, module: str, qualname: str) -> Any:
        name = f"{module}.{qualname}"
        if self.weights_only:
            if name not in self.allowed:
                raise unsupported(name)
            return self.allowed[name]
        return import_global(module, qualname)
