"""The everyday layers and helpers against PyTorch: activations (functional and module, forward,
backward, finite differences, reprs), dropouts, Bilinear, Flatten/Unflatten, RMSNorm, the
Transformer family with PyTorch's weights loaded, recurrent-layer extras, Embedding options,
factory kwargs, ``nn.utils`` and ``nn.init``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nncore as nc
from harness import OpSpec, check_op, fresh_rng
from nncore import nn
from nncore.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _away_from(kinks: tuple[float, ...], scale: float = 3.0):
    """Inputs N(0, scale^2), pushed at least 0.05 away from each kink (finite differences
    across a kink measure nothing)."""
    def make(rng):
        x = rng.standard_normal((3, 17)) * scale
        for k in kinks:
            near = np.abs(x - k) < 0.05
            x[near] = k + np.where(x[near] >= k, 0.05, -0.05)
        return [x]
    return make


def _sig(x):
    return 1 / (1 + np.exp(-x))


SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# (name, nncore fn, torch fn, kwargs, NumPy reference, kinks)
ACTIVATIONS = [
    ("silu", F.silu, TF.silu, {}, lambda x: x * _sig(x), ()),
    ("mish", F.mish, TF.mish, {}, lambda x: x * np.tanh(np.log1p(np.exp(x))), ()),
    ("elu", F.elu, TF.elu, {"alpha": 0.7}, lambda x, alpha: np.where(
        x > 0, x, alpha * (np.exp(x) - 1)), (0.0,)),
    ("selu", F.selu, TF.selu, {}, lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
     (0.0,)),
    ("celu", F.celu, TF.celu, {"alpha": 1.5}, lambda x, alpha: np.maximum(x, 0) + np.minimum(
        0, alpha * (np.exp(x / alpha) - 1)), (0.0,)),
    ("softplus", F.softplus, TF.softplus, {"beta": 2.0, "threshold": 5.0},
     lambda x, beta, threshold: np.where(x * beta > threshold, x,
                                         np.log1p(np.exp(beta * x)) / beta), (2.5,)),
    ("softsign", F.softsign, TF.softsign, {}, lambda x: x / (1 + np.abs(x)), ()),
    ("hardtanh", F.hardtanh, TF.hardtanh, {"min_val": -0.5, "max_val": 2.0},
     lambda x, min_val, max_val: np.clip(x, min_val, max_val), (-0.5, 2.0)),
    ("relu6", F.relu6, TF.relu6, {}, lambda x: np.clip(x, 0, 6), (0.0, 6.0)),
    ("hardswish", F.hardswish, TF.hardswish, {}, lambda x: x * np.clip(x + 3, 0, 6) / 6,
     (-3.0, 3.0)),
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid, {}, lambda x: np.clip(x + 3, 0, 6) / 6,
     (-3.0, 3.0)),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid, {}, lambda x: np.log(_sig(x)), ()),
    ("tanhshrink", F.tanhshrink, TF.tanhshrink, {}, lambda x: x - np.tanh(x), ()),
    ("threshold", F.threshold, TF.threshold, {"threshold": 0.3, "value": -2.0},
     lambda x, threshold, value: np.where(x > threshold, x, value), (0.3,)),
    ("hardshrink", F.hardshrink, TF.hardshrink, {"lambd": 0.7},
     lambda x, lambd: np.where(np.abs(x) > lambd, x, 0), (-0.7, 0.7)),
    ("softshrink", F.softshrink, TF.softshrink, {"lambd": 0.4},
     lambda x, lambd: np.sign(x) * np.maximum(np.abs(x) - lambd, 0), (-0.4, 0.4)),
    ("softmin", F.softmin, TF.softmin, {"dim": 1},
     lambda x, dim: np.exp(-x) / np.exp(-x).sum(dim, keepdims=True), ()),
    ("glu", F.glu, TF.glu, {"dim": 0}, None, ()),
]


@pytest.mark.parametrize(("name", "fn", "tfn", "kwargs", "ref", "kinks"), ACTIVATIONS,
                         ids=[a[0] for a in ACTIVATIONS])
def test_activation_triangle(name, fn, tfn, kwargs, ref, kinks) -> None:
    make = _away_from(kinks)
    if name == "glu":
        make = lambda rng: [rng.standard_normal((4, 5, 3))]  # noqa: E731
    check_op(OpSpec(name, fn, make, reference=ref, torch_fn=tfn, kwargs=kwargs))


@pytest.mark.parametrize("x", [[-3.0, 3.0, 0.0, 6.0, -1.0, 1.0, 0.3, -0.7, 0.7, 2.0, -0.5]])
def test_activation_gradients_at_kinks_match_torch(x) -> None:
    for name, fn, tfn, kwargs, _, _ in ACTIVATIONS:
        if name in ("softmin", "glu"):
            continue
        a = nc.tensor(np.array(x, np.float32), requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        fn(a, **kwargs).sum().backward()
        tfn(t, **kwargs).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_prelu_and_rrelu_match_torch() -> None:
    rng, seed = fresh_rng()
    for shape, channels in [((4, 3, 5), 3), ((4, 3, 5), 1), ((7,), 1), ((2, 6), 6)]:
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        ours, theirs = nn.PReLU(channels, init=0.1), torch.nn.PReLU(channels, init=0.1)
        assert repr(ours) == repr(theirs)
        theirs.weight.data = torch.from_numpy(rng.random(channels).astype(np.float32))
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        a, t = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours(a).backward(g)
        theirs(t).backward(torch.from_numpy(g))
        for got, want in [(a.grad, t.grad), (ours.weight.grad, theirs.weight.grad)]:
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"{shape} seed {seed}")
    with pytest.raises(RuntimeError, match="Found parameter numbers = 3 and channel size = 4"):
        nn.PReLU(3)(nc.zeros(2, 4))
    x = rng.standard_normal((5, 6)).astype(np.float32)
    rr = nn.RReLU(0.1, 0.3).eval()
    np.testing.assert_allclose(rr(nc.tensor(x)).numpy(),
                               torch.nn.RReLU(0.1, 0.3).eval()(torch.tensor(x)).numpy(),
                               rtol=1e-6)
    rr.train()
    nc.manual_seed(3)
    a = nc.tensor(x, requires_grad=True)
    y = rr(a)
    y.sum().backward()
    slopes = np.where(x < 0, y.detach().numpy() / x, 1)
    assert np.all((slopes[x < 0] >= 0.1) & (slopes[x < 0] <= 0.3))
    np.testing.assert_allclose(a.grad.numpy(), slopes, rtol=1e-6)
    nc.manual_seed(3)
    np.testing.assert_array_equal(rr(nc.tensor(x)).numpy(), y.detach().numpy())


ACTIVATION_MODULES = [
    ("Threshold", (0.1, 20.0), {}), ("Threshold", (0.1, 2.0, True), {}), ("RReLU", (), {}),
    ("Hardtanh", (), {}), ("Hardtanh", (-2.0, 0.5), {"inplace": True}), ("ReLU6", (), {}),
    ("ReLU6", (True,), {}), ("Hardsigmoid", (True,), {}), ("SiLU", (True,), {}), ("Mish", (), {}),
    ("Hardswish", (True,), {}), ("ELU", (), {}), ("CELU", (2.0, True), {}), ("SELU", (True,), {}),
    ("GLU", (), {}), ("GLU", (1,), {}), ("Hardshrink", (), {}), ("LogSigmoid", (), {}),
    ("Softplus", (), {"beta": 0.5}), ("Softshrink", (0.3,), {}), ("PReLU", (4,), {}),
    ("Softsign", (), {}), ("Tanhshrink", (), {}), ("Softmin", (1,), {}), ("Softmax2d", (), {}),
    ("LeakyReLU", (0.2, True), {}), ("ReLU", (True,), {}), ("GELU", ("tanh",), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ACTIVATION_MODULES,
                         ids=[f"{n}{a}{k}" for n, a, k in ACTIVATION_MODULES])
def test_activation_modules_match_torch(name, args, kwargs) -> None:
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    ours.eval()
    theirs.eval()
    if list(theirs.state_dict()):
        ours.load_state_dict(theirs.state_dict())
    rng, seed = fresh_rng()
    x = rng.standard_normal((3, 4, 6)).astype(np.float32) * 2
    xo, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo = ours(xo)
    # NOTE: torch's in-place layers cannot take a leaf that requires grad; clone first.
    yt = theirs(xt.clone() if (args[-1:] == (True,) or kwargs.get("inplace")) else xt)
    g = rng.standard_normal(yt.shape).astype(np.float32)
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5,
                               err_msg=f"{name} (seed {seed})")
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5,
                               err_msg=f"{name} grad (seed {seed})")


def test_activation_argument_errors_match_torch() -> None:
    cases = [
        (lambda lib, n, f: f.glu(lib.zeros(3, 5)), "RuntimeError",
         "Halving dimension must be even, but dimension 1 is size 5"),
        (lambda lib, n, f: n.Hardtanh(2.0, 1.0), "AssertionError",
         r"max_val \(1.0\) must be greater than min_val \(2.0\)"),
        (lambda lib, n, f: f.hardtanh(lib.zeros(2), 2.0, 1.0), "ValueError",
         "min_val cannot be greater than max_val"),
        (lambda lib, n, f: n.Softmax2d()(lib.zeros(3, 3)), "ValueError",
         "Softmax2d: expected input to be 3D or 4D, got 2D instead"),
        (lambda lib, n, f: f.celu(lib.zeros(2), 0.0), "RuntimeError", "alpha cannot be 0"),
        (lambda lib, n, f: f.rrelu(lib.zeros(2), 0.5, 0.1, True), "RuntimeError",
         "Lower bound should be less than or equal to the upper bound"),
        (lambda lib, n, f: f.feature_alpha_dropout(lib.zeros(3), 0.5, True), "RuntimeError",
         "Feature dropout requires at least 2 dimensions in the input"),
    ]
    for call, kind, match in cases:
        for lib, n, f in ((nc, nn, F), (torch, torch.nn, TF)):
            with pytest.raises(Exception, match=match) as info:
                call(lib, n, f)
            assert type(info.value).__name__ == kind


def test_in_place_functionals_follow_pytorch_rules() -> None:
    x = nc.tensor([-1.0, 2.0, -3.0])
    assert F.relu_(x) is x and x.tolist() == [0.0, 2.0, 0.0]
    y = nc.tensor([-1.0, 0.5], requires_grad=True)
    z = y * 1
    F.elu_(z, alpha=2.0)
    z.sum().backward()
    t = torch.tensor([-1.0, 0.5], requires_grad=True)
    zt = t * 1
    TF.elu_(zt, alpha=2.0)
    zt.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        F.hardtanh_(nc.zeros(2, requires_grad=True))


def test_softmax_family_dtype_and_implicit_dim() -> None:
    x = nc.randn(2, 3)
    assert F.softmax(x, dim=1, dtype=nc.float64).dtype == nc.float64
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        out = F.softmin(x)
    np.testing.assert_allclose(out.numpy(), TF.softmin(torch.tensor(x.numpy()), dim=1),
                               rtol=1e-6)


# ---- dropouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "shape", "lead"), [
    ("Dropout1d", (6, 5, 40), 2), ("Dropout1d", (5, 40), 1), ("Dropout3d", (3, 4, 5, 6, 7), 2),
    ("Dropout3d", (4, 5, 6, 7), 1)])
def test_channel_dropouts_zero_whole_channels(cls, shape, lead) -> None:
    nc.manual_seed(0)
    m = getattr(nn, cls)(0.4)
    assert repr(m) == repr(getattr(torch.nn, cls)(0.4))
    x = nc.tensor(np.random.default_rng(0).random(shape).astype(np.float32) + 1,
                  requires_grad=True)
    y = m(x)
    y.sum().backward()
    ratio = y.detach().numpy() / x.detach().numpy()
    per_channel = ratio.reshape(shape[:lead] + (-1,))
    assert np.allclose(per_channel, per_channel[..., :1])  # one draw per channel
    assert np.all(np.isclose(per_channel, 0) | np.isclose(per_channel, 1 / 0.6))
    np.testing.assert_allclose(x.grad.numpy(), ratio, rtol=1e-6)
    m.eval()
    assert m(x) is x
    with pytest.raises(ValueError, match=f"{cls.lower()}: expected"):
        m.train()(nc.zeros(3))


def test_alpha_dropout_keeps_moments_and_matches_torch_statistics() -> None:
    nc.manual_seed(1)
    x = nc.tensor(np.random.default_rng(1).standard_normal(200_000).astype(np.float32))
    for p in (0.2, 0.5):
        y = F.alpha_dropout(x, p, training=True).numpy()
        yt = TF.alpha_dropout(torch.tensor(x.numpy()), p, training=True).numpy()
        for stat in (np.mean, np.std):
            assert abs(stat(y) - stat(yt)) < 0.02, (p, stat.__name__)
        assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
        # exactly two affine maps: kept a x + b, dropped a constant
        assert len(np.unique(y[np.isclose(y, y.min())])) >= 1
    m = nn.AlphaDropout(0.3)
    assert repr(m) == repr(torch.nn.AlphaDropout(0.3))
    assert m.eval()(x) is x and F.alpha_dropout(x, 0.3) is x  # functional default: no training
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, True).numpy(), 0)
    fx = nc.tensor(np.random.default_rng(2).standard_normal((8, 6, 50)).astype(np.float32))
    fy = nn.FeatureAlphaDropout(0.5)(fx).numpy()
    a, b = np.polyfit(fx.numpy()[0, 0], fy[0, 0], 1)  # one affine map per channel
    np.testing.assert_allclose(fy[0, 0], a * fx.numpy()[0, 0] + b, rtol=1e-4, atol=1e-4)


# ---- linear family, reshape layers, RMSNorm -------------------------------------------------


@pytest.mark.parametrize(("lead", "bias"), [((5,), True), ((2, 3), False), ((1,), True)])
def test_bilinear_matches_torch(lead, bias) -> None:
    rng, seed = fresh_rng()
    theirs = torch.nn.Bilinear(3, 7, 4, bias=bias)
    ours = nn.Bilinear(3, 7, 4, bias=bias)
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x1 = rng.standard_normal(lead + (3,)).astype(np.float32)
    x2 = rng.standard_normal(lead + (7,)).astype(np.float32)
    a, b = nc.tensor(x1, requires_grad=True), nc.tensor(x2, requires_grad=True)
    ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    y, yt = ours(a, b), theirs(ta, tb)
    g = rng.standard_normal(yt.shape).astype(np.float32)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    pairs = [(y, yt), (a.grad, ta.grad), (b.grad, tb.grad), (ours.weight.grad, theirs.weight.grad)]
    if bias:
        pairs.append((ours.bias.grad, theirs.bias.grad))
    for got, want in pairs:
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=f"seed {seed}")
    with pytest.raises(ValueError, match=r"bilinear: input1 of shape \(2, 3\) and input2"):
        ours(nc.zeros(2, 3), nc.zeros(3, 7))


def test_bilinear_finite_differences() -> None:
    check_op(OpSpec("bilinear", F.bilinear, lambda rng: [
        rng.standard_normal((3, 2)), rng.standard_normal((3, 5)), rng.standard_normal((4, 2, 5)),
        rng.standard_normal(4)], torch_fn=TF.bilinear))


def test_identity_flatten_unflatten_match_torch() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for args in [(), (0,), (1, 2), (-3, -2), (2, -1)]:
        assert nn.Flatten(*args)(nc.tensor(x)).shape == torch.nn.Flatten(*args)(
            torch.tensor(x)).shape
    for dim, sizes in [(1, (3, 1)), (-1, (5, 1)), (2, (2, -1)), (0, [1, 2])]:
        ours, theirs = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
        assert repr(ours) == repr(theirs)
        assert ours(nc.tensor(x)).shape == theirs(torch.tensor(x)).shape
    for bad in [(1, (2, 2)), (1, (-1, -1))]:
        with pytest.raises(RuntimeError) as ours_err:
            nn.Unflatten(*bad)(nc.tensor(x))
        with pytest.raises(RuntimeError) as theirs_err:
            torch.nn.Unflatten(*bad)(torch.tensor(x))
        assert str(ours_err.value).split(":")[-1].strip() in str(theirs_err.value)
    with pytest.raises(TypeError, match="found element of type float at pos 0"):
        nn.Unflatten(1, (2.0, 3))
    i = nn.Identity(54, unused="x")
    t = nc.zeros(2)
    assert i(t) is t and repr(i) == "Identity()"


@pytest.mark.parametrize(("shape", "eps", "affine"), [
    ((4,), None, True), ((3, 4), 1e-3, False), (5, 1e-6, True)])
def test_rms_norm_matches_torch(shape, eps, affine) -> None:
    rng, seed = fresh_rng()
    ours = nn.RMSNorm(shape, eps=eps, elementwise_affine=affine)
    theirs = torch.nn.RMSNorm(shape, eps=eps, elementwise_affine=affine)
    assert repr(ours) == repr(theirs)
    if affine:
        theirs.weight.data = torch.from_numpy(rng.random(theirs.weight.shape).astype(np.float32))
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    tail = (shape,) if isinstance(shape, int) else shape
    x = rng.standard_normal((2, 3) + tail).astype(np.float32)
    a, t = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ours(a).backward(g)
    y = theirs(t)
    y.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours(a).detach().numpy(), y.detach().numpy(), rtol=1e-5,
                               atol=1e-6, err_msg=f"seed {seed}")
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    if affine:
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                                   rtol=1e-4, atol=1e-5)
    check_op(OpSpec("rms_norm", lambda x, w: F.rms_norm(x, (5,), w, 1e-5),
                    lambda rng: [rng.standard_normal((3, 5)), rng.standard_normal(5)],
                    torch_fn=lambda x, w: TF.rms_norm(x, (5,), w, 1e-5)))


# ---- Transformer family ---------------------------------------------------------------------


def _load_from_torch(ours, theirs) -> None:
    """PyTorch's state dict converted to NumPy loads without renaming."""
    theirs_sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs_sd)
    ours.load_state_dict(theirs_sd)


