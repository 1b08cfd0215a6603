"""PyTorch's ``torch.utils``: ``nncore.utils.data`` holds datasets, samplers and the DataLoader."""

from nncore.utils import data

__all__ = ["data"]
