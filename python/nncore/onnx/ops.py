"""Converters for traced Functions, keyed by class name: each adds the ONNX nodes of one op.

A converter takes (graph, call) and returns the ONNX name of the op's output. Names, not
imports, key the table, so a family that is absent costs nothing and an op the table lacks
fails with a NotImplementedError naming it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from nncore.onnx.graph import INT64_MAX, INT64_MIN, Call, Graph, onnx_dtype


def _unary(op_type: str) -> Callable[[Graph, Call], str]:
    def convert(g: Graph, c: Call) -> str:
        return g.op(op_type, [g.value(c.args[0])])
    return convert


def _binary(op_type: str) -> Callable[[Graph, Call], str]:
    def convert(g: Graph, c: Call) -> str:
        return g.op(op_type, [g.value(c.args[0]), g.value(c.args[1])])
    return convert


def _identity(g: Graph, c: Call) -> str:
    # NOTE: dropout runs as the identity in an exported (inference) graph.
    return g.op("Identity", [g.value(c.args[0])])


# ---- linear family -----------------------------------------------------------------------


def _linear(g: Graph, c: Call) -> str:
    x, weight = c.args[0], c.args[1]
    bias = c.args[2] if len(c.args) > 2 else None
    if x.ndim == 2:
        return g.op("Gemm", [g.value(x), g.value(weight), g.value(bias)], transB=1)
    return g.matmul_t(g.value(x), weight, bias)


# ---- activation family -------------------------------------------------------------------


def _leaky_relu(g: Graph, c: Call) -> str:
    return g.op("LeakyRelu", [g.value(c.args[0])], alpha=float(c.kwargs["negative_slope"]))


def gelu(g: Graph, x: str, approximate: str, dtype: Any) -> str:
    """GELU of ``x``: ONNX's Gelu from opset 20, its erf or tanh formula before."""
    if g.opset >= 20:
        return g.op("Gelu", [x], approximate=approximate)
    half = g.op("Mul", [x, g.scalar(0.5, dtype)])
    if approximate == "tanh":
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, dtype)])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), dtype)])])
    else:
        t = g.op("Erf", [g.op("Mul", [x, g.scalar(1 / math.sqrt(2), dtype)])])
    return g.op("Mul", [half, g.op("Add", [t, g.scalar(1.0, dtype)])])


def _gelu(g: Graph, c: Call) -> str:
    x = c.args[0]
    return gelu(g, g.value(x), c.kwargs["approximate"], x.dtype)


def _softplus(g: Graph, c: Call) -> str:
    """PyTorch's softplus: x where beta x > threshold, else Softplus(beta x) / beta."""
    x = c.args[0]
    beta, threshold = float(c.kwargs["beta"]), float(c.kwargs["threshold"])
    v = g.value(x)
    bx = g.op("Mul", [v, g.scalar(beta, x.dtype)])
    soft = g.op("Div", [g.op("Softplus", [bx]), g.scalar(beta, x.dtype)])
    return g.op("Where", [g.op("Greater", [bx, g.scalar(threshold, x.dtype)]), v, soft])


def _softmax(op_type: str) -> Callable[[Graph, Call], str]:
    def convert(g: Graph, c: Call) -> str:
        return g.op(op_type, [g.value(c.args[0])], axis=int(c.kwargs["dim"]))
    return convert


# ---- elementwise and reductions ------------------------------------------------------------


def _clamp(g: Graph, c: Call) -> str:
    x = c.args[0]
    lo, hi = c.kwargs["min"], c.kwargs["max"]
    bounds = ["" if v is None else g.scalar(v, x.dtype) for v in (lo, hi)]
    return g.op("Clip", [g.value(x)] + bounds)


def _pow_scalar(g: Graph, c: Call) -> str:
    x = c.args[0]
    return g.op("Pow", [g.value(x), g.scalar(c.kwargs["exponent"], x.dtype)])


def _add_scaled(g: Graph, c: Call) -> str:
    x, y = c.args
    scaled = g.op("Mul", [g.value(y), g.scalar(c.kwargs["alpha"], y.dtype)])
    return g.op("Add", [g.value(x), scaled])