def _run_pair(ours, theirs, arrays, call_ours, call_theirs, params=()):
    ins_o = [nc.tensor(a, requires_grad=True) for a in arrays]
    ins_t = [torch.tensor(a, requires_grad=True) for a in arrays]
    yo, yt = call_ours(*ins_o), call_theirs(*ins_t)
    g = np.random.default_rng(7).standard_normal(tuple(yt.shape)).astype(np.float32)
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=2e-4, atol=2e-5)
    for a, b in zip(ins_o, ins_t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=2e-3, atol=2e-4)
    for name in params:
        np.testing.assert_allclose(ours.get_parameter(name).grad.numpy(),
                                   theirs.get_parameter(name).grad.numpy(), rtol=2e-3,
                                   atol=2e-4, err_msg=name)


@pytest.mark.parametrize(("batch_first", "norm_first", "activation"), [
    (False, False, "relu"), (True, True, "gelu"), (True, False, TF.gelu)])
def test_transformer_matches_torch(batch_first, norm_first, activation) -> None:
    nc.manual_seed(0)
    torch.manual_seed(0)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=12, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's nested-tensor fast-path notice
        theirs = torch.nn.Transformer(activation=activation, **kw).eval()
    ours_act = F.gelu if activation is TF.gelu else activation
    ours = nn.Transformer(activation=ours_act, **kw).eval()
    _load_from_torch(ours, theirs)
    rng = np.random.default_rng(1)
    s_len, t_len, n = 5, 3, 2
    src = rng.standard_normal((n, s_len, 8) if batch_first else (s_len, n, 8)).astype(np.float32)
    tgt = rng.standard_normal((n, t_len, 8) if batch_first else (t_len, n, 8)).astype(np.float32)
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(t_len)
    mask_o = nn.Transformer.generate_square_subsequent_mask(t_len)
    np.testing.assert_array_equal(mask_o.numpy(), mask_t.numpy())
    pad = np.zeros((n, s_len), bool)
    pad[1, -2:] = True
    _run_pair(ours, theirs, [src, tgt],
              lambda s, t: ours(s, t, tgt_mask=mask_o, src_key_padding_mask=pad,
                                memory_key_padding_mask=pad),
              lambda s, t: theirs(s, t, tgt_mask=mask_t, src_key_padding_mask=torch.from_numpy(
                  pad), memory_key_padding_mask=torch.from_numpy(pad)),
              params=["encoder.layers.0.self_attn.in_proj_weight", "decoder.norm.weight",
                      "decoder.layers.0.multihead_attn.out_proj.bias"])


