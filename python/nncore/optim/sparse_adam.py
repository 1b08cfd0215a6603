"""SparseAdam (torch.optim.SparseAdam): needs sparse gradients, which nncore does not have."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nncore.optim.optimizer import Optimizer


class SparseAdam(Optimizer):
    """PyTorch's Adam for sparse gradients (``nn.Embedding(sparse=True)``).

    nncore's gradients are always dense, and PyTorch's SparseAdam refuses dense gradients, so
    constructing one raises NotImplementedError; ``Adam`` gives the same updates for rows that
    have a gradient on every step.

    Raises:
        NotImplementedError: always.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False) -> None:
        raise NotImplementedError("SparseAdam: sparse gradients (nn.Embedding(sparse=True)) are "
                                  "not supported by nncore; use optim.Adam")
