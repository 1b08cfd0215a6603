"""The ``nncore.*`` functions PyTorch scripts call (``torch.exp``, ``torch.cat``...),
one module per kind. Each function takes and returns Tensors. A module's ``__all__`` is what
``import nncore`` re-exports; its ``METHODS`` the functions that are also Tensor methods
(installed by ``nncore._methods``)."""

from nncore.tensor_ops import (
    creation,
    indexing,
    linalg,
    ordering,
    pointwise,
    reduction,
    shape,
    types,
)

MODULES = (creation, indexing, linalg, ordering, pointwise, reduction, shape, types)