def test_transformer_init_and_errors() -> None:
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                       dim_feedforward=16)
    w = m.encoder.layers[0].linear1.weight.numpy(force=True)
    bound = math.sqrt(6 / (16 + 8))  # every 2-D parameter re-initialised xavier-uniform
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert m.encoder.norm is not None and m.decoder.num_layers == 1
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(nc.zeros(5, 2, 8), nc.zeros(3, 3, 8))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal"):
        m(nc.zeros(5, 2, 8), nc.zeros(3, 2, 6))
    custom = nn.Transformer(d_model=8, nhead=2, custom_encoder=nn.Identity(),
                            num_decoder_layers=1, dim_feedforward=8)
    assert type(custom.encoder) is nn.Identity
    with pytest.raises(NotImplementedError, match="cuda"):
        nn.Transformer(d_model=8, nhead=2, device="cuda")


def test_encoder_detects_a_log_tril_causal_mask_like_torch() -> None:
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.TransformerEncoder(layer_t, 2, enable_nested_tensor=False).eval()
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                            batch_first=True), 2,
                                 enable_nested_tensor=False, mask_check=True).eval()
    _load_from_torch(ours, theirs)
    mask_t = torch.log(torch.tril(torch.ones(6, 6)))  # the float -inf mask scripts build
    mask_o = nc.tensor(mask_t.numpy())
    x = np.random.default_rng(2).standard_normal((3, 6, 8)).astype(np.float32)
    _run_pair(ours, theirs, [x], lambda a: ours(a, mask=mask_o), lambda a: theirs(a, mask=mask_t),
              params=["layers.1.linear2.weight"])
    from nncore.nn.transformer import _detect_is_causal_mask

    assert _detect_is_causal_mask(mask_o, None, 6) and not _detect_is_causal_mask(mask_o, None, 5)
    assert _detect_is_causal_mask(np.triu(np.ones((4, 4), bool), 1), None, 4)
    assert not _detect_is_causal_mask(np.zeros((4, 4)), None, 4)
    assert _detect_is_causal_mask(None, True, 4) and not _detect_is_causal_mask(mask_o, False, 6)


