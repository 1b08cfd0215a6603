"""``nncore.nn.parallel``: ``DataParallel`` on the CPU is the wrapped module itself (as PyTorch's
without GPUs); ``DistributedDataParallel`` needs a process group, which nncore does not have
yet."""

from __future__ import annotations

from typing import Any

from nncore.nn.module import Module

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


class DistributedDataParallel(Module):
    """Not supported yet: raises on construction."""

    def __init__(self, module: Module, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("torch.nn.parallel.DistributedDataParallel: distributed "
                                  "training is not supported by nncore yet")
