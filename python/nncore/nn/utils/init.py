"""``skip_init``: build a module without running its initialisation's values."""

from __future__ import annotations

from typing import Any

from nncore.nn.module import Module


def skip_init(module_cls: type, *args: Any, **kwargs: Any) -> Module:
    """``module_cls(*args, **kwargs)`` with uninitialised parameters and buffers (PyTorch's
    ``torch.nn.utils.skip_init``; nncore builds it, then replaces the values by empty arrays).

    Returns:
        The module.
    """
    if not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    device = kwargs.get("device")
    return module_cls(*args, **kwargs).to_empty(device=device)
