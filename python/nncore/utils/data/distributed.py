"""``DistributedSampler``: each of ``num_replicas`` processes reads its own share of a dataset.

``num_replicas`` and ``rank`` default to the default process group's (``nncore.distributed``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from nncore.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler[int]):
    """The indices of replica ``rank``: every ``num_replicas``-th index of a (shuffled) order.

    Args:
        dataset: map-style dataset with ``len``.
        num_replicas: processes taking part (default: the process group's world size).
        rank: this process's index in ``[0, num_replicas)`` (default: the group's rank).
        shuffle: a NumPy permutation seeded by ``seed + epoch``, the same on every replica
            (not torch.randperm's order: the shards differ from PyTorch's, the rules do not).
        seed: shuffle seed, identical across replicas.
        drop_last: drop the tail so every replica gets the same count; else pad by repeating
            indices from the start.

    Raises:
        ValueError: num_replicas or rank missing with no process group; rank out of range.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from nncore import distributed as dist

            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            # NOTE: seeded by seed + epoch only, so every replica draws the same permutation.
            rng = np.random.default_rng((self.seed + self.epoch) % 2**64)
            indices = rng.permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            indices += (indices * math.ceil(pad / len(indices)))[:pad] if pad > 0 else []
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, so that shuffling gives each epoch its own order.

        Args:
            epoch: the epoch number (call before creating the DataLoader iterator).
        """
        self.epoch = epoch
