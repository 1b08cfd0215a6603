"""``nncore.nn.utils.rnn``: padding a list of variable-length sequences into one tensor and back.

Packed sequences (``pack_padded_sequence`` and friends) are not supported: nncore's recurrent
layers run whole padded batches, so they raise NotImplementedError naming the feature.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore.autograd import Function
from nncore.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]


class _PadSequenceFn(Function):
    """Stacks sequences (L_i, *) into (B, L_max, *) with ``value`` in the padding."""

    def forward(self, *seqs: np.ndarray, value: float, left: bool) -> np.ndarray:
        self.lengths = [s.shape[0] for s in seqs]
        self.left = left
        longest = max(self.lengths)
        out = np.full((len(seqs), longest) + seqs[0].shape[1:], value, dtype=seqs[0].dtype)
        for i, s in enumerate(seqs):
            n = s.shape[0]
            if n:
                if left:
                    out[i, longest - n:] = s
                else:
                    out[i, :n] = s
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        longest = grad.shape[1]
        return tuple(grad[i, longest - n:] if self.left else grad[i, :n]
                     for i, n in enumerate(self.lengths))


def pad_sequence(sequences: Any, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Pad variable-length sequences to the longest and stack them (differentiable).

    Args:
        sequences: an iterable of Tensors (L_i, *) with the same trailing dims.
        batch_first: output (B, L_max, *) instead of (L_max, B, *).
        padding_value: value of the padding.
        padding_side: "right" (sequences start at index 0) or "left".
    Returns:
        Tensor of the first sequence's dtype.
    """
    if not isinstance(sequences, Iterable):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg "
                           f"of type: {type(sequences)}")
    seqs = list(sequences.unbind(0) if isinstance(sequences, Tensor) else sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    for i, s in enumerate(seqs):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: expected a sequence of Tensors, element {i} is "
                            f"{type(s).__name__}")
        if s.ndim == 0:
            raise RuntimeError("pad_sequence: the sequences must have at least one dimension, "
                               f"element {i} is 0-d")
        if s.shape[1:] != seqs[0].shape[1:]:
            raise RuntimeError(f"pad_sequence: the trailing dims of the sequences must match: "
                               f"element 0 has shape {seqs[0].shape}, element {i} has {s.shape}")
    dtype = seqs[0]._array.dtype
    seqs = [s if s._array.dtype == dtype else s.to(dtype) for s in seqs]
    out = _PadSequenceFn.apply(*seqs, value=padding_value, left=padding_side == "left")
    return out if batch_first else out.transpose(0, 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False
                   ) -> list[Tensor]:
    """The inverse of ``pad_sequence`` (right padding): a list of the (L_i, *) sequences.

    Args:
        padded_sequences: (L_max, B, *), or (B, L_max, *) with ``batch_first``.
        lengths: the B lengths (Tensor or sequence of ints).
        batch_first: the layout of ``padded_sequences``.
    Returns:
        A list of B Tensors.
    """
    padded = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    lens = lengths._array.tolist() if isinstance(lengths, Tensor) else list(lengths)
    if len(lens) != padded.shape[0]:
        raise ValueError(f"unpad_sequence: {len(lens)} lengths for a batch of "
                         f"{padded.shape[0]} sequences")
    return [padded[i, :int(n)] for i, n in enumerate(lens)]


def _packed(name: str) -> NotImplementedError:
    return NotImplementedError(f"torch.nn.utils.rnn.{name}: packed sequences are not supported "
                               f"by nncore; pad the batch with pad_sequence and run the "
                               f"recurrent layer over the padded tensor")


class PackedSequence:
    """PyTorch's packed batch of sequences: not supported by nncore (constructing raises)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _packed("PackedSequence")


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Not supported by nncore: raises NotImplementedError."""
    raise _packed("pack_padded_sequence")


def pad_packed_sequence(sequence: Any, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Not supported by nncore: raises NotImplementedError."""
    raise _packed("pad_packed_sequence")


def pack_sequence(sequences: Any, enforce_sorted: bool = True) -> PackedSequence:
    """Not supported by nncore: raises NotImplementedError."""
    raise _packed("pack_sequence")


def unpack_sequence(packed_sequences: Any) -> list[Tensor]:
    """Not supported by nncore: raises NotImplementedError."""
    raise _packed("unpack_sequence")
