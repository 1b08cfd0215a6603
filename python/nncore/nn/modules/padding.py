"""``torch.nn.modules.padding``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d",
)
__getattr__, __dir__ = exports(__name__, _NAMES)
