"""Converters for RNN, LSTM and GRU: one ONNX RNN/LSTM/GRU node per layer (both directions in
one node), written against PyTorch's attributes (weight_ih_l{k}[_reverse], ...).

ONNX orders gates differently: LSTM i,o,f,c where PyTorch has i,f,g,o; GRU z,r,h where PyTorch
has r,z,n, with linear_before_reset=1 for PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nncore.onnx.graph import Call, Graph
from nncore.onnx.layers import arg

# Position of each ONNX gate block in PyTorch's packed weights.
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _reorder(w: np.ndarray, kind: str) -> np.ndarray:
    blocks = np.split(w, len(_GATE_ORDER[kind]), axis=0)
    return np.concatenate([blocks[i] for i in _GATE_ORDER[kind]], axis=0)


def _layer_weights(m: Any, layer: int, dirs: int, kind: str) -> tuple[np.ndarray, ...]:
    """W [dirs, G*H, in], R [dirs, G*H, H], B [dirs, 2*G*H] in ONNX's gate order."""
    ws, rs, bs = [], [], []
    for d in range(dirs):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        w_ih = getattr(m, "weight_ih" + sfx)._array
        w_hh = getattr(m, "weight_hh" + sfx)._array
        if m.bias:
            b_ih, b_hh = getattr(m, "bias_ih" + sfx)._array, getattr(m, "bias_hh" + sfx)._array
        else:
            b_ih = b_hh = np.zeros(w_ih.shape[0], dtype=w_ih.dtype)
        ws.append(_reorder(w_ih, kind))
        rs.append(_reorder(w_hh, kind))
        bs.append(np.concatenate([_reorder(b_ih, kind), _reorder(b_hh, kind)]))
    return np.stack(ws), np.stack(rs), np.stack(bs)


def _recurrent(kind: str) -> Callable[[Graph, Call], Any]:
    def convert(g: Graph, c: Call) -> Any:
        m = c.op
        name = type(m).__name__
        if getattr(m, "proj_size", 0):
            raise NotImplementedError(f"onnx.export: {name} with proj_size > 0 is not supported")
        inp = arg(c, 0, "input")
        hx = arg(c, 1, "hx")
        dirs = 2 if m.bidirectional else 1
        hidden = int(m.hidden_size)
        prefix = g.module_name(m)
        unbatched = inp.ndim == 2
        # ONNX wants (seq, batch, features)
        x = g.value(inp)
        if unbatched:
            x = g.op("Unsqueeze", [x, g.ints([1])])
        elif m.batch_first:
            x = g.transpose(x, (1, 0, 2))
        states: list[str | None] = [None, None]
        if hx is not None:
            given = hx if kind == "LSTM" else (hx,)
            for i, h in enumerate(given):
                states[i] = g.value(h)
                if unbatched:
                    states[i] = g.op("Unsqueeze", [states[i], g.ints([1])])
        attrs: dict[str, Any] = {"hidden_size": hidden,
                                 "direction": "bidirectional" if dirs == 2 else "forward"}
        if kind == "GRU":
            attrs["linear_before_reset"] = 1
        if kind == "RNN":
            act = {"tanh": "Tanh", "relu": "Relu"}[m.nonlinearity]
            attrs["activations"] = [act] * dirs
        h_n, c_n = [], []
        for layer in range(int(m.num_layers)):
            w, r, b = _layer_weights(m, layer, dirs, kind)
            inputs = [x, g.const(w, f"{prefix}.W_l{layer}"), g.const(r, f"{prefix}.R_l{layer}"),
                      g.const(b, f"{prefix}.B_l{layer}"), ""]
            for s in states:
                if s is not None:
                    s = g.op("Slice", [s, g.ints([layer * dirs]), g.ints([(layer + 1) * dirs]),
                                       g.ints([0])])
                inputs.append("" if s is None else s)
            outs = g.op(kind, inputs, n_out=3 if kind == "LSTM" else 2, **attrs)
            # Y (seq, dirs, batch, H) -> (seq, batch, dirs * H), the next layer's input
            x = g.op("Reshape", [g.transpose(outs[0], (0, 2, 1, 3)), g.ints([0, 0, -1])])
            h_n.append(outs[1])
            if kind == "LSTM":
                c_n.append(outs[2])
        if unbatched:
            x = g.op("Squeeze", [x, g.ints([1])])
        elif m.batch_first:
            x = g.transpose(x, (1, 0, 2))

        def final(parts: list[str]) -> str:
            y = parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0)
            return g.op("Squeeze", [y, g.ints([1])]) if unbatched else y

        if kind == "LSTM":
            return x, (final(h_n), final(c_n))
        return x, final(h_n)
    return convert


RECURRENT_CONVERTERS: dict[str, Callable[[Graph, Call], Any]] = {
    "RNN": _recurrent("RNN"),
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
}
