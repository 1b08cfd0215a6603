"""The machinery of ``nncore.nn.modules.<name>``: each file lists the classes PyTorch's module of
that name holds and finds them, when first asked for, in nncore's ``nn`` namespace (or a named
nncore module). A class added to ``nncore.nn`` later appears here with no edit; a PyTorch class
nncore lacks raises ``nncore._unsupported.UnsupportedError`` (a NotImplementedError naming it and
an AttributeError, so ``hasattr`` stays False)."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from nncore._unsupported import UnsupportedError


def exports(module: str, names: tuple[str, ...], sources: tuple[str, ...] = ("nncore.nn",)
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for the module ``module`` offering ``names``, looked up
    in ``sources`` in order. ``__all__`` lists the names nncore has."""

    def find(name: str) -> Any:
        for src in sources:
            value = getattr(importlib.import_module(src), name, None)
            if value is not None:
                return value
        return None

    def __getattr__(name: str) -> Any:  # noqa: N807
        if name == "__all__":
            return [n for n in names if find(n) is not None]
        if name in names:
            value = find(name)
            if value is not None:
                return value
        torch_name = module.replace("nncore.", "torch.", 1)
        if name in names:
            raise UnsupportedError(f"{torch_name}.{name} is not supported by nncore yet (nncore "
                                   f"implements PyTorch's CPU training API; this feature is "
                                   f"missing)")
        raise AttributeError(f"module '{module}' has no attribute '{name}'")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(__getattr__("__all__"))

    return __getattr__, __dir__
