"""``SyncBatchNorm``: batch normalisation with the statistics of the global batch, the union of
every rank's batch (``torch.nn.SyncBatchNorm``), over ``nncore.distributed``.

Training forward gathers each rank's (count, mean, M2) per channel and combines them with
Chan's parallel formula (no E[x^2] - E[x]^2 cancellation); backward all-reduces the two
per-channel sums the input gradient needs. Weight and bias gradients stay local, and
DistributedDataParallel averages them like any other. Eval mode, and training without a process
group of several ranks, is plain ``batch_norm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.autograd import Function
from nncore.nn.module import Module
from nncore.nn.norm import _BatchNorm
from nncore.tensor import Tensor

__all__ = ["SyncBatchNorm"]


class _SyncBatchNormFn(Function):
    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray, *, eps: float,
                momentum: float, running_mean: Any, running_var: Any) -> np.ndarray:
        from nncore import distributed as dist

        c = x.shape[1]
        axes = (0, *range(2, x.ndim))
        n = x.size // c
        mean = x.mean(axes, dtype=np.float64)
        shape = (1, c) + (1,) * (x.ndim - 2)
        m2 = np.square(x - mean.reshape(shape).astype(x.dtype), dtype=np.float64).sum(axes)
        mine = np.concatenate([[float(n)], mean, m2])
        every = np.empty((dist.get_world_size(), mine.size))
        dist.all_gather_into_tensor(every, mine)
        counts, means, m2s = every[:, 0], every[:, 1:c + 1], every[:, c + 1:]
        total = counts.sum()
        g_mean = (counts[:, None] * means).sum(0) / total
        g_m2 = (m2s + counts[:, None] * np.square(means - g_mean)).sum(0)
        var = g_m2 / total
        if total <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when "
                             f"training, got {int(total)} over all ranks")
        if running_mean is not None:
            rm, rv = running_mean._array, running_var._array
            rm[...] = (1 - momentum) * rm + momentum * g_mean
            rv[...] = (1 - momentum) * rv + momentum * var * total / (total - 1)
            running_mean._version += 1
            running_var._version += 1
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        xhat = (x - g_mean.reshape(shape).astype(x.dtype)) * invstd.reshape(shape)
        self.save_for_backward(xhat, invstd, weight)
        self.total, self.shape, self.axes = total, shape, axes
        return xhat * weight.reshape(shape) + bias.reshape(shape)

    def backward(self, grad: np.ndarray) -> tuple[Any, Any, Any]:
        from nncore import distributed as dist

        xhat, invstd, weight = self.saved_tensors
        shape, axes = self.shape, self.axes
        sum_dy = grad.sum(axes, dtype=np.float64)
        sum_dy_xhat = (grad * xhat).sum(axes, dtype=np.float64)
        dx = None
        if self.needs_input_grad[0]:
            sums = np.concatenate([sum_dy, sum_dy_xhat])
            dist.all_reduce(sums)
            c = sum_dy.size
            mean_dy = (sums[:c] / self.total).astype(grad.dtype).reshape(shape)
            mean_dy_xhat = (sums[c:] / self.total).astype(grad.dtype).reshape(shape)
            dx = (weight * invstd).reshape(shape) * (grad - mean_dy - xhat * mean_dy_xhat)
        dw = sum_dy_xhat.astype(weight.dtype) if self.needs_input_grad[1] else None
        db = sum_dy.astype(weight.dtype) if self.needs_input_grad[2] else None
        return dx, dw, db


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over the batches of every rank together (``torch.nn.SyncBatchNorm``).

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as
            ``BatchNorm1d``.
        process_group: None (the default group, the only one nncore has).
    Shape:
        (N, C, *) -> the same (at least 2 dimensions).
    """

    _ranks = (2, 3, 4, 5)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        if process_group is not None:
            raise NotImplementedError("torch.nn.SyncBatchNorm(process_group=...): nncore has "
                                      "the default process group only")
        self.process_group = None

    def forward(self, x: Tensor) -> Tensor:
        from nncore.distributed import _core

        grp = _core.current()
        if not self.training or grp is None or grp.size == 1:
            return super().forward(x)
        if x.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (got {x.ndim}D input)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked._array[...] += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked._array)
        c = x.shape[1]
        weight = self.weight if self.weight is not None else Tensor._wrap(
            np.ones(c, dtype=x._array.dtype))
        bias = self.bias if self.bias is not None else Tensor._wrap(
            np.zeros(c, dtype=x._array.dtype))
        track = self.track_running_stats
        return _SyncBatchNormFn.apply(x, weight, bias, eps=self.eps, momentum=factor,
                                      running_mean=self.running_mean if track else None,
                                      running_var=self.running_var if track else None)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm layer replaced by a SyncBatchNorm holding the same
        parameters and buffers (the module itself when it is a BatchNorm).

        Args:
            module: a model.
            process_group: None (the default group).
        Returns:
            The converted module.
        """
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.train(module.training)
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out

