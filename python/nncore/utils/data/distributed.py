"""``DistributedSampler``: each of ``num_replicas`` processes reads its own share of a dataset.

nncore has no ``torch.distributed`` yet, so the world size and rank cannot come from a process
group: give ``num_replicas`` and ``rank`` explicitly (from MPI or the launcher's environment).
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
        num_replicas: processes taking part (required: nncore has no default process group).
        rank: this process's index in ``[0, num_replicas)`` (required likewise).
        shuffle: a permutation seeded by ``seed + epoch`` (the same on every replica).
        seed: shuffle seed, identical across replicas.
        drop_last: drop the tail so every replica gets the same count; else pad by repeating
            indices from the start.

    Raises:
        NotImplementedError: num_replicas or rank missing. ValueError: rank out of range.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            raise NotImplementedError(
                "DistributedSampler: num_replicas and rank default to torch.distributed's "
                "process group, and nncore does not implement torch.distributed yet; pass "
                "num_replicas= and rank= explicitly")
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
