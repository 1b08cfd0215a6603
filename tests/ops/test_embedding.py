"""The embedding family: the lookup against NumPy, finite differences and PyTorch; the padding
row; errors at the functional layer and at the native boundary."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, torch


def _embedding_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    idx = rng.integers(0, 7, (3, 5))
    idx[0, :2] = 2  # repeated rows must add up
    return [idx, rng.standard_normal((7, 17))]


SPECS = [
    OpSpec("embedding", F.embedding, _embedding_inputs, lambda i, w: w[i],
           torch.nn.functional.embedding if torch else None, grad_args=(1,), id="embedding"),
    OpSpec("embedding", F.embedding, lambda rng: [rng.integers(0, 3, (1,)),
                                                  rng.standard_normal((3, 1))],
           lambda i, w: w[i], torch.nn.functional.embedding if torch else None, grad_args=(1,),
           id="embedding-1x1"),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


# NOTE: padding_idx is not in the table: by definition its row's gradient is zero, not the
# finite difference. These check it against the definition and (tests/test_rnn.py) PyTorch.
def test_embedding_padding_row_gets_no_gradient() -> None:
    w = nc.randn(5, 3, requires_grad=True)
    F.embedding(np.array([[0, 4, 4], [1, 4, 0]]), w, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[4], 0)
    np.testing.assert_array_equal(w.grad.numpy()[0], 2)


def test_embedding_errors() -> None:
    w = nc.randn(10, 3)
    with pytest.raises(ValueError, match="embedding: index 12 is out of range for "
                                         "num_embeddings=10"):
        F.embedding(np.array([1, 12]), w)
    with pytest.raises(ValueError, match="embedding: index -1 is out of range"):
        F.embedding(np.array([-1]), w)
    with pytest.raises(TypeError, match="embedding: input must hold integer indices"):
        F.embedding(np.array([1.0]), w)
    with pytest.raises(ValueError, match=r"\[embedding\] index 10 is out of range for "
                                         r"num_embeddings=10"):
        nc._C.embedding_forward(np.array([3, 10]), w.detach().numpy())
    with pytest.raises(TypeError, match=r"\[embedding\] indices: expected int64"):
        nc._C.embedding_forward(np.array([3], np.int32), w.detach().numpy())
