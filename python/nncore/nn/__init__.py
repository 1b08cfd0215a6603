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
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from nncore.nn.distance import CosineSimilarity, PairwiseDistance
from nncore.nn.embedding import Embedding
from nncore.nn.linear import Linear
from nncore.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from nncore.nn.module import Module
from nncore.nn.norm import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LocalResponseNorm,
)
from nncore.nn.parameter import Parameter
from nncore.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from nncore.nn.transformer import (
    MultiheadAttention,
    PositionalEncoding,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from nncore.nn.vision import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    Fold,
    PixelShuffle,
    PixelUnshuffle,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    Unfold,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
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
__all__ += [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d", "AvgPool1d", "AvgPool3d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "MaxPool1d", "MaxPool3d",
]
__all__ += [
    "BatchNorm3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "LocalResponseNorm",
    "BCELoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss",
    "KLDivLoss", "MarginRankingLoss", "MultiLabelSoftMarginLoss", "PoissonNLLLoss",
    "SmoothL1Loss", "SoftMarginLoss", "TripletMarginLoss",
    "CosineSimilarity", "PairwiseDistance",
    "CircularPad1d", "CircularPad2d", "ConstantPad1d", "ConstantPad2d", "Fold", "PixelShuffle",
    "PixelUnshuffle", "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d",
    "ReplicationPad2d", "Unfold", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d",
    "ZeroPad1d", "ZeroPad2d", "CircularPad3d", "ConstantPad3d", "ReflectionPad3d",
    "ReplicationPad3d", "ZeroPad3d",
]

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
from nncore.nn.dropout import (  # noqa: E402
    AlphaDropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
)
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


def __getattr__(name: str) -> object:
    if name == "parallel":
        import importlib

        return importlib.import_module("nncore.nn.parallel")
    from nncore._unsupported import missing

    missing("torch.nn", name, "module 'nncore.nn'")

from nncore.nn.sync_batchnorm import SyncBatchNorm  # noqa: E402

__all__ += ["SyncBatchNorm"]
