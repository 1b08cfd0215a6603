"""``nncore.onnx.export``: write a model as an ONNX file by tracing it.

The model runs once on the example input (in eval mode, without grad) while a hook in
``Function.apply`` records every op; layers whose ONNX form is one op or a known decomposition
(convolution, pooling, normalisation, recurrent, attention) are recorded as a whole instead, by
class name. For a dynamic batch dimension the model runs a second time on a batch one larger:
sizes that change between the two runs become computed from the input's shape, so the graph is
not frozen at the example's batch size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import autograd
from nncore.tensor import Tensor

_INSTALL_HINT = "nncore.onnx.export needs the onnx package: pip install onnx"


class _Trace:
    """Records the calls of one forward pass."""

    def __init__(self, layer_names: set[str]) -> None:
        from nncore.onnx.graph import Call

        self._call = Call
        self.layer_names = layer_names
        self.calls: list[Any] = []
        self.depth = 0  # > 0 inside a layer recorded as a whole

    def on_function(self, ctx: Any, tensors: tuple, kwargs: dict, out: Tensor) -> None:
        if not self.depth:
            self.calls.append(self._call(ctx, tensors, kwargs, out))

    def wrap(self, module: Any, forward: Any) -> Any:
        def traced_forward(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return forward(*args, **kwargs)
            self.depth += 1
            try:
                out = forward(*args, **kwargs)
            finally:
                self.depth -= 1
            self.calls.append(self._call(module, args, kwargs, out))
            return out
        return traced_forward

    def run(self, model: Any, inputs: list[Tensor]) -> Any:
        patched = []
        for m in model.modules():
            if type(m).__name__ in self.layer_names and "forward" not in m.__dict__:
                object.__setattr__(m, "forward", self.wrap(m, m.forward))
                patched.append(m)
        prev = autograd.set_tracer(self.on_function)
        try:
            with autograd.no_grad():
                return model(*inputs)
        finally:
            autograd.set_tracer(prev)
            for m in patched:
                del m.__dict__["forward"]


def _flatten(obj: Any) -> list[Any]:
    """Leaves of nested tuples/lists (Tensors, names, None), in order."""
    if isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in _flatten(item)]
    return [obj]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.shape == b.shape and bool(np.array_equal(a, b)))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return isinstance(a, Tensor) and isinstance(b, Tensor)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _op_name(call: Any) -> str:
    return type(call.op).__name__


def _pair_traces(first: list[Any], second: list[Any]) -> None:
    """Attach each call of the second trace to its twin in the first; fail when the model's
    structure or a batch-independent argument changed with the batch size."""
    from nncore.onnx.ops import BATCH_AWARE

    if [_op_name(c) for c in first] != [_op_name(c) for c in second]:
        raise ValueError("onnx.export: the model runs different operations at batch sizes "
                         "differing by one, so it cannot be exported with a dynamic batch "
                         "dimension; pass dynamic_batch=False")
    for c1, c2 in zip(first, second):
        name = _op_name(c1)
        aware = BATCH_AWARE.get(name, set())
        args = [(str(i), a, b) for i, (a, b) in enumerate(zip(c1.args, c2.args))]
        args += [(k, v, c2.kwargs.get(k)) for k, v in c1.kwargs.items() if k not in aware]
        for key, a, b in args:
            if not _same(a, b):
                raise ValueError(
                    f"onnx.export: argument {key!r} of {name} changes with the batch size (it "
                    f"was computed outside nncore's ops, so the exported graph would freeze it); "
                    f"pass dynamic_batch=False to export at the example's batch size")
        c1.second = c2


def _check_constants(g: Any, call: Any) -> None:
    """Tensor inputs of ``call`` that no traced op produced become constants: refuse those that
    differ between the two traces (sized by, or computed from, the batch outside nncore's
    ops)."""
    if call.second is None:
        return
    first = _flatten(list(call.args) + list(call.kwargs.values()))
    second = _flatten(list(call.second.args) + list(call.second.kwargs.values()))
    for i, (a, b) in enumerate(zip(first, second)):
        if isinstance(a, Tensor) and not g.known(a) and not _same(a._array, b._array):
            raise ValueError(
                f"onnx.export: tensor argument {i} of {_op_name(call)} is a constant (no "
                f"nncore op computed it from the model's inputs) that changes with the batch "
                f"size, shape {a.shape} at batch {g.batch[0]}; compute it from the input with "
                f"nncore ops, or pass dynamic_batch=False")


def _converters() -> dict[str, Any]:
    from nncore.onnx.attention import ATTENTION_CONVERTERS
    from nncore.onnx.layers import LAYER_CONVERTERS
    from nncore.onnx.recurrent import RECURRENT_CONVERTERS

    return {**LAYER_CONVERTERS, **RECURRENT_CONVERTERS, **ATTENTION_CONVERTERS}


def _as_inputs(example_input: Any) -> list[Tensor]:
    items = list(example_input) if isinstance(example_input, (tuple, list)) else [example_input]
    if not items:
        raise ValueError("onnx.export: example_input is empty")
    out = []
    for i, x in enumerate(items):
        if isinstance(x, np.ndarray):
            x = Tensor._wrap(x)
        if not isinstance(x, Tensor):
            raise TypeError(f"onnx.export: example_input[{i}] must be a Tensor or a NumPy array, "
                            f"got {type(x).__name__}")
        out.append(x)
    return out


def _grow_batch(x: Tensor) -> Tensor:
    """The example with one more row along axis 0 (a copy of its first row)."""
    return Tensor._wrap(np.concatenate([x._array, x._array[:1]], axis=0))


def _write_atomically(data: bytes, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export(model: Any, example_input: Any, path: str | os.PathLike, *,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           opset_version: int = 17, dynamic_batch: bool = True) -> None:
    """Export ``model`` to an ONNX file by tracing it on ``example_input``.

    The model is traced in eval mode (dropout is the identity, batch norm uses its running
    statistics); its train/eval flags are restored afterwards. Values computed outside nncore's
    ops (``.item()``, ``.data``, comparisons) are frozen into the graph as constants, as in any
    tracing exporter.

    Args:
        model: an ``nncore.nn.Module`` built from supported ops and layers.
        example_input: a Tensor (or NumPy array), or a tuple of them for a model taking several
            inputs.
        path: the file to write; written to a temporary name first and moved into place, so a
            failed export never leaves a partial file.
        input_names: names of the graph inputs ("input", or "input_0", "input_1", ...).
        output_names: names of the graph outputs ("output", or "output_0", ...).
        opset_version: the ONNX opset to target, 17 or later.
        dynamic_batch: make axis 0 of every input a symbolic "batch" dimension (the model is
            traced at two batch sizes to find the sizes that follow it); False fixes every
            shape at the example's.
    Shape:
        every input's axis 0 is the batch axis when ``dynamic_batch`` is True.
    Raises:
        ImportError: the ``onnx`` package is not installed.
        NotImplementedError: the model uses an op or layer the exporter does not support (the
            message names it).
    """
    try:
        import onnx
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    from nncore.nn.module import Module
    from nncore.onnx.graph import Graph

    if not isinstance(model, Module):
        raise TypeError(f"onnx.export: model must be an nncore.nn.Module, got "
                        f"{type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"onnx.export: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    max_opset = onnx.defs.onnx_opset_version()
    if not isinstance(opset_version, int) or not 17 <= opset_version <= max_opset:
        raise ValueError(f"onnx.export: opset_version must be an int in [17, {max_opset}], got "
                         f"{opset_version!r}")
    inputs = _as_inputs(example_input)
    dynamic = bool(dynamic_batch) and inputs[0].ndim > 0
    names_in = list(input_names) if input_names is not None else (
        ["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))])
    if len(names_in) != len(inputs):
        raise ValueError(f"onnx.export: {len(names_in)} input_names for {len(inputs)} inputs")

    converters = _converters()
    trace, output, output2, batch = _trace(model, inputs, converters, dynamic)
    params = {id(t): n for n, t in list(model.named_parameters()) + list(model.named_buffers())}
    g = Graph(opset_version, params, {id(m): n for n, m in model.named_modules()}, batch)
    for x, name in zip(inputs, names_in):
        g.add_input(x, name, dynamic and x.ndim > 0)
    for call in trace.calls:
        _convert_call(g, call, converters)
    graph_outputs = _graph_outputs(g, output, output2 if dynamic else output, output_names,
                                   batch)
    graph = onnx.helper.make_graph(g.nodes, type(model).__name__, g.inputs, graph_outputs,
                                   initializer=g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset_version)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="nncore")
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto)
    _write_atomically(proto.SerializeToString(), os.fspath(path))


def _trace(model: Any, inputs: list[Tensor], converters: dict[str, Any], dynamic: bool
           ) -> tuple[Any, Any, Any, tuple[int, int] | None]:
    """Trace ``model`` in eval mode (its modes restored after): (trace, output, the output at
    the grown batch or None, (batch, grown batch) or None)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        trace = _Trace(set(converters))
        output = trace.run(model, inputs)
        output2 = batch = None
        if dynamic:
            grown = [_grow_batch(x) if x.ndim else x for x in inputs]
            second = _Trace(set(converters))
            output2 = second.run(model, grown)
            _pair_traces(trace.calls, second.calls)
            batch = (inputs[0].shape[0], grown[0].shape[0])
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return trace, output, output2, batch


