"""The ``nncore.*`` functions PyTorch scripts call (``torch.exp``, ``torch.cat``...),
one module per kind: creation, pointwise, reduction, shape, indexing. Each function takes and
returns Tensors; those that are also Tensor methods are installed by ``nncore._methods``."""
