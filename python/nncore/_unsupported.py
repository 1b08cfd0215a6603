"""Clear errors for PyTorch names nncore does not have.

``_torch_names.json`` lists the public names of PyTorch 2.13's main namespaces (read off
``dir(torch)``, ``dir(torch.Tensor)``, ``dir(torch.nn.functional)``...). A missing attribute of an
nncore namespace that PyTorch has raises ``UnsupportedError`` naming the PyTorch feature; any other
missing name is a plain AttributeError. ``UnsupportedError`` is both a NotImplementedError and an
AttributeError, so ``hasattr(torch, "name")`` feature checks keep answering False.
"""

from __future__ import annotations

import functools
import json
import os
from typing import NoReturn


class UnsupportedError(NotImplementedError, AttributeError):
    """A PyTorch feature nncore does not implement."""


@functools.cache
def _names() -> dict[str, frozenset[str]]:
    path = os.path.join(os.path.dirname(__file__), "_torch_names.json")
    with open(path, encoding="utf-8") as f:
        return {k: frozenset(v) for k, v in json.load(f).items()}


def missing(namespace: str, name: str, owner: str) -> NoReturn:
    """Raise for attribute ``name`` missing from ``owner`` (an nncore namespace standing for
    PyTorch's ``namespace``, e.g. ``"torch.nn.functional"``)."""
    if not name.startswith("_") and name in _names().get(namespace, ()):
        raise UnsupportedError(f"{namespace}.{name} is not supported by nncore yet (nncore "
                               f"implements PyTorch's CPU training API; this feature is missing)")
    raise AttributeError(f"{owner} has no attribute {name!r}")
