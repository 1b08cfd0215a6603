"""The error for PyTorch names nncore does not implement, raised by modules' ``__getattr__``."""

from __future__ import annotations


class Unsupported(AttributeError, NotImplementedError):
    """A PyTorch feature nncore lacks: an AttributeError, so ``hasattr`` is False and
    ``from m import X`` fails with ImportError, and a NotImplementedError that names it."""


def missing(module: str, name: str, torch_names: tuple[str, ...]) -> AttributeError:
    """The error for ``module.name``: Unsupported when PyTorch's module of the same place has
    ``name``, a plain AttributeError otherwise."""
    if name in torch_names:
        return Unsupported(f"{module}.{name}: PyTorch's {name} is not implemented by nncore")
    return AttributeError(f"module '{module}' has no attribute '{name}'")
