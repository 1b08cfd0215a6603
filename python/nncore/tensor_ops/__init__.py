"""The ``nncore.*`` functions PyTorch scripts call (``torch.exp``, ``torch.cat``...),
one module per kind. Each function takes and returns Tensors. A module's ``__all__`` is what
``import nncore`` re-exports; its ``METHODS`` the functions that are also Tensor methods
(installed by ``nncore._methods``)."""

from nncore.tensor_ops import (
    comparison,
    creation,
    indexing,
    inplace,
    linalg,
    ordering,
    pointwise,
    reduction,
    sampling,
    shape,
    transcendental,
    types,
)

MODULES = (creation, sampling, indexing, linalg, ordering, pointwise, transcendental, comparison,
           reduction, inplace, shape, types)
