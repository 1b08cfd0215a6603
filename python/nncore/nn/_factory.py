"""The ``device=``/``dtype=`` arguments every layer constructor takes, as PyTorch's factory
kwargs: a CPU device check and the parameter dtype (the default dtype when None)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import devices, dtypes


def param_dtype(op: str, device: Any, dtype: Any) -> np.dtype:
    """The NumPy dtype for ``op``'s parameters and buffers.

    Args:
        op: the layer's name, for errors.
        device: None or a CPU device (anything else raises NotImplementedError).
        dtype: None (``nncore.get_default_dtype()``) or a floating dtype.
    Returns:
        A NumPy float dtype.
    """
    devices.check(device, op)
    if dtype is None:
        return dtypes.default_numpy()
    d = dtypes.to_numpy(dtype)
    if d.kind != "f":
        raise TypeError(f"{op}: parameters must have a floating dtype, got {dtype!r}")
    return d
