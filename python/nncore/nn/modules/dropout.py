"""``torch.nn.modules.dropout``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
)
__getattr__, __dir__ = exports(__name__, _NAMES)