def test_decoder_stack_matches_torch_unbatched() -> None:
    layer_t = torch.nn.TransformerDecoderLayer(8, 4, 10, dropout=0.0, activation="gelu")
    theirs = torch.nn.TransformerDecoder(layer_t, 2, norm=torch.nn.LayerNorm(8)).eval()
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 4, 10, dropout=0.0,
                                                            activation="gelu"), 2,
                                 norm=nn.LayerNorm(8)).eval()
    _load_from_torch(ours, theirs)
    rng = np.random.default_rng(3)
    tgt, mem = (rng.standard_normal((4, 8)).astype(np.float32),
                rng.standard_normal((5, 8)).astype(np.float32))
    _run_pair(ours, theirs, [tgt, mem], lambda t, m: ours(t, m, tgt_is_causal=False),
              lambda t, m: theirs(t, m), params=["layers.0.norm3.weight"])
    assert ours.layers[0].activation is F.gelu
    assert nn.TransformerEncoderLayer(8, 2).activation_relu_or_gelu == 1
    assert nn.TransformerEncoderLayer(8, 2, activation=nn.GELU()).activation_relu_or_gelu == 2


def test_layer_with_activation_module_registers_it() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=nn.ReLU(), dropout=0.0)
    assert "activation" in dict(layer.named_children())
    x = nc.randn(3, 2, 8)
    ref = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    ref.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(layer(x).numpy(force=True), ref(x).numpy(force=True), rtol=1e-6)


