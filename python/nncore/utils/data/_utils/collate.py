"""``default_collate`` and ``default_convert``: samples to batches of nncore Tensors.

PyTorch's rules, type by type: Tensors and NumPy arrays are stacked along a new first dimension
(dtype kept), Python floats become float64 Tensors, Python ints int64 (bools bool), NumPy
scalars keep their dtype, strings and bytes stay lists; mappings, namedtuples and sequences are
collated field by field (a tuple sample gives a *list* of fields, as in PyTorch).
``default_collate_fn_map`` can be extended in place, as PyTorch's can.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from nncore.tensor import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

# NumPy dtype kinds that cannot become a Tensor: bytes, unicode and object arrays.
_STR_OBJ_DTYPE = re.compile(r"[SaUO]")

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars inside ``data`` into Tensors; leave everything else.

    Used by ``DataLoader`` when automatic batching is off (``batch_size=None``).

    Args:
        data: one sample: an array, a number, or a mapping/namedtuple/sequence of them.

    Returns:
        The same structure with arrays as Tensors (tuples become lists, as in PyTorch).
    """
    kind = type(data)
    if isinstance(data, Tensor):
        return data
    if kind.__module__ == "numpy" and kind.__name__ not in ("str_", "bytes_", "string_"):
        if isinstance(data, np.ndarray) and _STR_OBJ_DTYPE.search(data.dtype.str):
            return data
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _same_mapping(data, {k: default_convert(data[k]) for k in data})
    if _is_namedtuple(data):
        return kind(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_sequence(data, [default_convert(d) for d in data])
    return data


def _same_mapping(elem: Any, values: dict) -> Any:
    """``values`` in a mapping of ``elem``'s type when that type can be built, else a dict."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def _same_sequence(elem: Any, values: list) -> Any:
    """``values`` in a sequence of ``elem``'s type when that type can be built, else a list."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def collate(batch: Sequence[Any], *, collate_fn_map: dict[Any, Callable] | None = None) -> Any:
    """Collate ``batch`` with per-type functions, recursing into containers.

    Args:
        batch: list of samples with the same structure.
        collate_fn_map: ``{type or tuple of types: fn(batch, *, collate_fn_map)}``; the exact
            type of ``batch[0]`` is looked up first, then each key with ``isinstance`` in order.

    Returns:
        The collated batch.

    Raises:
        TypeError: for an element type no function handles.
        RuntimeError: for sequences of different lengths.
    """
    elem = batch[0]
    kind = type(elem)
    if collate_fn_map is not None:
        if kind in collate_fn_map:
            return collate_fn_map[kind](batch, collate_fn_map=collate_fn_map)
        for key, fn in collate_fn_map.items():
            if isinstance(elem, key):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _same_mapping(elem, {k: collate([d[k] for d in batch],
                                                collate_fn_map=collate_fn_map) for k in elem})
    if _is_namedtuple(elem):
        return kind(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        # NOTE: fields go down as tuples (strings come back as tuples there, as in PyTorch).
        fields = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        # NOTE: PyTorch returns a list for tuple samples (its "backwards compatibility").
        return fields if isinstance(elem, tuple) else _same_sequence(elem, fields)
    raise TypeError(_ERR.format(kind))


def _stack_arrays(arrays: list[np.ndarray]) -> np.ndarray:
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(shape)} at entry 0 and {list(a.shape)} at entry {i}")
    return np.stack(arrays)


def collate_tensor_fn(batch: list[Tensor], *, collate_fn_map: Any = None) -> Tensor:
    """Stack Tensors along a new first dimension (differentiably if any requires grad)."""
    if any(t.requires_grad for t in batch):
        from nncore.tensor_ops.shape import stack

        _stack_arrays([t._array for t in batch])  # PyTorch's error for unequal shapes
        return stack(batch)
    return Tensor._wrap(_stack_arrays([t._array for t in batch]))


def collate_numpy_array_fn(batch: list[np.ndarray], *, collate_fn_map: Any = None) -> Tensor:
    """Stack NumPy arrays into one Tensor of their dtype."""
    if _STR_OBJ_DTYPE.search(batch[0].dtype.str):
        raise TypeError(_ERR.format(batch[0].dtype))
    return collate([Tensor._wrap(np.asarray(b)) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch: list[Any], *, collate_fn_map: Any = None) -> Tensor:
    """NumPy scalars into a 1-D Tensor of their dtype."""
    return Tensor._wrap(np.asarray(batch))


def collate_float_fn(batch: list[float], *, collate_fn_map: Any = None) -> Tensor:
    """Python floats into a float64 Tensor (PyTorch's rule, not the default dtype)."""
    return Tensor._wrap(np.asarray(batch, dtype=np.float64))


def collate_int_fn(batch: list[int], *, collate_fn_map: Any = None) -> Tensor:
    """Python ints into an int64 Tensor (bools: bool; mixed with floats: the default dtype)."""
    from nncore.tensor_ops.creation import tensor

    return tensor(batch)


def collate_str_fn(batch: list[Any], *, collate_fn_map: Any = None) -> list[Any]:
    """Strings and bytes stay as they are: the batch is their list."""
    return batch


default_collate_fn_map: dict[Any, Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch of Tensors with a leading batch dimension.

    Args:
        batch: list of samples, all of the same structure (Tensors, arrays, numbers, strings,
            or mappings/namedtuples/sequences of them).

    Returns:
        A Tensor, or the samples' structure with Tensors at its leaves (tuples give lists).

    Raises:
        TypeError: an element of an unsupported type. RuntimeError: samples of unequal sizes.
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
