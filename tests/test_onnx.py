"""nncore.onnx.export: every exported model runs in onnxruntime and matches nncore's outputs, at
the example's batch size and at others (the batch dimension is dynamic).

Layer cases run twice: with nncore's own layers (skipped while a layer is missing from this
branch) and with PyTorch's layers behind a stand-in Module of the same class name and attributes,
which checks each converter against PyTorch's semantics whatever nncore's branch holds.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import numpy as np
import pytest

import nncore
from nncore import autograd, nn
from nncore.autograd import Function
from nncore.tensor import Tensor

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

try:
    import torch
except ImportError:  # pragma: no cover - the torch cases skip
    torch = None

BATCHES = (3, 1, 6)  # the first is the example's


def _leaves(obj: Any) -> list[Any]:
    if isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in _leaves(item)]
    return [obj]


def check_export(model: nn.Module, make_input: Callable[[int], tuple], tmp_path: Any,
                 batches: tuple = BATCHES, opset: int = 17, rtol: float = 1e-4,
                 atol: float = 1e-5) -> Any:
    """Export at batches[0]; compare onnxruntime with nncore (eval mode) at every batch."""
    path = tmp_path / "model.onnx"
    nncore.onnx.export(model, make_input(batches[0]), path, opset_version=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    model.eval()
    for b in batches:
        inputs = make_input(b)
        expected = [t.detach().numpy() for t in _leaves(model(*inputs)) if t is not None]
        got = session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})
        assert len(got) == len(expected)
        for i, (g, e) in enumerate(zip(got, expected)):
            assert g.shape == e.shape, f"output {i} at batch {b}"
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol,
                                       err_msg=f"output {i} at batch {b}")
    return proto


def randn(*shape: int) -> Tensor:
    return nncore.randn(*shape)


# ---- models from the ops and layers of this branch ------------------------------------------


class Residual(nn.Module):
    """A user Module: reshape, permute, residual add, scalar ops, reductions, slicing."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 12)
        self.fc2 = nn.Linear(12, 5)
        self.drop = nn.Dropout(0.3)
        self.scale = nn.Parameter(np.full(12, 0.5, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        h = x.reshape(n, 3, 4).permute(0, 2, 1).reshape(n, -1)
        h = self.drop(nn.functional.gelu(self.fc1(h))) + x
        h = h * self.scale - h.mean(dim=1, keepdim=True) / 3.0
        h = nncore.cat([h[:, :6], h[:, 6:].exp().sqrt()], dim=1)
        h = h.unsqueeze(1).expand(n, 2, 12).sum(dim=1) ** 2
        return self.fc2(h.clamp(max=4.0)).log_softmax(dim=-1)


class Tokens(nn.Module):
    """Linear over (N, T, F) input, matmul, stack, transpose, max over a dim, indexing."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 8, bias=False)

    def forward(self, x: Tensor) -> tuple:
        h = nn.functional.leaky_relu(self.proj(x), 0.1)  # (N, T, 8)
        scores = (h @ h.transpose(1, 2)).softmax(dim=-1)  # (N, T, T)
        mixed = scores @ h
        pooled = nncore.stack([mixed.max(dim=1).values, mixed[:, 0], -mixed[..., -1:, :]
                               .squeeze(1).abs()], dim=1)
        return pooled, mixed.amax(dim=(1, 2)).sigmoid()


class Elementwise(nn.Module):
    """The namespace math of nncore.tensor_ops: scalar powers, alpha, maximum, trigonometry."""

    def forward(self, x: Tensor) -> Tensor:
        h = nncore.add(x, x.sin() ** 2, alpha=-0.5) + nncore.maximum(x.cos(), x.atan())
        h = nncore.minimum(h, x.erf()) * x.tanh().asinh() + x.abs().add(1).reciprocal()
        return nncore.sub(h, x.sinh().tan(), alpha=2) + x.clamp(-0.5, 0.5).asin()


BASIC_CASES = {
    "linear": (lambda: nn.Linear(5, 7), lambda b: (randn(b, 5),)),
    "linear-3d": (lambda: nn.Linear(5, 7), lambda b: (randn(b, 4, 5),)),
    "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(16, 16), nn.Tanh(), nn.Identity(), nn.Linear(16, 3),
                                  nn.Softmax(dim=1)),
            lambda b: (randn(b, 3, 2, 2),)),
    "activations": (lambda: nn.Sequential(nn.LeakyReLU(0.2), nn.GELU(approximate="tanh"),
                                          nn.Sigmoid(), nn.GELU(), nn.LogSoftmax(dim=1)),
                    lambda b: (randn(b, 9),)),
    "softplus": (lambda: nn.Sequential(nn.Softplus(), nn.Linear(9, 9), nn.Softplus(2.0, 1.0)),
                 lambda b: (randn(b, 9) * 3,)),
    "residual": (Residual, lambda b: (randn(b, 12),)),
    "tokens": (Tokens, lambda b: (randn(b, 4, 6),)),
    "elementwise": (Elementwise, lambda b: (randn(b, 7),)),
}


@pytest.mark.parametrize("case", list(BASIC_CASES))
def test_export_matches_nncore(case: str, tmp_path: Any) -> None:
    build, make_input = BASIC_CASES[case]
    nncore.manual_seed(1)
    check_export(build(), make_input, tmp_path)


class _Lambda(nn.Module):
    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


INDEXING = {
    "reverse": lambda x: x[:, ::-1],
    "negative-step": lambda x: x[:, -2::-2],
    "int-list": lambda x: x[:, [0, 2, 2]],
    "bool-mask": lambda x: x[..., np.array([True, False, True, False, True])],
    "none-and-slice": lambda x: x[:, None, 1:3],
    "last-row": lambda x: x[-1],
    "batch-slice": lambda x: x[1:],
    "ellipsis-int": lambda x: x[..., 2],
    "transpose": lambda x: x.T,
    "max-dim0": lambda x: x.max(dim=0).values,
    "min-keepdim": lambda x: x.min(dim=1, keepdim=True).values,
    "cast": lambda x: x.double().float() * 2,
    "flatten-all": lambda x: x.flatten(),
    "sum-all": lambda x: x.sum(),
    "log-abs": lambda x: (x.abs() + 1).log(),
}


@pytest.mark.parametrize("case", list(INDEXING))
def test_indexing_and_shape_ops(case: str, tmp_path: Any) -> None:
    nncore.manual_seed(6)
    check_export(_Lambda(INDEXING[case]), lambda b: (randn(b + 1, 5),), tmp_path)


@pytest.mark.parametrize("opset", [18, 20])
def test_newer_opsets(opset: int, tmp_path: Any) -> None:
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"onnx {onnx.__version__} lacks opset {opset}")
    nncore.manual_seed(2)
    proto = check_export(Residual(), lambda b: (randn(b, 12),), tmp_path, opset=opset)
    ops = {n.op_type for n in proto.graph.node}
    assert ("Gelu" in ops) == (opset >= 20)


def test_graph_has_dynamic_batch_and_named_weights(tmp_path: Any) -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    path = tmp_path / "m.onnx"
    nncore.onnx.export(model, randn(2, 4), path)
    proto = onnx.load(str(path))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 4
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    np.testing.assert_array_equal(weights["0.weight"], model[0].weight.data)


def test_fixed_batch(tmp_path: Any) -> None:
    model = nn.Linear(4, 3)
    path = tmp_path / "m.onnx"
    nncore.onnx.export(model, randn(2, 4), path, dynamic_batch=False)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [2, 4]


def test_several_inputs_and_names(tmp_path: Any) -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, a: Tensor, b: Tensor) -> tuple:
            return self.fc(a) * b, a

    nncore.manual_seed(3)
    model = Two()
    path = tmp_path / "m.onnx"
    nncore.onnx.export(model, (randn(2, 3), randn(2, 3)), path, input_names=["a", "b"],
                       output_names=["y", "a_out"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    a, b = randn(5, 3), randn(5, 3)
    y, a_out = session.run(["y", "a_out"], {"a": a.numpy(), "b": b.numpy()})
    np.testing.assert_allclose(y, model(a, b)[0].data, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(a_out, a.numpy())


def test_export_restores_training_flags_and_tracer(tmp_path: Any) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.train()
    model[1].eval()
    nncore.onnx.export(model, randn(2, 4), tmp_path / "m.onnx")
    assert model.training and model[0].training and not model[1].training
    assert autograd._tracer is None


# ---- errors ---------------------------------------------------------------------------


class _Unknown(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x * 2

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * 2


class _UsesUnknown(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return _Unknown.apply(x)


def test_unsupported_op_names_it_and_writes_nothing(tmp_path: Any) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(NotImplementedError, match="_Unknown"):
        nncore.onnx.export(_UsesUnknown(), randn(2, 3), path)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["m.onnx"]
    assert autograd._tracer is None


def test_unsupported_layer_option_names_it(tmp_path: Any) -> None:
    class MaxPool2d(nn.Module):  # PyTorch's attributes, as nncore's layer will have them
        kernel_size, stride, padding, dilation, ceil_mode, return_indices = 2, 2, 0, 1, False, True

        def forward(self, x: Tensor) -> Tensor:
            return x

    with pytest.raises(NotImplementedError, match="MaxPool2d with return_indices"):
        nncore.onnx.export(MaxPool2d(), randn(1, 1, 4, 4), tmp_path / "m.onnx")


def test_layer_without_pytorch_attributes_is_named(tmp_path: Any) -> None:
    class Conv2d(nn.Module):  # a user class that shares only the name
        def forward(self, x: Tensor) -> Tensor:
            return x

    with pytest.raises(NotImplementedError, match="Conv2d lacks an attribute of PyTorch's"):
        nncore.onnx.export(Conv2d(), randn(1, 1, 4, 4), tmp_path / "m.onnx")


def test_batch_dependent_constant_is_refused(tmp_path: Any) -> None:
    class Masked(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return nncore.where(x > 0, x, x * 0.1)  # the mask is computed outside nncore's ops

    with pytest.raises(ValueError, match="condition.*WhereFn.*dynamic_batch=False"):
        nncore.onnx.export(Masked(), randn(2, 3), tmp_path / "m.onnx")
    # at a fixed batch it exports, the mask frozen as a constant
    x = randn(2, 3)
    nncore.onnx.export(Masked(), x, tmp_path / "m.onnx", dynamic_batch=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], Masked()(x),
                               rtol=1e-6)


def test_batch_sized_constant_is_refused(tmp_path: Any) -> None:
    class Offset(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x + nncore.ones(x.shape[0], 3)  # made outside nncore's ops, sized by the batch

    with pytest.raises(ValueError, match="tensor argument 1 of AddFn is a constant.*batch 2"):
        nncore.onnx.export(Offset(), randn(2, 3), tmp_path / "m.onnx")


def test_bad_arguments(tmp_path: Any) -> None:
    path = tmp_path / "m.onnx"
    with pytest.raises(TypeError, match="model must be an nncore.nn.Module"):
        nncore.onnx.export(lambda x: x, randn(2, 3), path)
    with pytest.raises(TypeError, match=r"example_input\[0\] must be a Tensor"):
        nncore.onnx.export(nn.ReLU(), [[1.0, 2.0]], path)
    with pytest.raises(ValueError, match="opset_version must be an int in"):
        nncore.onnx.export(nn.ReLU(), randn(2, 3), path, opset_version=11)
    with pytest.raises(ValueError, match="2 input_names for 1 inputs"):
        nncore.onnx.export(nn.ReLU(), randn(2, 3), path, input_names=["a", "b"])
    assert not path.exists()


def test_missing_onnx_package_says_how_to_install(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        nncore.onnx.export(nn.ReLU(), randn(2, 3), tmp_path / "m.onnx")


# ---- layers from the other branches, and PyTorch stand-ins of them ---------------------------


def _torch_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    def to_torch(a: Any) -> Any:
        if isinstance(a, (tuple, list)):
            return tuple(to_torch(i) for i in a)
        return torch.from_numpy(np.array(a.detach().numpy())) if isinstance(a, Tensor) else a

    def back(o: Any) -> Any:
        if isinstance(o, (tuple, list)):
            return tuple(back(i) for i in o)
        return None if o is None else Tensor._wrap(o.detach().numpy().copy())

    with torch.no_grad():
        out = self._torch(*[to_torch(a) for a in args],
                          **{k: to_torch(v) for k, v in kwargs.items()})
    return back(out)


def _mirror(tm: Any) -> nn.Module:
    """An nncore Module with the class name, parameters, buffers, attributes and children of the
    PyTorch module ``tm``, whose forward runs ``tm``."""
    cls = type(type(tm).__name__, (nn.Module,), {"forward": _torch_forward})
    m = cls()
    object.__setattr__(m, "_torch", tm)
    for name, p in tm._parameters.items():
        m.register_parameter(name, None if p is None else
                             nn.Parameter(p.detach().numpy().copy()))
    for name, b in tm._buffers.items():
        m.register_buffer(name, None if b is None else b.detach().numpy().copy())
    for name, value in vars(tm).items():
        if name == "training" or (name.startswith("_") and name != "_qkv_same_embed_dim"):
            continue
        object.__setattr__(m, name, value)
    for name, child in tm.named_children():
        setattr(m, name, _mirror(child))
    return m


def _torch_layer(name: str, *args: Any, **kwargs: Any) -> nn.Module:
    def unwrap(a: Any) -> Any:  # a layer built by this factory, passed to another
        return getattr(a, "__dict__", {}).get("_torch", a)

    args = tuple(unwrap(a) for a in args)
    kwargs = {k: unwrap(v) for k, v in kwargs.items()}
    tm = getattr(torch.nn, name)(*args, **kwargs).eval()
    if getattr(tm, "running_mean", None) is not None:
        gen = torch.Generator().manual_seed(7)
        tm.running_mean.copy_(torch.randn(tm.running_mean.shape, generator=gen))
        tm.running_var.copy_(torch.rand(tm.running_var.shape, generator=gen) + 0.5)
        tm.weight.data.copy_(torch.rand(tm.weight.shape, generator=gen) + 0.5)
        tm.bias.data.copy_(torch.randn(tm.bias.shape, generator=gen))
    return _mirror(tm)


def _nncore_layer(name: str, *args: Any, **kwargs: Any) -> nn.Module:
    m = getattr(nn, name)(*args, **kwargs)
    if isinstance(getattr(m, "running_mean", None), Tensor):
        rng = np.random.default_rng(7)
        m.running_mean.data[...] = rng.standard_normal(m.running_mean.shape)
        m.running_var.data[...] = rng.uniform(0.5, 1.5, m.running_var.shape)
        m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
        m.bias.data[...] = rng.standard_normal(m.bias.shape)
    return m


class _Attention(nn.Module):
    def __init__(self, layer: Callable, **kwargs: Any) -> None:
        super().__init__()
        self.attn = layer("MultiheadAttention", 16, 4, **kwargs)

    def forward(self, x: Tensor) -> tuple:
        return self.attn(x, x, x)


class _MaskedCrossAttention(nn.Module):
    def __init__(self, layer: Callable) -> None:
        super().__init__()
        self.attn = layer("MultiheadAttention", 16, 2, kdim=8, vdim=6, batch_first=True)
        causal = np.triu(np.ones((5, 5), dtype=bool), k=1)
        self.mask = nncore.tensor(causal)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, pad: Tensor) -> tuple:
        return self.attn(q, k, v, key_padding_mask=pad, attn_mask=self.mask,
                         average_attn_weights=False)


def _padding_mask(b: int) -> Tensor:
    pad = np.random.default_rng(b).random((b, 5)) < 0.3
    pad[:, 0] = False  # no query sees only padding
    return nncore.tensor(pad)


class _RecurrentWithState(nn.Module):
    """A user Module that computes the initial state from the input."""

    def __init__(self, layer: Callable, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.init = nn.Linear(6, 8)
        self.rnn = layer(kind, 6, 8, num_layers=2, batch_first=True)

    def forward(self, x: Tensor) -> Any:
        h = self.init(x[:, 0]).tanh()
        h0 = nncore.stack([h, h * 0.5])
        return self.rnn(x, (h0, h0 * 2.0) if self.kind == "LSTM" else h0)


def _cnn(layer: Callable) -> nn.Module:
    return nn.Sequential(
        layer("Conv2d", 3, 8, 3, padding=1), layer("BatchNorm2d", 8), nn.ReLU(),
        layer("MaxPool2d", 2),
        layer("Conv2d", 8, 6, 3, stride=2, padding="valid", dilation=1, groups=2, bias=False),
        layer("AvgPool2d", 2, stride=1), layer("Conv2d", 6, 6, 2, padding="same", dilation=2),
        layer("AdaptiveAvgPool2d", 1), nn.Flatten(), nn.Linear(6, 4))


def _cnn1d(layer: Callable) -> nn.Module:
    return nn.Sequential(layer("Conv1d", 4, 6, 3, padding=2),
                         layer("BatchNorm1d", 6), nn.ReLU(), nn.Flatten(),
                         nn.Linear(6 * 11, 8), layer("BatchNorm1d", 8))


LAYER_CASES: dict[str, tuple] = {
    "cnn": (["Conv2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"], _cnn,
            lambda b: (randn(b, 3, 16, 16),)),
    "pool-options": (["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"],
                     lambda L: nn.Sequential(L("MaxPool2d", 3, stride=2, padding=1, ceil_mode=True),
                                             L("AvgPool2d", 3, stride=2, padding=1,
                                               count_include_pad=False, ceil_mode=True),
                                             L("AdaptiveAvgPool2d", (1, None))),
                     lambda b: (randn(b, 2, 11, 13),)),
    "cnn1d": (["Conv1d", "BatchNorm1d"], _cnn1d, lambda b: (randn(b, 4, 9),)),
    "layernorm": (["LayerNorm"],
                  lambda L: nn.Sequential(nn.Linear(6, 8), L("LayerNorm", 8), nn.GELU()),
                  lambda b: (randn(b, 5, 6),)),
    "layernorm-2d-shape": (["LayerNorm"], lambda L: L("LayerNorm", (5, 6), eps=1e-3),
                           lambda b: (randn(b, 5, 6),)),
    "lstm": (["LSTM"], lambda L: L("LSTM", 6, 8, num_layers=2, bidirectional=True,
                                   batch_first=True),
             lambda b: (randn(b, 7, 6),)),
    "lstm-seq-first": (["LSTM"], lambda L: L("LSTM", 6, 5), lambda b: (randn(b, 2, 6),)),
    "lstm-with-state": (["LSTM"], lambda L: _RecurrentWithState(L, "LSTM"),
                        lambda b: (randn(b, 4, 6),)),
    "gru-with-state": (["GRU"], lambda L: _RecurrentWithState(L, "GRU"),
                       lambda b: (randn(b, 4, 6),)),
    "gru": (["GRU"], lambda L: L("GRU", 6, 8, num_layers=2, bidirectional=True,
                                 batch_first=True),
            lambda b: (randn(b, 7, 6),)),
    "rnn-relu": (["RNN"], lambda L: L("RNN", 6, 8, num_layers=2, nonlinearity="relu",
                                      batch_first=True),
                 lambda b: (randn(b, 7, 6),)),
    "embedding": (["Embedding"], lambda L: nn.Sequential(L("Embedding", 20, 6), nn.Flatten(),
                                                         nn.Linear(24, 3)),
                  lambda b: (nncore.tensor(np.random.default_rng(b).integers(0, 20, (b, 4))),)),
    "attention": (["MultiheadAttention"], lambda L: _Attention(L, batch_first=True),
                  lambda b: (randn(b, 5, 16),)),
    "attention-seq-first": (["MultiheadAttention"], lambda L: _Attention(L, bias=False),
                            lambda b: (randn(b, 2, 16),)),
    "attention-masked-cross": (["MultiheadAttention"], _MaskedCrossAttention,
                               lambda b: (randn(b, 5, 16), randn(b, 5, 8), randn(b, 5, 6),
                                          _padding_mask(b))),
    "encoder-layer": (["TransformerEncoderLayer"],
                      lambda L: L("TransformerEncoderLayer", 16, 4, dim_feedforward=24,
                                  batch_first=True),
                      lambda b: (randn(b, 5, 16),)),
    "encoder-layer-norm-first-gelu": (["TransformerEncoderLayer"],
                                      lambda L: L("TransformerEncoderLayer", 16, 2,
                                                  dim_feedforward=24, norm_first=True,
                                                  activation="gelu"),
                                      lambda b: (randn(b, 3, 16),)),
    "encoder": (["TransformerEncoder", "TransformerEncoderLayer", "LayerNorm"],
                lambda L: L("TransformerEncoder",
                            L("TransformerEncoderLayer", 16, 4, dim_feedforward=24,
                              batch_first=True),
                            2, norm=L("LayerNorm", 16)),
                lambda b: (randn(b, 5, 16),)),
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_nncore_layers(case: str, tmp_path: Any) -> None:
    needed, build, make_input = LAYER_CASES[case]
    missing = [n for n in needed if not hasattr(nn, n)]
    if missing:
        pytest.skip(f"nncore.nn lacks {', '.join(missing)} in this branch")
    nncore.manual_seed(4)
    check_export(build(_nncore_layer), make_input, tmp_path)


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_converters_against_pytorch_layers(case: str, tmp_path: Any) -> None:
    if torch is None:
        pytest.skip("torch is not installed")
    _, build, make_input = LAYER_CASES[case]
    torch.manual_seed(5)
    nncore.manual_seed(5)
    check_export(build(_torch_layer), make_input, tmp_path)
