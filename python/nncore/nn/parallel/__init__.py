"""``nncore.nn.parallel``: ``DataParallel`` on the CPU is the wrapped module itself (as PyTorch's
without GPUs); ``DistributedDataParallel`` trains one replica per MPI rank (see
``nncore.nn.parallel.distributed``)."""

from __future__ import annotations

from typing import Any

from nncore.nn.module import Module
from nncore.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]


class DataParallel(Module):
    """Runs ``module`` as it is: with no GPU there is nothing to scatter to (PyTorch's
    DataParallel does the same without CUDA devices). Parameters are the module's, under the
    ``module.`` prefix."""

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0) -> None:
        super().__init__()
        self.module = module
        self.device_ids: list[int] = []
        self.output_device = None
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)
