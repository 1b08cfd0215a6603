"""Former home of the DataLoader; it lives in ``nncore.utils.data.dataloader`` (same objects)."""

from nncore.utils.data._utils.fetch import _array_source  # noqa: F401
from nncore.utils.data.dataloader import DataLoader, default_collate  # noqa: F401
