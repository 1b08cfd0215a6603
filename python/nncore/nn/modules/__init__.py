"""``nncore.nn.modules``: PyTorch's ``torch.nn.modules`` paths (``nncore.nn.modules.linear.Linear``,
``...conv.Conv2d``, ``...module.Module``...). Each submodule names the classes PyTorch keeps there
and finds them in ``nncore.nn`` when first used, so code importing from these paths runs, and a
class nncore lacks raises a NotImplementedError naming it."""

from __future__ import annotations

from nncore.nn.modules import (
    activation,
    adaptive,
    batchnorm,
    channelshuffle,
    container,
    conv,
    distance,
    dropout,
    flatten,
    fold,
    instancenorm,
    linear,
    loss,
    module,
    normalization,
    padding,
    pixelshuffle,
    pooling,
    rnn,
    sparse,
    transformer,
    upsampling,
    utils,  # noqa: F401
)
from nncore.nn.modules._lazy import exports

_SUBMODULES = (activation, adaptive, batchnorm, channelshuffle, container, conv, distance,
               dropout, flatten, fold, instancenorm, linear, loss, module, normalization, padding,
               pixelshuffle, pooling, rnn, sparse, transformer, upsampling)
# NOTE: PyTorch's package re-exports its submodules' classes (not their private helpers).
_NAMES = tuple(n for m in _SUBMODULES for n in m._NAMES
               if not n.startswith(("_", "register_")))

__getattr__, __dir__ = exports(__name__, _NAMES,
                               ("nncore.nn", "nncore.nn.linear", "nncore.nn.rnn"))
