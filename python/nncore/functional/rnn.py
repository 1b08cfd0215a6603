"""Functional form of the rnn family: one layer and direction of RNN/LSTM/GRU over a sequence,
or one step of a cell, each one native call (nncore.nn.rnn's modules go through these; PyTorch
has no public functional RNN, so nn.functional does not re-export them). Arguments arrive
checked by the modules."""

from __future__ import annotations

from nncore.ops.rnn import GRUFn, LSTMFn, RNNFn
from nncore.tensor import Tensor


def rnn_layer(mode: str, x: Tensor, weights: list[Tensor], state: tuple[Tensor, ...] | None,
              reverse: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer and direction of a recurrent network over a whole sequence (one native call).

    Args:
        mode: "LSTM", "GRU", "RNN_TANH" or "RNN_RELU".
        x: the input (T, N, I).
        weights: [w_ih (G*H, I), w_hh (G*H, H)] and, with bias, [b_ih, b_hh] (G*H,), G the
            gates (4 LSTM, 3 GRU, 1 RNN) in PyTorch's order.
        state: (h_0,) or, for LSTM, (h_0, c_0), each (N, H); None for zeros.
        reverse: run from the last step to the first.
    Returns:
        (output (T, N, H), h_n (N, H), c_n (N, H) for LSTM else None).
    """
    has_state = state is not None
    inputs = (x, *weights, *(state or ()))
    bias = len(weights) == 4
    steps = x.shape[0]
    last = 0 if reverse else steps - 1
    if mode == "LSTM":
        out = LSTMFn.apply(*inputs, bias=bias, has_state=has_state, reverse=reverse)
        return out[:steps], out[last], out[steps]
    if mode == "GRU":
        y = GRUFn.apply(*inputs, bias=bias, has_state=has_state, reverse=reverse)
    else:
        y = RNNFn.apply(*inputs, bias=bias, has_state=has_state, relu=mode == "RNN_RELU",
                        reverse=reverse)
    return y, y[last], None


def rnn_cell(mode: str, x: Tensor, weights: list[Tensor], state: tuple[Tensor, ...] | None
              ) -> tuple[Tensor, Tensor | None]:
    """One step of a recurrent cell.

    Args:
        mode: as in ``rnn_layer``.
        x: the input (N, I).
        weights: as in ``rnn_layer``.
        state: as in ``rnn_layer``.
    Returns:
        (h' (N, H), c' (N, H) for LSTM else None).
    """
    inputs = (x, *weights, *(state or ()))
    flags = {"bias": len(weights) == 4, "has_state": state is not None, "reverse": False}
    if mode == "LSTM":
        out = LSTMFn.apply(*inputs, **flags)
        return out[0], out[1]
    if mode == "GRU":
        return GRUFn.apply(*inputs, **flags), None
    return RNNFn.apply(*inputs, relu=mode == "RNN_RELU", **flags), None