# ---- recurrent layers and Embedding ---------------------------------------------------------


def test_rnn_extras_match_torch() -> None:
    ours, theirs = nn.LSTM(3, 4, num_layers=2, bidirectional=True), torch.nn.LSTM(
        3, 4, num_layers=2, bidirectional=True)
    assert ours.flatten_parameters() is None
    assert [[tuple(p.shape) for p in ws] for ws in ours.all_weights] == [
        [tuple(p.shape) for p in ws] for ws in theirs.all_weights]
    assert ours._flat_weights_names == theirs._flat_weights_names
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.5)
    cell = nn.GRUCell(3, 4, bias=False)
    assert list(cell.state_dict()) == list(torch.nn.GRUCell(3, 4, bias=False).state_dict())
    assert nn.RNN(2, 3, dtype=nc.float64).weight_hh_l0.dtype == nc.float64


def test_embedding_max_norm_and_scale_grad_by_freq_match_torch() -> None:
    rng, seed = fresh_rng()
    w = rng.standard_normal((10, 4)).astype(np.float32) * 2
    idx = np.array([[1, 2, 1, 9], [2, 2, 0, 1]])
    for kw in ({"max_norm": 1.5}, {"max_norm": 2.0, "norm_type": 1.0},
               {"scale_grad_by_freq": True, "padding_idx": 0}):
        ours = nn.Embedding.from_pretrained(nc.tensor(w.copy()), freeze=False, **kw)
        theirs = torch.nn.Embedding.from_pretrained(torch.tensor(w.copy()), freeze=False, **kw)
        assert repr(ours) == repr(theirs)
        y, yt = ours(idx), theirs(torch.from_numpy(idx))
        g = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(g)
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=f"{kw} seed {seed}")
        np.testing.assert_allclose(ours.weight.numpy(force=True), theirs.weight.detach(),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{kw} renormed rows")
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{kw} grad")
    shared = nc.tensor(w)
    emb = nn.Embedding.from_pretrained(shared)
    assert not emb.weight.requires_grad
    shared[0, 0] = 123.0  # from_pretrained shares the given tensor's memory, as PyTorch
    assert emb.weight.numpy(force=True)[0, 0] == 123.0
    with pytest.raises(NotImplementedError, match="sparse gradients"):
        nn.Embedding(3, 2, sparse=True)


# ---- factory kwargs -------------------------------------------------------------------------

LAYERS = [
    (nn.Linear, (3, 2)), (nn.Bilinear, (2, 3, 4)), (nn.PReLU, (2,)), (nn.Embedding, (5, 3)),
    (nn.RMSNorm, (4,)), (nn.LayerNorm, (4,)), (nn.BatchNorm1d, (3,)), (nn.Conv2d, (2, 3, 3)),
    (nn.Conv1d, (2, 3, 3)), (nn.RNN, (2, 3)), (nn.LSTMCell, (2, 3)),
    (nn.MultiheadAttention, (4, 2)), (nn.TransformerEncoderLayer, (4, 2, 8)),
    (nn.TransformerDecoderLayer, (4, 2, 8)),
]


@pytest.mark.parametrize(("cls", "args"), LAYERS, ids=[c.__name__ for c, _ in LAYERS])
def test_layers_take_device_and_dtype_and_follow_the_default_dtype(cls, args) -> None:
    def float_dtypes(m):
        return {t.dtype for t in list(m.parameters()) + list(m.buffers())
                if t.is_floating_point()}

    assert float_dtypes(cls(*args)) == {nc.float32}
    assert float_dtypes(cls(*args, device="cpu", dtype=nc.float64)) == {nc.float64}
    previous = nc.get_default_dtype()
    nc.set_default_dtype(nc.float64)
    try:
        assert float_dtypes(cls(*args)) == {nc.float64}
    finally:
        nc.set_default_dtype(previous)
    with pytest.raises(NotImplementedError, match="cuda"):
        cls(*args, device="cuda")


# ---- signatures -----------------------------------------------------------------------------

SIGNATURE_CLASSES = [
    "Threshold", "ReLU", "RReLU", "Hardtanh", "ReLU6", "Sigmoid", "Hardsigmoid", "Tanh", "SiLU",
    "Mish", "Hardswish", "ELU", "CELU", "SELU", "GLU", "GELU", "Hardshrink", "LeakyReLU",
    "LogSigmoid", "Softplus", "Softshrink", "MultiheadAttention", "PReLU", "Softsign",
    "Tanhshrink", "Softmin", "Softmax", "Softmax2d", "LogSoftmax", "Sequential", "ModuleList",
    "ModuleDict", "ParameterList", "ParameterDict", "Linear", "Bilinear", "Identity", "Flatten",
    "Unflatten", "Dropout", "Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "RMSNorm", "Embedding", "RNNCell", "LSTMCell", "GRUCell", "Transformer",
    "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer",
]


def _signature(fn) -> list:
    import inspect

    out = []
    for p in inspect.signature(fn).parameters.values():
        default = p.default
        if callable(default):  # F.relu vs torch's F.relu: compare by name
            default = default.__name__
        out.append((p.name, default, p.kind))
    return out


@pytest.mark.parametrize("name", SIGNATURE_CLASSES)
def test_constructor_and_forward_signatures_match_torch(name) -> None:
    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    assert _signature(ours.__init__) == _signature(theirs.__init__)
    if "forward" in vars(theirs) and name not in ("ModuleList", "ModuleDict", "ParameterList",
                                                  "ParameterDict"):
        assert _signature(ours.forward) == _signature(theirs.forward)


def test_functional_init_utils_and_module_method_signatures_match_torch() -> None:
    for name in ["softmax", "log_softmax", "softmin", "relu", "dropout", "dropout1d",
                 "dropout3d", "alpha_dropout", "feature_alpha_dropout", "threshold", "hardtanh",
                 "relu6", "elu", "selu", "celu", "leaky_relu", "rrelu", "glu", "tanhshrink",
                 "softsign", "silu", "mish", "hardswish", "hardsigmoid", "embedding",
                 "rms_norm"]:
        assert _signature(getattr(F, name)) == _signature(getattr(TF, name)), name
    for name in ["uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
                 "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                 "kaiming_normal_", "orthogonal_", "sparse_", "calculate_gain"]:
        assert _signature(getattr(nn.init, name)) == _signature(getattr(torch.nn.init, name))
    for name in ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
                 "vector_to_parameters", "get_total_norm", "clip_grads_with_norm_"]:
        assert _signature(getattr(nn.utils, name)) == _signature(getattr(torch.nn.utils, name))
    for name in ["pad_sequence", "unpad_sequence", "pack_padded_sequence"]:
        assert _signature(getattr(nn.utils.rnn, name)) == _signature(
            getattr(torch.nn.utils.rnn, name))
    for name in dir(torch.nn.Module):
        method = getattr(torch.nn.Module, name)
        if callable(method) and not name.startswith("__") and name not in (
                "forward", "_call_impl", "_wrapped_call_impl", "_slow_forward") and (
                not name.startswith("_") or name in ("_apply", "_load_from_state_dict",
                                                     "_save_to_state_dict", "_named_members")):
            assert hasattr(nn.Module, name), name
            assert _signature(getattr(nn.Module, name)) == _signature(method), name


def test_log_of_a_tril_mask_is_a_silent_causal_mask() -> None:
    mask = nc.log(nc.tril(nc.ones(5, 5)))  # no RuntimeWarning (pytest makes warnings errors)
    np.testing.assert_array_equal(mask.numpy(), torch.log(torch.tril(torch.ones(5, 5))).numpy())
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 1)
    x = nc.randn(5, 2, 8)
    np.testing.assert_allclose(enc(x, mask=mask).numpy(force=True),
                               enc(x, mask=mask, is_causal=True).numpy(force=True), rtol=1e-6)