def _maximum(g: Graph, c: Call) -> str:
    op_type = "Min" if c.kwargs["minimum"] else "Max"
    return g.op(op_type, [g.value(c.args[0]), g.value(c.args[1])])


def _where(g: Graph, c: Call) -> str:
    cond = g.const(np.asarray(c.kwargs["condition"], dtype=bool), "condition")
    return g.op("Where", [cond, g.value(c.args[0]), g.value(c.args[1])])


def _reduce(op_type: str) -> Callable[[Graph, Call], str]:
    def convert(g: Graph, c: Call) -> str:
        return g.reduce(op_type, g.value(c.args[0]), c.kwargs.get("axis"),
                        c.kwargs.get("keepdim", False))
    return convert


def _amax(g: Graph, c: Call) -> str:
    op_type = "ReduceMin" if c.kwargs.get("minimum") else "ReduceMax"
    return g.reduce(op_type, g.value(c.args[0]), c.kwargs.get("axis"), c.kwargs["keepdim"])


def _take_along(g: Graph, c: Call) -> str:
    # NOTE: traced from max/min with a dim, whose values are the reduced maximum/minimum.
    x = c.args[0]
    indices = np.asarray(c.kwargs["indices"])
    is_min = np.array_equal(indices, np.argmin(x._array, axis=c.kwargs["axis"]))
    is_max = np.array_equal(indices, np.argmax(x._array, axis=c.kwargs["axis"]))
    if not (is_min or is_max):
        raise NotImplementedError("onnx.export: TakeAlongFn with indices other than argmax/argmin "
                                  "is not supported")
    op_type = "ReduceMax" if is_max else "ReduceMin"
    return g.reduce(op_type, g.value(x), c.kwargs["axis"], c.kwargs["keepdim"])


def _cast(g: Graph, c: Call) -> str:
    return g.op("Cast", [g.value(c.args[0])], to=onnx_dtype(c.kwargs["dtype"]))


# ---- shape ops ---------------------------------------------------------------------------


def _reshape(g: Graph, c: Call) -> str:
    x = c.args[0]
    target = list(c.output.shape)
    if c.second is None or tuple(c.second.output.shape) == tuple(target):
        return g.op("Reshape", [g.value(x), g.ints(target)])
    target2 = list(c.second.output.shape)
    in1, in2 = x.shape, c.second.args[0].shape
    dynamic = []
    for i, (v1, v2) in enumerate(zip(target, target2)):
        if v1 == v2:
            continue
        if i < len(in1) and in1[i] == v1 and in2[i] == v2:
            # NOTE: ONNX Reshape's 0 copies the input's size on that axis (the batch axis).
            target[i] = target2[i] = 0
        else:
            dynamic.append(i)
    if len(dynamic) == 1:
        target[dynamic[0]] = target2[dynamic[0]] = -1
    return g.op("Reshape", [g.value(x), g.shape("reshape", tuple(target), tuple(target2))])


def _permute(g: Graph, c: Call) -> str:
    return g.transpose(g.value(c.args[0]), c.kwargs["axes"])


def _expand(g: Graph, c: Call) -> str:
    x = c.args[0]
    target = list(c.kwargs["shape"])
    second = list(c.second.kwargs["shape"]) if c.second is not None else None
    if second is not None and second != target:
        lead = len(target) - x.ndim
        in2 = c.second.args[0].shape
        for i in range(lead, len(target)):
            # NOTE: Expand broadcasts both ways, so 1 keeps the input's own (batch) size.
            if x.shape[i - lead] == target[i] and in2[i - lead] == second[i]:
                target[i] = second[i] = 1
    return g.op("Expand", [g.value(x), g.shape("expand", tuple(target),
                                                None if second is None else tuple(second))])


def _cat(g: Graph, c: Call) -> str:
    return g.op("Concat", [g.value(t) for t in c.args], axis=int(c.kwargs["axis"]))


def _stack(g: Graph, c: Call) -> str:
    axis = int(c.kwargs["axis"]) % c.output.ndim
    parts = [g.op("Unsqueeze", [g.value(t), g.ints([axis])]) for t in c.args]
    return g.op("Concat", parts, axis=axis)


