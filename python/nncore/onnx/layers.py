"""Converters for whole layers whose ONNX form is one op: convolution, pooling, normalisation,
embedding. Keyed by class name and written against PyTorch's attribute names (nncore's layers
keep them), so they need no import of the layers they convert.

A converter takes (graph, call), ``call.op`` being the Module, and returns the ONNX name of its
output. The export runs in eval mode: batch norm uses its running statistics.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nncore.onnx.graph import Call, Graph


def arg(call: Call, index: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` of a traced Module call, given by position ``index`` or by keyword."""
    if len(call.args) > index:
        return call.args[index]
    return call.kwargs.get(name, default)


def _tuple(value: Any, n: int) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) == 1 and n > 1:
            return tuple(value) * n
        return tuple(value)
    return (value,) * n


def _spatial(module: Any) -> int:
    """1 for Conv1d/MaxPool1d/..., 2 for the 2d layers (from the class name)."""
    name = type(module).__name__
    return int(name[-2]) if name[-1] == "d" and name[-2].isdigit() else 2


def _unsupported(module: Any, what: str) -> NotImplementedError:
    return NotImplementedError(f"onnx.export: {type(module).__name__} with {what} is not supported")


# ---- convolution -------------------------------------------------------------------------


def _check_batched(m: Any, x: Any, n: int) -> None:
    if x.ndim != n + 2:
        raise _unsupported(m, f"an input of shape {x.shape} (expected {n + 2}-D, batched)")


