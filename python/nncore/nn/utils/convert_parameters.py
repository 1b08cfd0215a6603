"""Flatten parameters into one vector and back (PyTorch's ``parameters_to_vector``)."""

from __future__ import annotations

from collections.abc import Iterable

from nncore.tensor import Tensor
from nncore.tensor_ops.shape import cat

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one 1-D tensor (differentiable).

    Args:
        parameters: an iterable of Tensors.
    Returns:
        A 1-D Tensor.
    """
    if isinstance(parameters, Tensor):
        raise TypeError(f"expected an iterable of Tensors, but got: {parameters.type()}")
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Give each parameter its slice of ``vec`` as data (sharing ``vec``'s memory, as PyTorch's
    ``param.data = ...``).

    Args:
        vec: a 1-D Tensor holding at least as many values as the parameters.
        parameters: an iterable of Tensors.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    flat = vec._array.reshape(-1)
    pointer = 0
    for p in parameters:
        n = p.numel()
        if pointer + n > flat.size:
            raise RuntimeError(f"vector_to_parameters: vec has {flat.size} elements, fewer than "
                               f"the parameters need")
        p._array = flat[pointer:pointer + n].reshape(p._array.shape)
        pointer += n
