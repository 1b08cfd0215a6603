"""PyTorch's ``torch.utils.data``: datasets, samplers, ``DataLoader`` with worker processes.

``import nncore as torch`` then ``torch.utils.data.DataLoader(...)`` runs a PyTorch data
pipeline unchanged; batches are nncore Tensors.
"""

from nncore.utils.data import distributed
from nncore.utils.data._utils.collate import default_collate, default_convert
from nncore.utils.data._utils.worker import WorkerInfo, get_worker_info
from nncore.utils.data.dataloader import DataLoader
from nncore.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from nncore.utils.data.distributed import DistributedSampler
from nncore.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
    "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler",
    "StackDataset", "Subset", "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler",
    "WorkerInfo", "default_collate", "default_convert", "distributed", "get_worker_info",
    "random_split",
]


def __getattr__(name: str) -> object:
    from nncore._unsupported import missing

    missing("torch.utils.data", name, "module 'nncore.utils.data'")
