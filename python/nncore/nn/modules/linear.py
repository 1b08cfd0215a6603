"""``torch.nn.modules.linear``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "Bilinear", "Identity", "LazyLinear", "Linear", "NonDynamicallyQuantizableLinear",
)
__getattr__, __dir__ = exports(__name__, _NAMES, ("nncore.nn", "nncore.nn.linear"))
