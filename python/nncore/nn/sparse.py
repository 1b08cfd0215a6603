"""Embedding: a lookup table of learnable rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn.module import Module
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor


class Embedding(Module):
    """Rows of ``weight`` looked up by integer indices, initialised N(0, 1) as PyTorch does (the
    padding_idx row zeroed).

    Args:
        num_embeddings: size of the table.
        embedding_dim: size of each row.
        padding_idx: a row that stays zero-initialised and receives no gradient (negative
            counts from the end).
        max_norm, norm_type, scale_grad_by_freq, sparse: PyTorch's options; only their defaults
            are supported (anything else raises ValueError).
        _weight: an initial weight (num_embeddings, embedding_dim) to use instead.
        _freeze: do not train the weight.
        dtype: parameter dtype.
    Shape:
        input (*) int64 -> output (*, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Any = None, _freeze: bool = False, dtype: Any = np.float32) -> None:
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding: sizes must be positive, got num_embeddings="
                             f"{num_embeddings}, embedding_dim={embedding_dim}")
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("Embedding: max_norm, scale_grad_by_freq and sparse are not "
                             "supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"num_embeddings={num_embeddings}")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.zeros((num_embeddings, embedding_dim)), dtype=dtype)
            self.reset_parameters()
        else:
            w = np.array(_weight._array if isinstance(_weight, Tensor) else _weight)
            if w.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {w.shape} does not match "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(w, dtype=w.dtype if w.dtype.kind == "f" else dtype)
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._array[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding holding ``embeddings`` (num_embeddings, embedding_dim) as its weight.

        Args:
            embeddings: 2-D Tensor or array, used as the weight (copied).
            freeze: do not train the weight.
            padding_idx: as in the constructor (the row is kept as given).
        Returns:
            The Embedding.
        """
        w = embeddings._array if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, _weight=w, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"