def _convert_call(g: Any, call: Any, converters: dict[str, Any]) -> None:
    """Add the nodes of one traced call (a layer or a Function) to ``g``."""
    from nncore.nn.module import Module
    from nncore.onnx.ops import FUNCTION_CONVERTERS

    name = _op_name(call)
    _check_constants(g, call)
    if isinstance(call.op, Module):
        try:
            result = converters[name](g, call)
        except AttributeError as e:
            raise NotImplementedError(
                f"onnx.export: {name} lacks an attribute of PyTorch's {name} ({e}); its "
                f"converter reads PyTorch's attribute names") from e
    else:
        convert = FUNCTION_CONVERTERS.get(name)
        if convert is None:
            raise NotImplementedError(f"onnx.export: the op {name} has no ONNX converter")
        result = convert(g, call)
    for t, n in zip(_flatten(call.output), _flatten(result)):
        if isinstance(t, Tensor):
            if n is None:
                raise NotImplementedError(f"onnx.export: {name} produced an output its "
                                          f"converter does not export")
            g.bind(t, n)


def _graph_outputs(g: Any, output: Any, output2: Any, output_names: Sequence[str] | None,
                   batch: tuple[int, int] | None) -> list[Any]:
    """The graph's outputs (an Identity node each, named), with a symbolic dimension where the
    two traces' output sizes differ."""
    import onnx

    from nncore.onnx.graph import onnx_dtype

    outs, outs2 = _flatten(output), _flatten(output2)
    if not all(isinstance(t, Tensor) for t in outs):
        raise TypeError("onnx.export: the model must return a Tensor or (nested) tuples of "
                        "Tensors")
    names_out = list(output_names) if output_names is not None else (
        ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))])
    if len(names_out) != len(outs):
        raise ValueError(f"onnx.export: {len(names_out)} output_names for {len(outs)} outputs")
    graph_outputs = []
    for t, t2, name in zip(outs, outs2, names_out):
        g.nodes.append(onnx.helper.make_node("Identity", [g.value(t)], [name],
                                             name=g.fresh(f"node_{name}")))
        dims: list[Any] = []
        for i, (d1, d2) in enumerate(zip(t.shape, t2.shape)):
            if d1 == d2:
                dims.append(d1)
            else:
                dims.append("batch" if batch and (d1, d2) == batch else f"{name}_dim{i}")
        graph_outputs.append(onnx.helper.make_tensor_value_info(name, onnx_dtype(t.dtype), dims))
    return graph_outputs
