"""PyTorch's ``torch.utils``: ``nncore.utils.data`` holds datasets, samplers and the DataLoader;
``nncore.utils.hooks`` the hooks' RemovableHandle."""

from nncore.utils import data, hooks

__all__ = ["data", "hooks"]
