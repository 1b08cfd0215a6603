"""Former home of the datasets; they live in ``nncore.utils.data.dataset`` (same objects)."""

from nncore.utils.data.dataset import (  # noqa: F401
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
