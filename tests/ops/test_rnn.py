"""The rnn family (rnn, lstm, gru over a whole sequence): NumPy references, finite differences
through the real backward, PyTorch's own recurrent kernels as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, torch
from nncore.ops.rnn import GRUFn, LSTMFn, RNNFn

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _inputs(cell: str, t: int, n: int, i: int, h: int, bias: bool = True, state: bool = True):
    g = GATES[cell] * h

    def make(rng: np.random.Generator) -> list[np.ndarray]:
        arrays = [rng.standard_normal((t, n, i)), rng.uniform(-0.6, 0.6, (g, i)),
                  rng.uniform(-0.6, 0.6, (g, h))]
        if bias:
            arrays += [rng.uniform(-0.5, 0.5, g), rng.uniform(-0.5, 0.5, g)]
        if state:
            arrays += [rng.standard_normal((n, h)) for _ in range(2 if cell == "lstm" else 1)]
        return arrays

    return make


def _unpack(cell: str, arrays: tuple, bias: bool) -> tuple:
    """(x, w_ih, w_hh, b_ih, b_hh, h0, c0) with zeros/None for what was not given."""
    x, w_ih, w_hh, *rest = arrays
    b_ih, b_hh = (rest.pop(0), rest.pop(0)) if bias else (None, None)
    h = w_hh.shape[1]
    zeros = np.zeros((x.shape[1], h))
    h0 = rest[0] if rest else zeros
    c0 = rest[1] if len(rest) > 1 else zeros
    return x, w_ih, w_hh, b_ih, b_hh, h0, c0


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def reference(cell: str, bias: bool = True):
    """NumPy forward of one layer: y (T, N, H), and for the LSTM c_n appended as row T."""

    def ref(*arrays: np.ndarray, reverse: bool = False, relu: bool = False) -> np.ndarray:
        x, w_ih, w_hh, b_ih, b_hh, h, c = _unpack(cell, arrays, bias)
        b_ih = 0 if b_ih is None else b_ih
        b_hh = 0 if b_hh is None else b_hh
        steps = x.shape[0]
        ys = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            gx, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
            if cell == "rnn":
                a = gx + gh
                h = np.maximum(a, 0) if relu else np.tanh(a)
            elif cell == "lstm":
                i, f, g, o = np.split(gx + gh, 4, axis=1)
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            else:
                xr, xz, xn = np.split(gx, 3, axis=1)
                hr, hz, hn = np.split(gh, 3, axis=1)
                r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
                n = np.tanh(xn + r * hn)
                h = (1 - z) * n + z * h
            ys[t] = h
        return np.stack(ys + ([c] if cell == "lstm" else []))

    return ref


def native(cell: str, bias: bool = True, state: bool = True):
    fn = {"rnn": RNNFn, "lstm": LSTMFn, "gru": GRUFn}[cell]

    def run(*tensors: nc.Tensor, reverse: bool = False, relu: bool = False) -> nc.Tensor:
        extra = {"relu": relu} if cell == "rnn" else {}
        return fn.apply(*tensors, bias=bias, has_state=state, reverse=reverse, **extra)

    return run


def oracle(cell: str, bias: bool = True):
    """PyTorch's own fused recurrent op over the same packed weights."""

    def run(*tensors, reverse: bool = False, relu: bool = False):
        x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _unpack(cell, tensors, bias)
        if isinstance(h0, np.ndarray):
            h0 = torch.from_numpy(h0.astype(np.float32))
        if isinstance(c0, np.ndarray):
            c0 = torch.from_numpy(c0.astype(np.float32))
        params = [w_ih, w_hh] + ([b_ih, b_hh] if bias else [])
        xs = x.flip(0) if reverse else x
        args = (params, bias, 1, 0.0, False, False, False)
        if cell == "lstm":
            y, _, c_n = torch.lstm(xs, (h0[None], c0[None]), *args)
        elif cell == "gru":
            y, _ = torch.gru(xs, h0[None], *args)
        else:
            y, _ = (torch.rnn_relu if relu else torch.rnn_tanh)(xs, h0[None], *args)
        y = y.flip(0) if reverse else y
        return torch.cat([y, c_n], 0) if cell == "lstm" else y

    return run


def _spec(cell: str, t: int, n: int, i: int, h: int, bias: bool = True, state: bool = True,
          **kwargs) -> OpSpec:
    tag = "-".join([cell, f"T{t}N{n}I{i}H{h}"] + (["nobias"] if not bias else [])
                   + (["nostate"] if not state else []) + [k for k, v in kwargs.items() if v])
    return OpSpec(cell, native(cell, bias, state), _inputs(cell, t, n, i, h, bias, state),
                  reference(cell, bias), oracle(cell, bias) if torch else None, kwargs=kwargs,
                  torch_rtol=1e-4, id=tag)


SPECS = [
    _spec("lstm", 3, 2, 5, 4),
    _spec("lstm", 4, 3, 2, 3, reverse=True),
    _spec("lstm", 1, 1, 1, 1, bias=False, state=False),
    _spec("lstm", 5, 1, 3, 2, state=False),
    # Whole and partial blocks of 16 hidden units, several row tiles (13 rows: 5 + 4 + 4), and
    # the in-register transposes of the packing (I, H >= 16).
    _spec("lstm", 3, 13, 20, 37),
    _spec("lstm", 2, 7, 16, 32, reverse=True, state=False),
    _spec("gru", 3, 2, 5, 4),
    _spec("gru", 4, 3, 2, 3, reverse=True),
    _spec("gru", 1, 1, 1, 1, bias=False, state=False),
    _spec("gru", 2, 9, 17, 21, reverse=True),
    _spec("rnn", 3, 2, 5, 4),
    _spec("rnn", 4, 3, 2, 3, reverse=True, relu=True),
    _spec("rnn", 2, 1, 3, 17, state=False, relu=True),
    _spec("rnn", 1, 1, 1, 1, bias=False, state=False),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_native_boundary_errors() -> None:
    x = np.zeros((3, 2, 5), np.float32)
    w_ih, w_hh = np.zeros((16, 5), np.float32), np.zeros((16, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[lstm\] input has 6 features but weight_ih expects 5"):
        nc._C.lstm_forward(np.zeros((3, 2, 6), np.float32), None, None, w_ih, w_hh, None, None)
    with pytest.raises(ValueError, match=r"\[lstm\] h0: expected shape \(2, 4\), got \(3, 4\)"):
        nc._C.lstm_forward(x, np.zeros((3, 4), np.float32), None, w_ih, w_hh, None, None)
    with pytest.raises(ValueError, match=r"\[gru\] weight_ih: expected 2-D \(3\*hidden_size"):
        nc._C.gru_forward(x, None, w_ih, w_hh, None, None)
    with pytest.raises(ValueError, match=r"\[rnn\] input: expected 3-D"):
        nc._C.rnn_forward(x[0], None, w_ih, w_hh, None, None)
    with pytest.raises(TypeError, match=r"\[lstm\] weight_hh: expected float32, got float64"):
        nc._C.lstm_forward(x, None, None, w_ih, w_hh.astype(np.float64), None, None)
    with pytest.raises(ValueError, match=r"\[lstm\] bias_ih and bias_hh: give both or neither"):
        nc._C.lstm_forward(x, None, None, w_ih, w_hh, np.zeros(16, np.float32), None)
