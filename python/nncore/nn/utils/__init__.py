"""``nncore.nn.utils``: gradient clipping, parameter/vector conversion, ``rnn`` padding helpers
and ``skip_init`` (PyTorch's ``torch.nn.utils``)."""

from __future__ import annotations

from typing import Any

from nncore._unsupported import missing
from nncore.nn.utils import rnn
from nncore.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from nncore.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from nncore.nn.utils.init import skip_init

__all__ = [
    "clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
    "get_total_norm", "parameters_to_vector", "rnn", "skip_init", "vector_to_parameters",
]


def __getattr__(name: str) -> Any:
    missing("torch.nn.utils", name, f"module '{__name__}'")
