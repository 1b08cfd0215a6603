"""``torch.nn.modules.sparse``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "Embedding", "EmbeddingBag",
)
__getattr__, __dir__ = exports(__name__, _NAMES)
