"""PyTorch's ``torch.utils.hooks``: the handle that ``register_*_hook`` returns."""

from nncore.nn.hooks import BackwardHook, RemovableHandle

__all__ = ["BackwardHook", "RemovableHandle"]
