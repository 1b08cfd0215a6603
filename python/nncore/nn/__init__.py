"""Layers, losses and initialisation with PyTorch's names, layouts and defaults."""

from nncore.nn import functional, init, utils
from nncore.nn.activation import (
    GELU,
    Dropout,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from nncore.nn.container import Flatten, Identity, ModuleList, Sequential
from nncore.nn.conv import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Dropout2d,
    MaxPool2d,
)
from nncore.nn.linear import Linear
from nncore.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from nncore.nn.module import Module
from nncore.nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm
from nncore.nn.parameter import Parameter
from nncore.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from nncore.nn.sparse import Embedding
from nncore.nn.transformer import (
    MultiheadAttention,
    PositionalEncoding,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "GELU", "Dropout", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh",
    "Flatten", "Identity", "Linear", "Module", "ModuleList", "Parameter", "Sequential",
    "functional", "init", "utils",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss",
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv1d", "Conv2d", "Dropout2d", "MaxPool2d",
    "BatchNorm1d", "BatchNorm2d",
    "GRU", "LSTM", "RNN", "Embedding", "GRUCell", "LSTMCell", "RNNCell",
]
__all__ += ["LayerNorm", "MultiheadAttention", "PositionalEncoding", "TransformerDecoderLayer",
            "TransformerEncoder", "TransformerEncoderLayer"]

# ---- the rest of PyTorch's nn namespace (module API, containers, layers, modules paths) ----
from nncore.nn import hooks  # noqa: E402
from nncore.nn.activation import (  # noqa: E402
    CELU,
    ELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    PReLU,
    ReLU6,
    RReLU,
    SiLU,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
)
from nncore.nn.container import (  # noqa: E402
    Container,
    ModuleDict,
    ParameterDict,
    ParameterList,
)
from nncore.nn.dropout import AlphaDropout, Dropout1d, Dropout3d, FeatureAlphaDropout  # noqa: E402
from nncore.nn.flatten import Unflatten  # noqa: E402
from nncore.nn.linear import Bilinear  # noqa: E402
from nncore.nn.parameter import Buffer  # noqa: E402
from nncore.nn.rms_norm import RMSNorm  # noqa: E402
from nncore.nn.transformer import Transformer, TransformerDecoder  # noqa: E402

__all__ += [
    "CELU", "ELU", "GLU", "SELU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
    "LogSigmoid", "Mish", "PReLU", "ReLU6", "RReLU", "SiLU", "Softmax2d", "Softmin", "Softplus",
    "Softshrink", "Softsign", "Tanhshrink", "Threshold", "Container", "ModuleDict",
    "ParameterDict", "ParameterList", "AlphaDropout", "Dropout1d", "Dropout3d",
    "FeatureAlphaDropout", "Unflatten", "Bilinear", "Buffer", "RMSNorm", "Transformer",
    "TransformerDecoder", "hooks", "modules",
]

from nncore.nn import modules  # noqa: E402  (last: it resolves names from this namespace)
