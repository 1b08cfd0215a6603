"""The embedding family: rows of a weight table looked up by integer indices (native), and the
identity that scales each looked-up row's gradient by its index's frequency."""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function


class EmbeddingFn(Function):
    """weight[indices]: rows gathered by integer indices (a keyword); padding_idx rows get no
    gradient."""

    def forward(self, weight: np.ndarray, *, indices: np.ndarray, padding_idx: int = -1
                ) -> np.ndarray:
        self.indices, self.padding_idx, self.rows = indices, padding_idx, weight.shape[0]
        return _C.embedding_forward(indices, weight)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return _C.embedding_backward(np.ascontiguousarray(grad), self.indices, self.rows,
                                     self.padding_idx)


class ScaleByFrequencyFn(Function):
    """Identity whose backward divides each looked-up row's gradient by how often its index
    occurs in the batch (``scale_grad_by_freq``)."""

    def forward(self, y: np.ndarray, *, scale: np.ndarray) -> np.ndarray:
        self.scale = scale
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.scale
