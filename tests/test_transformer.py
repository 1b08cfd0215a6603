"""MultiheadAttention, the Transformer layers, TransformerEncoder and PositionalEncoding against
torch.nn with copied weights: outputs and every gradient, with masks, odd lengths and layouts;
bad input raises ValueError naming the layer."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore import nn

torch = pytest.importorskip("torch")


def _copy_weights(ours: nn.Module, theirs: torch.nn.Module) -> None:
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()})


def _randomise(module: nn.Module, rng: np.random.Generator) -> None:
    # NOTE: zero-initialised biases would hide a missing bias gradient path.
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.3


def _close(a: np.ndarray, b: np.ndarray, what: str, tol: float = 2e-5) -> None:
    scale = max(float(np.max(np.abs(b))) if b.size else 1.0, 1.0)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


def _compare(ours: nn.Module, theirs: torch.nn.Module, inputs: list[np.ndarray], seed: int,
             call_ours=None, call_theirs=None) -> None:
    """Forward the same inputs, backward the same random weights, compare the output, every
    input gradient and every parameter gradient."""
    ours_in = [nc.tensor(x, requires_grad=True) for x in inputs]
    theirs_in = [torch.tensor(x, requires_grad=True) for x in inputs]
    out = call_ours(*ours_in) if call_ours else ours(*ours_in)
    ref = call_theirs(*theirs_in) if call_theirs else theirs(*theirs_in)
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    ref.backward(torch.from_numpy(g))
    _close(out.detach().numpy(), ref.detach().numpy(), f"output (seed {seed})")
    for i, (a, b) in enumerate(zip(ours_in, theirs_in)):
        _close(a.grad.numpy(), b.grad.numpy(), f"input {i} gradient (seed {seed})")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad.numpy(), theirs_params[name].grad.numpy(), f"{name} gradient (seed {seed})")


def _mha_pair(e, h, rng, **kw):
    ours, theirs = nn.MultiheadAttention(e, h, **kw), torch.nn.MultiheadAttention(e, h, **kw)
    _randomise(ours, rng)
    _copy_weights(ours, theirs)
    return ours, theirs


def _masks(kind: str, n: int, h: int, lq: int, s: int, rng: np.random.Generator):
    """(attn_mask, key_padding_mask) as NumPy arrays: True hides a key; no row fully hidden."""
    if kind == "none":
        return None, None
    if kind == "bool":
        m = rng.random((lq, s)) < 0.3
        m[:, 0] = False
        return m, None
    if kind == "float":
        return rng.standard_normal((lq, s)).astype(np.float32), None
    if kind == "3d":
        m = rng.random((n * h, lq, s)) < 0.3
        m[..., 0] = False
        return m, None
    if kind == "padding":
        kp = np.zeros((n, s), bool)
        kp[0, s - 1:] = s > 1
        return None, kp
    if kind == "both":
        m = rng.random((lq, s)) < 0.3
        m[:, 0] = False
        kp = np.zeros((n, s), bool)
        kp[-1, s - 1:] = s > 1
        return m, kp
    raise AssertionError(kind)


def _t(m):
    return None if m is None else torch.from_numpy(m)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "3d", "padding", "both"])
def test_self_attention_vs_torch(batch_first, need_weights, masks) -> None:
    rng, seed = fresh_rng()
    n, lq, e, h = 3, 5, 12, 3
    ours, theirs = _mha_pair(e, h, rng, batch_first=batch_first)
    attn_mask, kpm = _masks(masks, n, h, lq, lq, rng)
    x = rng.standard_normal((n, lq, e) if batch_first else (lq, n, e)).astype(np.float32)
    weights = {}

    def call_ours(t):
        out, w = ours(t, t, t, key_padding_mask=kpm, need_weights=need_weights,
                      attn_mask=attn_mask)
        weights["ours"] = w
        return out

    def call_theirs(t):
        out, w = theirs(t, t, t, key_padding_mask=_t(kpm), need_weights=need_weights,
                        attn_mask=_t(attn_mask))
        weights["theirs"] = w
        return out

    _compare(ours, theirs, [x], seed, call_ours, call_theirs)
    if need_weights:
        _close(weights["ours"].detach().numpy(), weights["theirs"].detach().numpy(), "weights")
    else:
        assert weights["ours"] is None


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize(("n", "lq", "s"), [(2, 4, 7), (1, 1, 1), (1, 3, 1), (2, 1, 5)])
def test_cross_attention_kdim_vdim_vs_torch(batch_first, need_weights, n, lq, s) -> None:
    rng, seed = fresh_rng()
    e, h = 8, 2
    ours, theirs = _mha_pair(e, h, rng, kdim=5, vdim=3, batch_first=batch_first)
    shape = (lambda length, f: (n, length, f)) if batch_first else (
        lambda length, f: (length, n, f))
    q = rng.standard_normal(shape(lq, e)).astype(np.float32)
    k = rng.standard_normal(shape(s, 5)).astype(np.float32)
    v = rng.standard_normal(shape(s, 3)).astype(np.float32)
    _compare(ours, theirs, [q, k, v], seed,
             lambda *a: ours(*a, need_weights=need_weights)[0],
             lambda *a: theirs(*a, need_weights=need_weights)[0])


@pytest.mark.parametrize("need_weights", [False, True])
def test_unbatched_and_same_dim_cross_attention(need_weights) -> None:
    rng, seed = fresh_rng()
    ours, theirs = _mha_pair(8, 4, rng, bias=False)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    kv = rng.standard_normal((5, 8)).astype(np.float32)
    kpm = np.array([False, False, True, False, False])
    _compare(ours, theirs, [q, kv], seed,
             lambda a, b: ours(a, b, b, key_padding_mask=kpm, need_weights=need_weights)[0],
             lambda a, b: theirs(a, b, b, key_padding_mask=torch.from_numpy(kpm),
                                 need_weights=need_weights)[0])


def test_is_causal_matches_an_explicit_causal_mask() -> None:
    rng, seed = fresh_rng()
    ours, theirs = _mha_pair(8, 2, rng, batch_first=True)
    x = rng.standard_normal((2, 6, 8)).astype(np.float32)
    causal = np.triu(np.ones((6, 6), bool), 1)
    _compare(ours, theirs, [x], seed,
             lambda t: ours(t, t, t, need_weights=False, is_causal=True)[0],
             lambda t: theirs(t, t, t, need_weights=False, attn_mask=torch.from_numpy(causal),
                              is_causal=True)[0])
    xn = nc.tensor(x)
    fused = ours(xn, xn, xn, need_weights=False, is_causal=True)[0].detach().numpy()
    unfused = ours(xn, xn, xn, need_weights=True, is_causal=True)[0].detach().numpy()
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-6)


def test_mha_initialisation_and_state_dict_layout() -> None:
    nc.manual_seed(0)
    m = nn.MultiheadAttention(64, 4)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                    "out_proj.bias"]
    bound = math.sqrt(6 / (64 + 192))
    w = m.in_proj_weight.detach().numpy()
    assert w.shape == (192, 64) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    cross = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert list(cross.state_dict()) == list(torch.nn.MultiheadAttention(
        8, 2, kdim=3, vdim=5, bias=False).state_dict())


def test_attention_dropout_only_in_training() -> None:
    nc.manual_seed(1)
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = nc.randn(2, 5, 8)
    a = m(x, x, x, need_weights=False)[0].detach().numpy()
    b = m(x, x, x, need_weights=False)[0].detach().numpy()
    assert not np.array_equal(a, b)
    m.eval()
    c = m(x, x, x, need_weights=False)[0].detach().numpy()
    d = m(x, x, x, need_weights=True)[0].detach().numpy()
    np.testing.assert_allclose(c, d, rtol=1e-5, atol=1e-6)


# ---- Transformer layers ------------------------------------------------------------------


def _layer_pair(cls_name, rng, **kw):
    ours = getattr(nn, cls_name)(**kw)
    theirs = getattr(torch.nn, cls_name)(**kw)
    _randomise(ours, rng)
    _copy_weights(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", ["none", "bool", "padding"])
def test_encoder_layer_vs_torch(batch_first, norm_first, activation, masks) -> None:
    rng, seed = fresh_rng()
    n, length, e = 2, 5, 16
    ours, theirs = _layer_pair("TransformerEncoderLayer", rng, d_model=e, nhead=4,
                               dim_feedforward=24, dropout=0.0, activation=activation,
                               batch_first=batch_first, norm_first=norm_first)
    attn_mask, kpm = _masks(masks, n, 4, length, length, rng)
    x = rng.standard_normal((n, length, e) if batch_first else (length, n, e)).astype(np.float32)
    _compare(ours, theirs, [x], seed,
             lambda t: ours(t, src_mask=attn_mask, src_key_padding_mask=kpm),
             lambda t: theirs(t, src_mask=_t(attn_mask), src_key_padding_mask=_t(kpm)))


@pytest.mark.parametrize(("n", "length"), [(1, 1), (1, 4), (3, 1)])
def test_encoder_layer_length_one_and_batch_one(n, length) -> None:
    rng, seed = fresh_rng()
    ours, theirs = _layer_pair("TransformerEncoderLayer", rng, d_model=8, nhead=2,
                               dim_feedforward=16, dropout=0.0, batch_first=True)
    x = rng.standard_normal((n, length, 8)).astype(np.float32)
    _compare(ours, theirs, [x], seed)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masks", [False, True])
def test_decoder_layer_vs_torch(batch_first, norm_first, masks) -> None:
    rng, seed = fresh_rng()
    n, t_len, s_len, e = 2, 4, 6, 12
    ours, theirs = _layer_pair("TransformerDecoderLayer", rng, d_model=e, nhead=3,
                               dim_feedforward=20, dropout=0.0, activation="gelu",
                               batch_first=batch_first, norm_first=norm_first)
    shape = (lambda length: (n, length, e)) if batch_first else (lambda length: (length, n, e))
    tgt = rng.standard_normal(shape(t_len)).astype(np.float32)
    mem = rng.standard_normal(shape(s_len)).astype(np.float32)
    tgt_mask = np.triu(np.ones((t_len, t_len), bool), 1) if masks else None
    mem_kpm = None
    if masks:
        mem_kpm = np.zeros((n, s_len), bool)
        mem_kpm[1, -2:] = True
    _compare(ours, theirs, [tgt, mem], seed,
             lambda a, b: ours(a, b, tgt_mask=tgt_mask, memory_key_padding_mask=mem_kpm),
             lambda a, b: theirs(a, b, tgt_mask=_t(tgt_mask),
                                 memory_key_padding_mask=_t(mem_kpm)))


def test_transformer_encoder_with_final_norm_vs_torch() -> None:
    rng, seed = fresh_rng()
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    ours = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8))
    _randomise(ours, rng)
    theirs = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 3,
        norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    _copy_weights(ours, theirs)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    _compare(ours, theirs, [x], seed)


def test_transformer_encoder_copies_are_independent() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0], enc.layers[1]
    np.testing.assert_array_equal(a.linear1.weight, b.linear1.weight)
    a.linear1.weight.data[...] = 0
    assert b.linear1.weight.detach().numpy().any() and layer.linear1.weight.detach().numpy().any()
    assert copy.deepcopy(enc).layers[0].self_attn.num_heads == 2


def test_positional_encoding_formula_and_dropout() -> None:
    pe = nn.PositionalEncoding(6, dropout=0.0, max_len=10, batch_first=True)
    x = nc.zeros(2, 4, 6)
    y = pe(x).detach().numpy()
    pos, i = np.arange(4)[:, None], np.arange(3)[None, :]
    angle = pos / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(y[0, :, 0::2], np.sin(angle), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(y[1, :, 1::2], np.cos(angle), rtol=1e-6, atol=1e-7)
    seq = nn.PositionalEncoding(6, dropout=0.0, max_len=10)
    np.testing.assert_allclose(seq(nc.zeros(4, 2, 6)).detach().numpy()[:, 1], y[0], rtol=1e-6)
    assert "pe" not in pe.state_dict()
    with pytest.raises(ValueError, match="PositionalEncoding: expected input"):
        pe(nc.zeros(2, 11, 6))
    odd = nn.PositionalEncoding(5, dropout=0.0, max_len=3)
    assert odd.pe.shape == (3, 5)


# ---- bad input ----------------------------------------------------------------------------


def test_bad_input_raises_value_error_naming_the_layer() -> None:
    with pytest.raises(ValueError, match="MultiheadAttention: embed_dim 10 is not divisible by "
                                         "num_heads 3"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="MultiheadAttention: embed_dim 10 is not divisible"):
        nn.TransformerEncoderLayer(10, 3)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = nc.zeros(2, 5, 8)
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected query with 8 features "
                                         r"in the last dim, got shape \(2, 5, 6\)"):
        m(nc.zeros(2, 5, 6), x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention: attn_mask of shape \(4, 5\) does "
                                         r"not match \(L, S\) = \(5, 5\)"):
        m(x, x, x, attn_mask=np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask of shape \(2, 4\)"
                                         r" does not match \(N, S\) = \(2, 5\)"):
        m(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="MultiheadAttention: batch sizes differ"):
        m(x, nc.zeros(3, 5, 8), nc.zeros(3, 5, 8))
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(ValueError, match="MultiheadAttention: expected query with 8 features"):
        layer(nc.zeros(2, 5, 7))
    with pytest.raises(RuntimeError, match="TransformerEncoderLayer: activation should be "
                                           "relu/gelu, not swish"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
