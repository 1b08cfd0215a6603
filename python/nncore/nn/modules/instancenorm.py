"""``torch.nn.modules.instancenorm``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d",
    "LazyInstanceNorm2d", "LazyInstanceNorm3d",
)
__getattr__, __dir__ = exports(__name__, _NAMES)
