"""RNN, LSTM, GRU, their cells and Embedding against torch.nn with copied weights: outputs, final
states and every gradient; long sequences; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from nncore import nn

torch = pytest.importorskip("torch")

RTOL = 2e-4


def _copy_weights(ours: nn.Module, theirs) -> None:
    state = {k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}
    assert set(state) == set(theirs.state_dict()), "parameter names differ from PyTorch's"
    for k, v in theirs.state_dict().items():
        assert tuple(v.shape) == tuple(state[k].shape), k
    theirs.load_state_dict(state)


def _close(actual, expected, what: str) -> None:
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    scale = max(float(np.max(np.abs(expected))), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def _states(mode: str, result):
    out, state = result
    return [out] + (list(state) if mode == "LSTM" else [state])


def _compare(mode: str, kwargs: dict, steps: int, batch: int, initial: bool,
             seed: int = 0) -> None:
    """Forward and backward of nncore's layer and torch's with the same weights and inputs; the
    loss weighs every output (output sequence, h_n and c_n) so all gradients flow."""
    nc.manual_seed(seed)
    ours = getattr(nn, mode)(**kwargs)
    theirs = getattr(torch.nn, mode)(**kwargs)
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(seed)
    feat = kwargs["input_size"]
    shape = (batch, steps, feat) if kwargs.get("batch_first") else (steps, batch, feat)
    x = rng.standard_normal(shape).astype(np.float32)
    dirs = 2 if kwargs.get("bidirectional") else 1
    hshape = (kwargs.get("num_layers", 1) * dirs, batch, kwargs["hidden_size"])
    h0 = [rng.standard_normal(hshape).astype(np.float32) for _ in range(2 if mode == "LSTM"
                                                                          else 1)]
    xn = nc.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    hn = [nc.tensor(h, requires_grad=True) for h in h0]
    ht = [torch.tensor(h, requires_grad=True) for h in h0]
    if initial:
        hx_n = tuple(hn) if mode == "LSTM" else hn[0]
        hx_t = tuple(ht) if mode == "LSTM" else ht[0]
        res_n, res_t = ours(xn, hx_n), theirs(xt, hx_t)
    else:
        res_n, res_t = ours(xn), theirs(xt)
    outs_n, outs_t = _states(mode, res_n), _states(mode, res_t)
    loss_n, loss_t = 0, 0
    for k, (a, b) in enumerate(zip(outs_n, outs_t)):
        assert a.shape == tuple(b.shape), (k, a.shape, b.shape)
        _close(a.detach().numpy(), b, f"{mode} result {k}")
        w = rng.standard_normal(a.shape).astype(np.float32)
        loss_n = loss_n + (a * nc.tensor(w)).sum()
        loss_t = loss_t + (b * torch.from_numpy(w)).sum()
    loss_n.backward()
    loss_t.backward()
    _close(xn.grad.numpy(), xt.grad, f"{mode} input gradient")
    if initial:
        for a, b in zip(hn, ht):
            _close(a.grad.numpy(), b.grad, f"{mode} initial-state gradient")
    params_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad.numpy(), params_t[name].grad, f"{mode} gradient of {name}")


CASES = [
    ({"input_size": 5, "hidden_size": 7}, 6, 3, True),
    ({"input_size": 3, "hidden_size": 4, "num_layers": 2}, 5, 2, False),
    ({"input_size": 4, "hidden_size": 3, "bidirectional": True}, 4, 3, True),
    ({"input_size": 4, "hidden_size": 5, "num_layers": 2, "bidirectional": True,
      "batch_first": True}, 3, 2, True),
    ({"input_size": 1, "hidden_size": 17, "bias": False}, 1, 1, True),
    ({"input_size": 6, "hidden_size": 2, "batch_first": True}, 9, 1, False),
    # Per-step products over several row tiles and a partial column strip (tiled_mm.h), on
    # each thread's share of the batch.
    ({"input_size": 5, "hidden_size": 37}, 4, 29, True),
]


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize(("kwargs", "steps", "batch", "initial"), CASES)
def test_layer_matches_torch(mode: str, kwargs: dict, steps: int, batch: int,
                             initial: bool) -> None:
    _compare(mode, kwargs, steps, batch, initial)


def test_relu_rnn_matches_torch() -> None:
    _compare("RNN", {"input_size": 3, "hidden_size": 6, "nonlinearity": "relu",
                     "num_layers": 2}, 5, 4, True)


def test_float64_layer() -> None:
    nc.manual_seed(0)
    lstm = nn.LSTM(3, 4, dtype=np.float64)
    out, (h, c) = lstm(nc.randn(5, 2, 3, dtype=np.float64))
    assert out.dtype == h.dtype == c.dtype == np.float64


def test_unbatched_input_matches_batched() -> None:
    nc.manual_seed(1)
    gru = nn.GRU(3, 4, num_layers=2)
    x = nc.randn(5, 3)
    out, h = gru(x)
    out_b, h_b = gru(x.unsqueeze(1))
    assert out.shape == (5, 4) and h.shape == (2, 4)
    np.testing.assert_array_equal(out.detach().numpy(), out_b.detach().numpy()[:, 0])
    np.testing.assert_array_equal(h.detach().numpy(), h_b.detach().numpy()[:, 0])


def test_parameter_names_shapes_and_init() -> None:
    nc.manual_seed(0)
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    names = [n for n, _ in lstm.named_parameters()]
    assert names == [n for n, _ in torch.nn.LSTM(10, 20, num_layers=2,
                                                 bidirectional=True).named_parameters()]
    assert lstm.weight_ih_l1_reverse.shape == (80, 40)
    bound = 1 / np.sqrt(20)
    for _, p in lstm.named_parameters():
        assert p.dtype == np.float32
        assert np.abs(p.detach()).max() <= bound and np.abs(p.detach()).max() > 0.9 * bound
    assert "num_layers=2" in repr(lstm) and "bidirectional=True" in repr(lstm)


@pytest.mark.parametrize("mode", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_match_torch(mode: str) -> None:
    nc.manual_seed(2)
    ours, theirs = getattr(nn, mode)(5, 3), getattr(torch.nn, mode)(5, 3)
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    h = rng.standard_normal((4, 3)).astype(np.float32)
    c = rng.standard_normal((4, 3)).astype(np.float32)
    xn, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if mode == "LSTMCell":
        hn, cn = ours(xn, (nc.tensor(h), nc.tensor(c)))
        ht, ct = theirs(xt, (torch.tensor(h), torch.tensor(c)))
        _close(cn.detach().numpy(), ct, "cell state")
        (hn.sum() + (cn * 2).sum()).backward()
        (ht.sum() + (ct * 2).sum()).backward()
    else:
        hn, ht = ours(xn, nc.tensor(h)), theirs(xt, torch.tensor(h))
        hn.sum().backward()
        ht.sum().backward()
    _close(hn.detach().numpy(), ht, f"{mode} output")
    _close(xn.grad.numpy(), xt.grad, f"{mode} input gradient")
    params_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad.numpy(), params_t[name].grad, f"{mode} gradient of {name}")
    single = ours(xn[0])  # unbatched, zero state
    single = single if mode != "LSTMCell" else single[0]
    assert single.shape == (3,)
    np.testing.assert_allclose(single, ours(xn[:1])[0].detach().numpy()[0] if mode == "LSTMCell"
                               else ours(xn[:1]).detach().numpy()[0], rtol=1e-6)


def test_backward_through_1000_steps() -> None:
    nc.manual_seed(3)
    lstm = nn.LSTM(2, 3)
    x = nc.randn(1000, 1, 2, requires_grad=True)
    out, (h, c) = lstm(x)
    (h.sum() + c.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()[-1]).sum() > 0
    # Step by step through the cell: a graph thousands of nodes deep, no recursion limit.
    cell = nn.GRUCell(2, 3)
    state = nc.zeros(1, 3)
    for t in range(1000):
        state = cell(x[t], state)
    state.sum().backward()
    assert np.isfinite(cell.weight_hh.grad.numpy()).all()


def test_dropout_between_layers_only_in_training() -> None:
    nc.manual_seed(4)
    gru = nn.GRU(3, 8, num_layers=2, dropout=0.5)
    x = nc.randn(4, 2, 3)
    first, _ = gru(x)
    second, _ = gru(x)
    assert not np.array_equal(first.detach().numpy(), second.detach().numpy())
    gru.eval()
    a, _ = gru(x)
    b, _ = gru(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_embedding_matches_torch_and_loads_pretrained() -> None:
    nc.manual_seed(5)
    emb = nn.Embedding(10, 4, padding_idx=0)
    assert np.all(emb.weight.detach().numpy()[0] == 0)
    theirs = torch.nn.Embedding(10, 4, padding_idx=0)
    _copy_weights(emb, theirs)
    idx = np.array([[0, 3, 3], [9, 0, 1]])
    out = emb(nc.tensor(idx))
    ref = theirs(torch.from_numpy(idx))
    _close(out.detach().numpy(), ref, "embedding output")
    (out * 3).sum().backward()
    (ref * 3).sum().backward()
    _close(emb.weight.grad.numpy(), theirs.weight.grad, "embedding gradient")
    pre = nn.Embedding.from_pretrained(np.eye(3, dtype=np.float32))
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(pre(np.array([2])).detach().numpy(), [[0, 0, 1]])


def test_bad_input_raises_value_error_naming_the_op() -> None:
    lstm, gru, rnn = nn.LSTM(4, 3), nn.GRU(4, 3, num_layers=2), nn.RNN(4, 3)
    with pytest.raises(ValueError, match=r"lstm: input has 5 features but input_size is 4"):
        lstm(nc.randn(2, 1, 5))
    with pytest.raises(ValueError, match=r"gru: expected h_0 of shape \(2, 1, 3\), got "
                                         r"\(1, 1, 3\)"):
        gru(nc.randn(2, 1, 4), nc.zeros(1, 1, 3))
    with pytest.raises(ValueError, match=r"lstm: expected c_0 of shape \(1, 2, 3\)"):
        lstm(nc.randn(5, 2, 4), (nc.zeros(1, 2, 3), nc.zeros(1, 3, 3)))
    with pytest.raises(TypeError, match=r"lstm: hx must be a tuple \(h_0, c_0\)"):
        lstm(nc.randn(5, 2, 4), nc.zeros(1, 2, 3))
    with pytest.raises(ValueError, match=r"rnn: expected input of 2 \(L, H_in\) or 3 dim"):
        rnn(nc.randn(1, 5, 2, 4))
    with pytest.raises(TypeError, match=r"rnn: input is float64 but the parameters are float32"):
        rnn(nc.randn(5, 2, 4, dtype=np.float64))
    with pytest.raises(ValueError, match=r"gru_cell: expected input of shape \(N, 4\)"):
        nn.GRUCell(4, 3)(nc.randn(2, 5))
    with pytest.raises(ValueError, match="embedding: index 12 is out of range for "
                                         "num_embeddings=10"):
        nn.Embedding(10, 2)(np.array([[1, 12]]))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(2, 3, nonlinearity="gelu")


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_bit_identical_reruns_for_a_thread_count(mode: str) -> None:
    threads = nc.get_num_threads()
    try:
        nc.set_num_threads(2)
        nc.manual_seed(6)
        layer = getattr(nn, mode)(16, 64, bidirectional=True)
        x = nc.randn(20, 8, 16)
        runs = []
        for _ in range(2):
            layer.zero_grad()
            out = layer(x)[0]
            (out * out).sum().backward()
            runs.append([out.detach().numpy()] + [p.grad.numpy() for p in layer.parameters()])
    finally:
        nc.set_num_threads(threads)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
