"""The rnn family: one layer and direction of an Elman RNN, LSTM or GRU over a whole sequence.

Each Function is one native call forward and one backward (the whole pass through time), over
time-major input ``x (T, N, I)`` and PyTorch's packed weights. Tensor inputs are, in order:
``x, weight_ih, weight_hh``, then ``bias_ih, bias_hh`` when ``bias=True``, then ``h0`` (and
``c0`` for the LSTM) when ``has_state=True``.

A Function returns one array, but a recurrent layer has two or three results. The choice made
here: the Function's single output holds everything, and the layer takes the results as slices
of it (differentiable views through ``Tensor.__getitem__``):

* RNN and GRU return ``y (T, N, H)``: the output sequence, and ``h_n`` is ``y[-1]`` (``y[0]``
  for the reverse direction), which is exactly what h_n is.
* The LSTM returns ``out (T + 1, N, H)``: ``out[:T]`` is the output sequence and ``out[T]`` is
  ``c_n`` (the native kernel writes c_n straight into that last row, so nothing is copied).

Backward then needs nothing special: autograd sums the gradients arriving through every slice
into one gradient of the Function's output, so a loss on the output sequence, on h_n, on c_n,
or on any mix of them flows back through time in one native backward call. No second Function,
no bookkeeping of which results were used.
"""

from __future__ import annotations

import numpy as np

from nncore import _C
from nncore.autograd import Function


def _split(arrays: tuple, bias: bool, has_state: bool, states: int) -> tuple:
    """(b_ih, b_hh, states...) from the optional trailing inputs, None where absent."""
    rest = list(arrays)
    b_ih, b_hh = (rest.pop(0), rest.pop(0)) if bias else (None, None)
    state = tuple(rest[:states]) if has_state else (None,) * states
    return (b_ih, b_hh) + state


def _grads(need: tuple, bias: bool, has_state: bool, dx, dw_ih, dw_hh, db_ih, db_hh,
           states: tuple) -> tuple:
    out = [dx if need[0] else None, dw_ih if need[1] else None, dw_hh if need[2] else None]
    if bias:
        out += [db_ih if need[3] else None, db_hh if need[4] else None]
    if has_state:
        out += list(states)
    return tuple(out)


def _step_grad(grad: np.ndarray, cell: bool) -> np.ndarray:
    """The output gradient as the (T, N, H) the layer kernel takes (a cell's is (N, H))."""
    return np.ascontiguousarray(grad[None] if cell else grad)


def _step_dx(dx: np.ndarray | None, cell: bool) -> np.ndarray | None:
    return dx[0] if cell and dx is not None else dx


# NOTE: the cells (RNNCell, LSTMCell, GRUCell) run the layer kernels with T = 1 inside one
# Function: a script that steps a cell a thousand times per batch pays one graph node per step,
# not the six that unsqueeze, the layer and the indexing would cost.
class RNNFn(Function):
    """Elman RNN layer (tanh or relu) over x (T, N, I); returns y (T, N, H). A 2-D x (N, I) is
    one step (RNNCell): y is then (N, H)."""

    def forward(self, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *rest: np.ndarray,
                bias: bool = True, has_state: bool = False, relu: bool = False,
                reverse: bool = False) -> np.ndarray:
        b_ih, b_hh, h0 = _split(rest, bias, has_state, 1)
        self.cell = x.ndim == 2
        x = np.ascontiguousarray(x[None] if self.cell else x)
        h0 = None if h0 is None else np.ascontiguousarray(h0)
        y = _C.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse)
        self.save_for_backward(x, h0, w_ih, w_hh, y)
        self.flags = bias, has_state, relu, reverse
        return y[0] if self.cell else y

    def backward(self, grad: np.ndarray) -> tuple:
        x, h0, w_ih, w_hh, y = self.saved_tensors
        bias, has_state, relu, reverse = self.flags
        need = self.needs_input_grad
        need_dh0 = has_state and need[-1]
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _C.rnn_backward(
            _step_grad(grad, self.cell), x, h0, w_ih, w_hh, y, relu, reverse, need[0], need_dh0,
            need[1] or need[2], bias and (need[3] or need[4]))
        return _grads(need, bias, has_state, _step_dx(dx, self.cell), dw_ih, dw_hh, db_ih, db_hh,
                      (dh0,))


class LSTMFn(Function):
    """LSTM layer over x (T, N, I); returns out (T + 1, N, H): the outputs, then c_n. A 2-D x
    (N, I) is one step (LSTMCell): out is then (2, N, H), h' and c'."""

    def forward(self, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *rest: np.ndarray,
                bias: bool = True, has_state: bool = False, reverse: bool = False) -> np.ndarray:
        b_ih, b_hh, h0, c0 = _split(rest, bias, has_state, 2)
        self.cell = x.ndim == 2
        x = np.ascontiguousarray(x[None] if self.cell else x)
        if has_state:
            h0, c0 = np.ascontiguousarray(h0), np.ascontiguousarray(c0)
        out, gates, cells = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        self.save_for_backward(x, h0, c0, w_ih, w_hh, out, gates, cells)
        self.flags = bias, has_state, reverse
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        x, h0, c0, w_ih, w_hh, out, gates, cells = self.saved_tensors
        bias, has_state, reverse = self.flags
        need = self.needs_input_grad
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = _C.lstm_backward(
            np.ascontiguousarray(grad), x, h0, c0, w_ih, w_hh, out, gates, cells, reverse,
            need[0], has_state and need[-2], has_state and need[-1], need[1] or need[2],
            bias and (need[3] or need[4]))
        return _grads(need, bias, has_state, _step_dx(dx, self.cell), dw_ih, dw_hh, db_ih, db_hh,
                      (dh0, dc0))


class GRUFn(Function):
    """GRU layer over x (T, N, I); returns y (T, N, H). A 2-D x (N, I) is one step (GRUCell): y
    is then (N, H)."""

    def forward(self, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, *rest: np.ndarray,
                bias: bool = True, has_state: bool = False, reverse: bool = False) -> np.ndarray:
        b_ih, b_hh, h0 = _split(rest, bias, has_state, 1)
        self.cell = x.ndim == 2
        x = np.ascontiguousarray(x[None] if self.cell else x)
        h0 = None if h0 is None else np.ascontiguousarray(h0)
        y, gates = _C.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)
        self.save_for_backward(x, h0, w_ih, w_hh, y, gates)
        self.flags = bias, has_state, reverse
        return y[0] if self.cell else y

    def backward(self, grad: np.ndarray) -> tuple:
        x, h0, w_ih, w_hh, y, gates = self.saved_tensors
        bias, has_state, reverse = self.flags
        need = self.needs_input_grad
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _C.gru_backward(
            _step_grad(grad, self.cell), x, h0, w_ih, w_hh, y, gates, reverse, need[0],
            has_state and need[-1], need[1] or need[2], bias and (need[3] or need[4]))
        return _grads(need, bias, has_state, _step_dx(dx, self.cell), dw_ih, dw_hh, db_ih, db_hh,
                      (dh0,))