def _getitem(g: Graph, c: Call) -> str:
    x = c.args[0]
    index = c.kwargs["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    arrays = [i for i in items
              if not (i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)))]
    if len(arrays) > 1:
        raise NotImplementedError("onnx.export: indexing with more than one index array is not "
                                  "supported")
    ellipsis = [i for i, item in enumerate(items) if item is Ellipsis]
    if ellipsis:
        at = ellipsis[0]
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    y = g.value(x)
    axis = 0  # the axis of ``y`` that the next item indexes
    for item in items:
        if item is None:
            y = g.op("Unsqueeze", [y, g.ints([axis])])
            axis += 1
        elif isinstance(item, (int, np.integer)):
            y = g.op("Gather", [y, g.const(np.asarray(int(item), dtype=np.int64), "index")],
                     axis=axis)
        elif isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                start = item.start if item.start is not None else (0 if step > 0 else INT64_MAX)
                stop = item.stop if item.stop is not None else (
                    INT64_MAX if step > 0 else INT64_MIN)
                y = g.op("Slice", [y, g.ints([start]), g.ints([stop]), g.ints([axis]),
                                   g.ints([step])])
            axis += 1
        else:
            arr = np.asarray(item)
            if arr.dtype == bool:
                if arr.ndim != 1:
                    raise NotImplementedError("onnx.export: indexing with a multi-dimensional "
                                              "boolean mask is not supported")
                arr = np.flatnonzero(arr)
            y = g.op("Gather", [y, g.const(arr.astype(np.int64), "index")], axis=axis)
            axis += arr.ndim
    return y


FUNCTION_CONVERTERS: dict[str, Callable[[Graph, Call], Any]] = {
    # linear
    "LinearFn": _linear,
    "MatmulFn": _binary("MatMul"),
    # activation
    "ReluFn": _unary("Relu"),
    "LeakyReluFn": _leaky_relu,
    "SigmoidFn": _unary("Sigmoid"),
    "TanhFn": _unary("Tanh"),
    "GeluFn": _gelu,
    "SoftplusFn": _softplus,
    "SoftmaxFn": _softmax("Softmax"),
    "LogSoftmaxFn": _softmax("LogSoftmax"),
    "DropoutFn": _identity,
    # elementwise
    "AddFn": _binary("Add"),
    "SubFn": _binary("Sub"),
    "MulFn": _binary("Mul"),
    "DivFn": _binary("Div"),
    "PowFn": _binary("Pow"),
    "NegFn": _unary("Neg"),
    "ExpFn": _unary("Exp"),
    "LogFn": _unary("Log"),
    "SqrtFn": _unary("Sqrt"),
    "AbsFn": _unary("Abs"),
    "PowScalarFn": _pow_scalar,
    "AddScaledFn": _add_scaled,
    "MaximumFn": _maximum,
    "ReciprocalFn": _unary("Reciprocal"),
    "SinFn": _unary("Sin"),
    "CosFn": _unary("Cos"),
    "TanFn": _unary("Tan"),
    "AsinFn": _unary("Asin"),
    "AcosFn": _unary("Acos"),
    "AtanFn": _unary("Atan"),
    "SinhFn": _unary("Sinh"),
    "CoshFn": _unary("Cosh"),
    "AsinhFn": _unary("Asinh"),
    "AcoshFn": _unary("Acosh"),
    "AtanhFn": _unary("Atanh"),
    "ErfFn": _unary("Erf"),
    "ClampFn": _clamp,
    "WhereFn": _where,
    "CastFn": _cast,
    # reductions
    "SumFn": _reduce("ReduceSum"),
    "MeanFn": _reduce("ReduceMean"),
    "AmaxFn": _amax,
    "TakeAlongFn": _take_along,
    # shape
    "ReshapeFn": _reshape,
    "PermuteFn": _permute,
    "ExpandFn": _expand,
    "GetItemFn": _getitem,
    "CatFn": _cat,
    "StackFn": _stack,
}

