"""``torch.nn.modules.upsampling``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
)
__getattr__, __dir__ = exports(__name__, _NAMES)
