"""``nncore.jit``: TorchScript is not part of nncore. ``script`` and ``trace`` return what they are
given (the eager model computes the same results; compilation is only an optimisation);
saving and loading TorchScript archives raises."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["ignore", "load", "save", "script", "trace", "unused"]


def script(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """``obj`` unchanged: nncore runs it eagerly."""
    return obj


def trace(func: Any, example_inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``func`` unchanged: nncore runs it eagerly (for a file, see ``nncore.onnx.export``)."""
    return func


def ignore(drop: Any = False, **kwargs: Any) -> Callable:
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn: Callable) -> Callable:
    return fn


def save(m: Any, f: Any, _extra_files: Any = None) -> None:
    raise NotImplementedError("torch.jit.save: TorchScript archives are not supported by nncore; "
                              "use nncore.save(model.state_dict(), path) or nncore.onnx.export")


def load(f: Any, map_location: Any = None, _extra_files: Any = None) -> Any:
    raise NotImplementedError("torch.jit.load: TorchScript archives are not supported by nncore")
