"""Distance layers: CosineSimilarity and PairwiseDistance (``torch.nn.modules.distance``)."""

from __future__ import annotations

from nncore import functional as F
from nncore.nn.module import Module
from nncore.tensor import Tensor


class PairwiseDistance(Module):
    """The p-norm distance between rows of two inputs (``torch.nn.PairwiseDistance``).

    Args:
        p, eps, keepdim: as :func:`nncore.functional.pairwise_distance`.
    Shape:
        (N, D), (N, D) -> (N,).
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """Cosine similarity along ``dim`` (``torch.nn.CosineSimilarity``).

    Args:
        dim, eps: as :func:`nncore.functional.cosine_similarity`.
    Shape:
        (*, D, *), (*, D, *) -> (*, *).
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
