"""nncore.data: ``nncore.utils.data`` (PyTorch's ``torch.utils.data``: the same objects) plus
nncore's extras: ``datasets`` (MNIST, synthetic sets) and feature scalers (scikit-learn names)."""

from nncore.data import datasets
from nncore.data.preprocessing import MinMaxScaler, StandardScaler
from nncore.utils.data import *  # noqa: F403
from nncore.utils.data import __all__ as _utils_all

__all__ = ["MinMaxScaler", "StandardScaler", "datasets", *_utils_all]