# Keyword arguments that may follow the batch size between the two traces: the converters above
# handle them (any other difference makes the export fail rather than freeze a batch size).
BATCH_AWARE = {"ReshapeFn": {"shape"}, "ExpandFn": {"shape"}, "TakeAlongFn": {"indices"}}


# Functions the exporter meets only inside a layer it converts whole (it records the Module's
# call, not the Function's): Function -> the layers.
EXPORTED_BY_LAYER: dict[str, str] = {
    "AdaptiveAvgPool2dFn": "AdaptiveAvgPool1d/2d",
    "AdaptiveMaxPool2dFn": "AdaptiveMaxPool1d/2d",
    "AvgPool2dFn": "AvgPool1d/2d",
    "MaxPool2dFn": "MaxPool1d/2d",
    "Conv1dFn": "Conv1d",
    "Conv2dFn": "Conv2d",
    "BatchNormFn": "BatchNorm1d/2d",
    "LayerNormFn": "LayerNorm",
    "EmbeddingFn": "Embedding",
    "RNNFn": "RNN",
    "LSTMFn": "LSTM",
    "GRUFn": "GRU",
    "HeadsAttentionFn": "MultiheadAttention, TransformerEncoder(Layer)",
    "AddLayerNormFn": "TransformerEncoderLayer",
}

# Functions with no ONNX converter yet: onnx.export raises NotImplementedError naming the op.
# tests/test_architecture.py fails when a Function is in none of FUNCTION_CONVERTERS,
# EXPORTED_BY_LAYER and this set, so a new op is either exportable or listed here on purpose;
# docs/onnx_ops.md (generated by the same test) lists all three.
NOT_EXPORTABLE = frozenset({
    "AddcdivFn", "AddcmulFn", "AlphaDropoutFn", "Atan2Fn", "AttentionFn", "BCELossFn",
    "BCEWithLogitsFn", "CdistFn", "ClampTensorFn", "CloneFn", "ConstantPadFn", "ContiguousFn",
    "ConvTranspose1dFn", "ConvTranspose2dFn", "CopyFn", "CrossEntropyFn", "CrossFn", "CumprodFn",
    "CumsumFn", "DetFn", "DiagEmbedFn", "DiagonalFn", "DivRoundFn", "Dropout2dFn", "EinsumFn",
    "EluFn", "ErfinvFn", "Exp2Fn", "Expm1Fn", "FillFn", "FlipFn", "FloorDivideFn", "FmodFn",
    "FoldFn", "FracFn", "GatherAxesFn", "GatherFn", "GluFn", "GroupNormFn", "HardshrinkFn",
    "HardsigmoidFn", "HardswishFn", "HardtanhFn", "HuberLossFn", "IndexAddFn", "IndexCopyFn",
    "IndexSelectFn", "InvFn", "KLDivFn", "L1LossFn", "LerpFn", "LinearReluFn",
    "LocalResponseNormFn", "Log10Fn", "Log1pFn", "Log2Fn", "LogSigmoidFn", "LogSumExpFn",
    "LogitFn", "MSELossFn", "MaskedScatterFn", "MaskedSelectFn", "MishFn", "NLLLossFn",
    "NanMeanFn", "NanSumFn", "NanToNumFn", "NoGradFn", "NormFn", "PreluFn", "ProdFn",
    "RemainderFn", "RepeatInterleaveFn", "ReplaceFn", "RollFn", "RreluFn", "RsqrtFn", "ScatterFn",
    "SetItemFn", "SiluFn", "SmoothL1LossFn", "SoftCrossEntropyFn", "SoftshrinkFn", "SoftsignFn",
    "SolveFn", "SplitFn", "SplitPieceFn", "SquareFn", "StepFn", "TanhshrinkFn", "ThresholdFn",
    "TileFn", "TopkFn", "TriangleFn", "UnfoldFn", "VarFn", "VectorNormFn", "_PackFn",
    "_PadSequenceFn", "ScaleByFrequencyFn", "_SyncBatchNormFn",
    "FunctionCtx",  # a user's PyTorch-style custom Function: its backward is Python code
    # NOTE: never met while tracing: under export, attention takes AttentionFn (converted).
    "PackedHeadsAttentionFn",
})
