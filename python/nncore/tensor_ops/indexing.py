"""Selection by condition and index (``nncore.where``...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.ops import basic
from nncore.tensor import Tensor

__all__ = ["where"]
METHODS = ()


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """Elementwise ``input`` where ``condition`` else ``other``, differentiable in both; with the
    condition alone, the indices where it holds (one int64 tensor per dimension)."""
    cond = condition._array if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(cond))
    ta = input if isinstance(input, Tensor) else None
    tb = other if isinstance(other, Tensor) else None
    like = ta if ta is not None else tb
    if like is None:
        return Tensor._wrap(np.where(cond, input, other))
    return basic.WhereFn.apply(like._other(input), like._other(other), condition=cond)
