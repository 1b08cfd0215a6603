"""The one array helper the Functions share: native kernels take C-contiguous arrays only."""

from __future__ import annotations

import numpy as np


def contiguous(a: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype``, copied only when it is not one already."""
    if a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
        return a
    # NOTE: reshape, because ascontiguousarray turns a 0-d array into a 1-d one.
    return np.ascontiguousarray(a, dtype=dtype).reshape(a.shape)
