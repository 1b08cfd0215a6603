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
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)
from nncore.functional.distance import (
    cosine_similarity,
    normalize,
    pairwise_distance,
)
from nncore.functional.embedding import embedding
from nncore.functional.linear import (
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
from nncore.functional.loss_extra import (
    binary_cross_entropy,
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    margin_ranking_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from nncore.functional.norm import (
    add_layer_norm,
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
)
from nncore.functional.vision import (
    fold,
    interpolate,
    one_hot,
    pad,
    pixel_shuffle,
    pixel_unshuffle,
    unfold,
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
__all__ += [
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
    "conv_transpose1d", "conv_transpose2d", "max_pool1d",
    "adaptive_avg_pool3d", "adaptive_max_pool3d", "avg_pool3d", "conv3d", "conv_transpose3d",
    "max_pool3d",
    "group_norm", "instance_norm", "local_response_norm",
    "binary_cross_entropy", "cosine_embedding_loss", "cosine_similarity", "fold",
    "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "interpolate", "kl_div",
    "margin_ranking_loss", "multilabel_soft_margin_loss", "normalize", "one_hot", "pad",
    "pairwise_distance", "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss", "unfold",
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