def _conv(g: Graph, c: Call) -> str:
    m = c.op
    n = _spatial(m)
    _check_batched(m, c.args[0], n)
    x = g.value(c.args[0])
    weight = m.weight
    kernel = tuple(weight.shape[2:])
    dilation = _tuple(m.dilation, n)
    padding = m.padding
    if isinstance(padding, str):
        if padding == "valid":
            begin = end = (0,) * n
        elif padding == "same":
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            begin = tuple(t // 2 for t in total)
            end = tuple(t - t // 2 for t in total)
        else:
            raise _unsupported(m, f"padding={padding!r}")
    else:
        begin = end = _tuple(padding, n)
    mode = getattr(m, "padding_mode", "zeros")
    if mode != "zeros" and any(begin + end):
        if mode not in ("reflect", "replicate"):
            raise _unsupported(m, f"padding_mode={mode!r}")
        pads = g.ints([0, 0, *begin, 0, 0, *end])
        x = g.op("Pad", [x, pads], mode="reflect" if mode == "reflect" else "edge")
        begin = end = (0,) * n
    bias = getattr(m, "bias", None)
    return g.op("Conv", [x, g.value(weight), g.value(bias)], kernel_shape=list(kernel),
                strides=list(_tuple(m.stride, n)), pads=[*begin, *end],
                dilations=list(dilation), group=int(m.groups))


# ---- pooling -----------------------------------------------------------------------------


def _pool_attrs(m: Any, n: int) -> dict:
    kernel = _tuple(m.kernel_size, n)
    stride = _tuple(kernel if m.stride is None else m.stride, n)
    if not stride:  # PyTorch's functional form treats stride=[] as kernel_size
        stride = kernel
    pads = _tuple(m.padding, n)
    return {"kernel_shape": list(kernel), "strides": list(stride), "pads": list(pads) * 2,
            "ceil_mode": int(bool(m.ceil_mode))}


def _max_pool(g: Graph, c: Call) -> str:
    m = c.op
    n = _spatial(m)
    if getattr(m, "return_indices", False):
        raise _unsupported(m, "return_indices=True")
    _check_batched(m, c.args[0], n)
    attrs = _pool_attrs(m, n)
    dilation = _tuple(getattr(m, "dilation", 1), n)
    if any(d != 1 for d in dilation):
        attrs["dilations"] = list(dilation)
    return g.op("MaxPool", [g.value(c.args[0])], **attrs)


def _avg_pool(g: Graph, c: Call) -> str:
    m = c.op
    if getattr(m, "divisor_override", None) is not None:
        raise _unsupported(m, "divisor_override")
    _check_batched(m, c.args[0], _spatial(m))
    attrs = _pool_attrs(m, _spatial(m))
    return g.op("AveragePool", [g.value(c.args[0])], count_include_pad=int(m.count_include_pad),
                **attrs)


def _adaptive_pool(op_type: str) -> Callable[[Graph, Call], str]:
    def convert(g: Graph, c: Call) -> str:
        m = c.op
        if getattr(m, "return_indices", False):
            raise _unsupported(m, "return_indices=True")
        x = c.args[0]
        n = _spatial(m)
        _check_batched(m, x, n)
        size_in = x.shape[-n:]
        size_out = tuple(s if o is None else o for s, o in zip(size_in, _tuple(m.output_size, n)))
        if all(o == 1 for o in size_out):
            return g.op(f"Global{op_type}", [g.value(x)])
        if any(i % o for i, o in zip(size_in, size_out)):
            raise _unsupported(m, f"output_size {size_out} that does not divide the input size "
                                  f"{tuple(size_in)}")
        kernel = [i // o for i, o in zip(size_in, size_out)]
        return g.op(op_type, [g.value(x)], kernel_shape=kernel, strides=kernel)
    return convert


# ---- normalisation -----------------------------------------------------------------------


def _affine(g: Graph, m: Any, size: Any, dtype: Any) -> tuple[str, str]:
    """Scale and shift of a norm layer: its weight and bias, or 1 and 0 without them."""
    weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
    scale = g.value(weight) if weight is not None else g.const(np.ones(size, dtype), "ones")
    shift = g.value(bias) if bias is not None else g.const(np.zeros(size, dtype), "zeros")
    return scale, shift


def _batch_norm(g: Graph, c: Call) -> str:
    m = c.op
    x = c.args[0]
    if getattr(m, "running_mean", None) is None or getattr(m, "running_var", None) is None:
        raise _unsupported(m, "track_running_stats=False (batch statistics at inference)")
    scale, shift = _affine(g, m, (m.num_features,), x.dtype)
    y = g.value(x)
    if x.ndim == 2:
        y = g.op("Unsqueeze", [y, g.ints([2])])
    y = g.op("BatchNormalization", [y, scale, shift, g.value(m.running_mean),
                                    g.value(m.running_var)], epsilon=float(m.eps))
    return g.op("Squeeze", [y, g.ints([2])]) if x.ndim == 2 else y


def layer_norm(g: Graph, m: Any, x: str, dtype: Any) -> str:
    """LayerNorm module ``m`` applied to the ONNX value ``x``."""
    shape = _tuple(m.normalized_shape, 1)
    scale, shift = _affine(g, m, shape, dtype)
    return g.op("LayerNormalization", [x, scale, shift], axis=-len(shape), epsilon=float(m.eps))


def _layer_norm(g: Graph, c: Call) -> str:
    x = c.args[0]
    return layer_norm(g, c.op, g.value(x), x.dtype)


# ---- embedding ---------------------------------------------------------------------------


def _embedding(g: Graph, c: Call) -> str:
    m = c.op
    if getattr(m, "max_norm", None) is not None:
        raise _unsupported(m, "max_norm (it renormalises the weight in place)")
    return g.op("Gather", [g.value(m.weight), g.value(c.args[0])], axis=0)


LAYER_CONVERTERS: dict[str, Callable[[Graph, Call], Any]] = {
    "Conv1d": _conv,
    "Conv2d": _conv,
    "MaxPool1d": _max_pool,
    "MaxPool2d": _max_pool,
    "AvgPool1d": _avg_pool,
    "AvgPool2d": _avg_pool,
    "AdaptiveAvgPool1d": _adaptive_pool("AveragePool"),
    "AdaptiveAvgPool2d": _adaptive_pool("AveragePool"),
    "AdaptiveMaxPool1d": _adaptive_pool("MaxPool"),
    "AdaptiveMaxPool2d": _adaptive_pool("MaxPool"),
    "BatchNorm1d": _batch_norm,
    "BatchNorm2d": _batch_norm,
    "LayerNorm": _layer_norm,
    "Embedding": _embedding,
}
