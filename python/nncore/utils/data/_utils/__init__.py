"""Internals of ``nncore.utils.data`` (PyTorch's ``torch.utils.data._utils`` layout)."""

from nncore.utils.data._utils import collate, fetch, transport, worker

__all__ = ["collate", "fetch", "transport", "worker"]
