"""Recurrent layers: RNN, LSTM, GRU and their single-step cells, with PyTorch's parameter names,
layouts (packed gates: LSTM i,f,g,o; GRU r,z,n), defaults and initialisation.

Each layer and direction runs as one native call over the whole sequence (ops/rnn.py explains
how the Functions return outputs and final states together).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Union

import numpy as np

from nncore import functional as F
from nncore.functional.rnn import rnn_cell, rnn_layer
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.module import Module
from nncore.nn.parameter import empty_parameter
from nncore.tensor import Tensor
from nncore.tensor_ops.shape import cat, stack

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_OPS = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}

State = Union[Tensor, tuple[Tensor, Tensor]]


def _check_tensor(op: str, name: str, t: Any, dtype: np.dtype) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t.dtype != dtype:
        raise TypeError(f"{op}: {name} is {t.dtype} but the parameters are {dtype}")


def _check_state(op: str, name: str, t: Any, expected: tuple[int, ...], dtype: np.dtype
                 ) -> None:
    _check_tensor(op, name, t, dtype)
    if t.shape != expected:
        raise ValueError(f"{op}: expected {name} of shape {expected}, got {t.shape}")


class RNNBase(Module):
    """Shared by RNN, LSTM and GRU: parameters, checks and the layer-by-layer loop."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        dtype = param_dtype(name, device, dtype)
        if proj_size:
            raise NotImplementedError(f"{name}(proj_size={proj_size}): LSTM projections are not "
                                      f"supported by nncore")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size}")
        if not isinstance(input_size, int) or input_size <= 0:
            raise ValueError(f"{name}: input_size must be a positive integer, got {input_size}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=3)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_names: list[list[str]] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [(f"weight_ih{sfx}", (gate_size, layer_in)),
                          (f"weight_hh{sfx}", (gate_size, hidden_size))]
                if bias:
                    shapes += [(f"bias_ih{sfx}", (gate_size,)), (f"bias_hh{sfx}", (gate_size,))]
                for pname, shape in shapes:
                    setattr(self, pname, empty_parameter(shape, dtype))
                self._flat_names.append([n for n, _ in shapes])
        # NOTE: PyTorch's attribute names for the same lists (some user code reads them).
        self._all_weights = self._flat_names
        self._flat_weights_names = [n for names in self._flat_names for n in names]
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list]:
        """The parameters per layer and direction: [[w_ih, w_hh, b_ih, b_hh], ...]."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op: PyTorch packs cuDNN's weights here; nncore reads them where they are."""

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _check_input(self, input: Any, hx: Any) -> tuple[Tensor, Any, bool]:
        """(input as (T, N, I), hx, batched) after checking shapes and dtypes."""
        op = _OPS[self.mode]
        dtype = self.weight_ih_l0.dtype
        _check_tensor(op, "input", input, dtype)
        if input.ndim not in (2, 3):
            raise ValueError(f"{op}: expected input of 2 (L, H_in) or 3 dimensions (batched), "
                             f"got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{op}: input has {input.shape[-1]} features but input_size is "
                             f"{self.input_size} (input shape {input.shape})")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        if 0 in input.shape[:2]:
            raise ValueError(f"{op}: empty input of shape {input.shape}")
        if hx is None:
            return input, None, batched
        dirs = 2 if self.bidirectional else 1
        expected = (self.num_layers * dirs, input.shape[1], self.hidden_size)
        states = hx if self.mode == "LSTM" else (hx,)
        if self.mode == "LSTM" and (not isinstance(hx, tuple) or len(hx) != 2):
            raise TypeError(f"{op}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        out = []
        for sname, s in zip(("h_0", "c_0"), states):
            _check_tensor(op, sname, s, dtype)
            if not batched:
                if s.ndim != 2:
                    raise ValueError(f"{op}: for unbatched input expected {sname} of shape "
                                     f"{expected[::2]}, got {s.shape}")
                s = s.unsqueeze(1)
            _check_state(op, sname, s, expected, dtype)
            out.append(s)
        return input, (tuple(out) if self.mode == "LSTM" else out[0]), batched

    def forward(self, input: Tensor, hx: State | None = None) -> tuple[Tensor, State]:
        """Run the stacked (and possibly bidirectional) layers over a whole sequence.

        Args:
            input: (L, N, H_in), or (N, L, H_in) with batch_first, or unbatched (L, H_in).
            hx: initial hidden state (num_layers * num_directions, N, H) (LSTM: a tuple
                (h_0, c_0)); zeros when None.
        Returns:
            (output, h_n) (LSTM: (output, (h_n, c_n))); output is (L, N, D * H) (batch_first:
            (N, L, D * H)), h_n and c_n (num_layers * D, N, H); unbatched inputs drop N.
        """
        x, hx, batched = self._check_input(input, hx)
        dirs = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, True)
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                weights = [getattr(self, n) for n in self._flat_names[k]]
                state = None
                if hx is not None:
                    state = (hx[0][k], hx[1][k]) if self.mode == "LSTM" else (hx[k],)
                y, h, c = rnn_layer(self.mode, x, weights, state, reverse=d == 1)
                outs.append(y)
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            x = outs[0] if dirs == 1 else cat(outs, dim=2)
        h_out = stack(h_n, 0)
        c_out = stack(c_n, 0) if c_n else None
        if not batched:
            x, h_out = x.squeeze(1), h_out.squeeze(1)
            c_out = c_out.squeeze(1) if c_out is not None else None
        elif self.batch_first:
            x = x.transpose(0, 1)
        return (x, (h_out, c_out)) if self.mode == "LSTM" else (x, h_out)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu.

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked layers.
        nonlinearity: 'tanh' or 'relu'.
        bias: learn b_ih and b_hh.
        batch_first: input and output are (N, L, features).
        dropout: dropout on the outputs of each layer but the last (training only).
        bidirectional: also run each layer backwards in time and concatenate.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input (L, N, H_in) -> output (L, N, D * H), h_n (num_layers * D, N, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o from x_t and h_{t-1}; c_t = f c_{t-1} + i g,
    h_t = o tanh(c_t).

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked layers.
        bias: learn b_ih and b_hh.
        batch_first: input and output are (N, L, features).
        dropout: dropout on the outputs of each layer but the last (training only).
        bidirectional: also run each layer backwards in time and concatenate.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input (L, N, H_in), (h_0, c_0) each (num_layers * D, N, H) -> output (L, N, D * H),
        (h_n, c_n) each (num_layers * D, N, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit: r, z gates; n = tanh(W_in x + b_in + r (W_hn h + b_hn));
    h_t = (1 - z) n + z h_{t-1}.

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked layers.
        bias: learn b_ih and b_hh.
        batch_first: input and output are (N, L, features).
        dropout: dropout on the outputs of each layer but the last (training only).
        bidirectional: also run each layer backwards in time and concatenate.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        input (L, N, H_in), h_0 (num_layers * D, N, H) -> output (L, N, D * H),
        h_n (num_layers * D, N, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


# ---- cells: one step, the same kernels with T = 1 ---------------------------------------------


class RNNCellBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool,
                 device: Any, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        dtype = param_dtype(name, device, dtype)
        if not isinstance(input_size, int) or input_size <= 0 or not isinstance(
                hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: input_size and hidden_size must be positive integers, "
                             f"got {input_size} and {hidden_size}")
        self.mode, self.input_size, self.hidden_size, self.bias = (mode, input_size,
                                                                   hidden_size, bias)
        g = _GATES[mode] * hidden_size
        self.weight_ih = empty_parameter((g, input_size), dtype)
        self.weight_hh = empty_parameter((g, hidden_size), dtype)
        if bias:
            self.bias_ih = empty_parameter((g,), dtype)
            self.bias_hh = empty_parameter((g,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _step(self, input: Tensor, hx: Any) -> tuple[Tensor, Tensor | None, bool]:
        op = _OPS[self.mode] + "_cell"
        dtype = self.weight_ih.dtype
        _check_tensor(op, "input", input, dtype)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{op}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {input.shape}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        n = x.shape[0]
        state = None
        if hx is not None:
            states = hx if self.mode == "LSTM" else (hx,)
            if self.mode == "LSTM" and (not isinstance(hx, tuple) or len(hx) != 2):
                raise TypeError(f"{op}: hx must be a tuple (h, c), got {type(hx).__name__}")
            fixed = []
            for sname, s in zip(("h", "c"), states):
                _check_tensor(op, sname, s, dtype)
                s = s if batched or s.ndim != 1 else s.unsqueeze(0)
                _check_state(op, sname, s, (n, self.hidden_size), dtype)
                fixed.append(s)
            state = tuple(fixed)
        weights = [self.weight_ih, self.weight_hh]
        if self.bias:
            weights += [self.bias_ih, self.bias_hh]
        h, c = rnn_cell(self.mode, x, weights, state)
        return (h, c, True) if batched else (h.squeeze(0), None if c is None else c.squeeze(0),
                                             False)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Args:
        input_size, hidden_size, bias, device, dtype: as :class:`RNN`.
        nonlinearity: ``'tanh'`` or ``'relu'``.
    Shape:
        input (N, H_in) or (H_in,), hx (N, H) or (H,) -> h' (N, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step.

    Args:
        input_size, hidden_size, bias, device, dtype: as :class:`LSTM`.
    Shape:
        input (N, H_in), hx (h, c) each (N, H) -> (h', c') each (N, H) (or unbatched).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        h, c, _ = self._step(input, hx)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step.

    Args:
        input_size, hidden_size, bias, device, dtype: as :class:`GRU`.
    Shape:
        input (N, H_in), hx (N, H) -> h' (N, H) (or unbatched).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)[0]
