"""Graph: collects ONNX nodes and initializers while a traced model is converted.

Converters ask it for the ONNX name of a traced Tensor (``value``), add nodes (``op``) and
constants (``const``). Parameters and buffers keep their ``state_dict`` names as initializers,
so the exported file reads like the model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nncore.tensor import Tensor

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


@dataclass
class Call:
    """One traced call: a Function (``op`` is its instance, ``args`` its input Tensors) or a
    Module with a converter (``op`` is the Module, ``args``/``kwargs`` as it was called).
    ``second`` is the same call in the trace at the other batch size, or None."""

    op: Any
    args: tuple
    kwargs: dict
    output: Any
    second: Call | None = None


class Graph:
    """The ONNX graph under construction.

    Args:
        opset: the ONNX opset version the nodes target.
        names: id(Tensor) -> qualified name of every parameter and buffer of the model.
        module_names: id(Module) -> qualified name ("" for the root).
        batch: the example's batch sizes of the first and second trace, or None when the
            exported batch dimension is fixed.
    """

    def __init__(self, opset: int, names: dict[int, str], module_names: dict[int, str],
                 batch: tuple[int, int] | None) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.batch = batch
        self._param_names = names
        self._module_names = module_names
        self._values: dict[int, str] = {}  # id(Tensor) -> ONNX name
        self._arrays: dict[int, str] = {}  # id(ndarray) -> ONNX name (a detached alias)
        self._used: set[str] = set()
        self._counter = itertools.count()
        self._batch_value: str | None = None
        self._first_input: str | None = None

    # ---- names ----
    def fresh(self, hint: str) -> str:
        """A name not used yet, built from ``hint``."""
        name = hint
        while name in self._used:
            name = f"{hint}_{next(self._counter)}"
        self._used.add(name)
        return name

    def module_name(self, module: Any) -> str:
        name = self._module_names.get(id(module), "")
        return name or type(module).__name__.lower()

    # ---- values ----
    def bind(self, t: Tensor, name: str) -> None:
        """Record that traced Tensor ``t`` is the ONNX value ``name``."""
        self._values[id(t)] = name
        self._arrays[id(t._array)] = name

    def add_input(self, t: Tensor, name: str, dynamic: bool) -> None:
        dims: list[Any] = list(t.shape)
        if dynamic and dims:
            dims[0] = "batch"
        self.inputs.append(helper.make_tensor_value_info(name, onnx_dtype(t.dtype), dims))
        self._used.add(name)
        self.bind(t, name)
        if self._first_input is None and dynamic and dims:
            self._first_input = name

    def known(self, t: Tensor) -> bool:
        """Whether ``t`` is already an ONNX value (an input, a traced output, a constant)."""
        return id(t) in self._values or id(t._array) in self._arrays

    def value(self, t: Tensor | None) -> str:
        """The ONNX name of ``t``: a traced value, or a new initializer for a constant ("" for
        None, ONNX's absent optional input)."""
        if t is None:
            return ""
        name = self._values.get(id(t)) or self._arrays.get(id(t._array))
        if name is None:
            name = self.const(t._array, self._param_names.get(id(t), "const"))
            self.bind(t, name)
        return name

    def const(self, array: Any, hint: str = "const") -> str:
        """A new initializer holding ``array`` (copied)."""
        name = self.fresh(hint)
        arr = np.asarray(array)
        self.initializers.append(numpy_helper.from_array(np.array(arr, copy=True), name))
        return name

    def ints(self, values: Any) -> str:
        """A 1-D int64 initializer (shapes, axes, starts and ends)."""
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), "ints")

    def scalar(self, value: float, dtype: Any) -> str:
        """A 0-d initializer of ``dtype``."""
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    # ---- nodes ----
    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> Any:
        """Add a node; returns its output name, or a list of ``n_out`` names."""
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        # NOTE: trailing absent optional inputs are dropped, as ONNX prefers.
        while inputs and inputs[-1] == "":
            inputs = inputs[:-1]
        node_name = self.fresh(f"node_{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=node_name, **attrs))
        return outs[0] if n_out == 1 else outs

    def reduce(self, op_type: str, x: str, axes: Any, keepdims: bool) -> str:
        """ReduceSum/Mean/Max/Min over ``axes`` (None: all), in the opset's calling style."""
        if axes is None:
            return self.op(op_type, [x], keepdims=int(keepdims))
        axes = [int(a) for a in (axes if isinstance(axes, (tuple, list)) else (axes,))]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=axes, keepdims=int(keepdims))

    def transpose(self, x: str, perm: Any) -> str:
        return self.op("Transpose", [x], perm=[int(p) for p in perm])

    def matmul_t(self, x: str, weight: Tensor, bias: Tensor | None) -> str:
        """x @ weight^T + bias for ``x`` of any rank (the transpose is folded by runtimes)."""
        y = self.op("MatMul", [x, self.transpose(self.value(weight), (1, 0))])
        return y if bias is None else self.op("Add", [y, self.value(bias)])

    # ---- shapes that follow the batch size ----
    def batch_size(self) -> str:
        """A [1] int64 value holding the batch size of the first graph input."""
        if self._batch_value is None:
            if self._first_input is None:
                raise ValueError("onnx.export: a shape depends on the batch size, but no input "
                                 "has a batch dimension")
            shape = self.op("Shape", [self._first_input])
            self._batch_value = self.op("Slice", [shape, self.ints([0]), self.ints([1])])
        return self._batch_value

    def shape(self, op: str, first: tuple, second: tuple | None) -> str:
        """A [len] int64 shape input equal to ``first`` at the example's batch size and to
        ``second`` at the second trace's; entries that differ must be multiples of the batch
        size, and become Mul(batch, k)."""
        if second is None or tuple(first) == tuple(second):
            return self.ints(first)
        b1, b2 = self.batch  # type: ignore[misc]
        parts: list[str] = []
        static: list[int] = []
        for v1, v2 in zip(first, second):
            if v1 == v2:
                static.append(int(v1))
                continue
            if v1 % b1 or v1 // b1 * b2 != v2:
                raise NotImplementedError(
                    f"onnx.export: {op} uses a size that changes with the batch size in a way "
                    f"the exporter cannot express ({v1} at batch {b1}, {v2} at batch {b2}); "
                    f"export with dynamic_batch=False")
            if static:
                parts.append(self.ints(static))
                static = []
            k = v1 // b1
            parts.append(self.batch_size() if k == 1 else
                         self.op("Mul", [self.batch_size(), self.ints([k])]))
        if static:
            parts.append(self.ints(static))
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, axis=0)


def onnx_dtype(dtype: Any) -> int:
    """The ONNX element type of a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
