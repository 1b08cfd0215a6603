"""Functional forms of every op (``nncore.nn.functional``), one module per op family.

Each function checks its arguments and raises ValueError/TypeError naming the op and the shapes
before anything reaches C++, then applies one Function from ``nncore.ops``.
"""

from nncore.functional.activation import (
    dropout,
    dropout2d,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from nncore.functional.attention import (
    scaled_dot_product_attention,
)
from nncore.functional.conv import (
    adaptive_avg_pool2d,
    avg_pool2d,
    conv1d,
    conv2d,
    max_pool2d,
)
from nncore.functional.linear import (
    embedding,
    linear,
    linear_relu,
    matmul,
)
from nncore.functional.loss import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    l1_penalty,
    mse_loss,
    nll_loss,
)
from nncore.functional.norm import (
    add_layer_norm,
    batch_norm,
    layer_norm,
)

__all__ = [
    "adaptive_avg_pool2d",
    "add_layer_norm",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "dropout2d",
    "embedding",
    "gelu",
    "l1_loss",
    "l1_penalty",
    "layer_norm",
    "leaky_relu",
    "linear",
    "linear_relu",
    "log_softmax",
    "matmul",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "tanh",
]

# ---- the rest of the activation family and bilinear (PyTorch's names) ----
from nncore.functional.activation import (  # noqa: E402
    alpha_dropout,
    celu,
    celu_,
    dropout1d,
    dropout3d,
    elu,
    elu_,
    feature_alpha_dropout,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    leaky_relu_,
    logsigmoid,
    mish,
    prelu,
    relu6,
    relu_,
    rrelu,
    rrelu_,
    selu,
    selu_,
    silu,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
    threshold_,
)
from nncore.functional.linear import bilinear  # noqa: E402
from nncore.functional.rms_norm import rms_norm  # noqa: E402

__all__ += [
    "alpha_dropout", "bilinear", "celu", "celu_", "dropout1d", "dropout3d", "elu", "elu_",
    "feature_alpha_dropout", "glu", "hardshrink", "hardsigmoid", "hardswish", "hardtanh",
    "hardtanh_", "leaky_relu_", "logsigmoid", "mish", "prelu", "relu6", "relu_", "rrelu",
    "rrelu_", "selu", "selu_", "silu", "softmin", "softplus", "softshrink", "softsign",
    "tanhshrink", "threshold", "threshold_", "rms_norm",
]
