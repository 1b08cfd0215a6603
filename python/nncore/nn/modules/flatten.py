"""``torch.nn.modules.flatten``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "Flatten", "Unflatten",
)
__getattr__, __dir__ = exports(__name__, _NAMES)
