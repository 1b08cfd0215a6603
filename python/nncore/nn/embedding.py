"""The embedding family's layer: Embedding, a lookup table of learnable rows (PyTorch's
torch.nn.modules.sparse)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn._factory import param_dtype
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
        max_norm: rows looked up whose ``norm_type`` norm exceeds it are rescaled to it, in
            place, before each lookup.
        norm_type: the p of that norm.
        scale_grad_by_freq: divide each row's gradient by its index's count in the batch.
        sparse: sparse gradients (not supported: raises NotImplementedError).
        _weight: an initial weight (num_embeddings, embedding_dim), used as it is (shared).
        _freeze: do not train the weight.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input (*) int64 -> output (*, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("Embedding", device, dtype)
        if num_embeddings < 0 or embedding_dim < 0:
            raise ValueError(f"Embedding: sizes must be non-negative, got num_embeddings="
                             f"{num_embeddings}, embedding_dim={embedding_dim}")
        if sparse:
            raise NotImplementedError("Embedding(sparse=True): sparse gradients are not "
                                      "supported by nncore; use sparse=False (dense gradients)")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"num_embeddings={num_embeddings}")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dt),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight._array if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {w.shape} does not match "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """N(0, 1) rows, the padding row zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._array[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (num_embeddings, embedding_dim), sharing
        its memory as PyTorch does.

        Args:
            embeddings: 2-D Tensor or array.
            freeze: do not train the weight.
            padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse: as the constructor
                (the padding row is kept as given).
        Returns:
            The Embedding.
        """
        w = embeddings._array if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got shape "
                             f"{w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse,
                   _weight=embeddings, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s
