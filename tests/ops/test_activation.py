"""The activation family: every op against NumPy, finite differences and PyTorch; dropout's
counter-based mask; the nn layers against torch.nn."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
from nncore.random import next_seed

# ---- NumPy references ---------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _relu(x):
    return np.maximum(x, 0)


def _leaky_relu(x, negative_slope):
    return np.where(x > 0, x, negative_slope * x)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _softplus(x, beta, threshold):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


def _softmax(x, dim):
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _log_softmax(x, dim):
    z = x - np.max(x, axis=dim, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=dim, keepdims=True))


def _splitmix64_keep(seed: int, n: int, p: float) -> np.ndarray:
    """The documented mask: output i of the splitmix64 stream seeded with seed, as a double in
    [0, 1), keeps element i when >= p (uint64 array arithmetic wraps as in C++)."""
    z = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(
        0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53 >= p


_DROPOUT_SEED = 1234


def _seeded_dropout(x, p):
    # NOTE: reseeding on every call keeps the mask fixed, so finite differences see one function.
    nc.manual_seed(_DROPOUT_SEED)
    return F.dropout(x, p=p)


def _dropout_ref(x, p):
    nc.manual_seed(_DROPOUT_SEED)
    keep = _splitmix64_keep(next_seed(), x.size, p).reshape(x.shape)
    return np.where(keep, x / (1 - p), 0.0)


# ---- the spec table ------------------------------------------------------------------------


def _normal(shape, scale=1.0):
    return lambda rng: [scale * rng.standard_normal(shape)]


def _t(name):
    """torch.nn.functional.<name>, or None without torch."""
    return getattr(torch.nn.functional, name) if torch else None


ELEMENTWISE_SHAPES = [(1,), (3,), (17,), (3, 17), (2, 3, 5)]

SPECS = []
for shape in ELEMENTWISE_SHAPES:
    tag = "x".join(map(str, shape))
    SPECS += [
        OpSpec("relu", F.relu, _normal(shape), _relu, _t("relu"), id=f"relu-{tag}"),
        OpSpec("leaky_relu", F.leaky_relu, _normal(shape), _leaky_relu, _t("leaky_relu"),
               kwargs={"negative_slope": 0.2}, id=f"leaky_relu-{tag}"),
        OpSpec("sigmoid", F.sigmoid, _normal(shape, 3.0), _sigmoid, _t("sigmoid"),
               id=f"sigmoid-{tag}"),
        OpSpec("tanh", F.tanh, _normal(shape, 2.0), np.tanh, _t("tanh"), id=f"tanh-{tag}"),
        OpSpec("gelu", F.gelu, _normal(shape, 2.0), _gelu, _t("gelu"),
               kwargs={"approximate": "none"}, id=f"gelu-{tag}"),
        OpSpec("gelu", F.gelu, _normal(shape, 2.0), _gelu, _t("gelu"),
               kwargs={"approximate": "tanh"}, id=f"gelu_tanh-{tag}"),
        OpSpec("softplus", F.softplus, _normal(shape, 3.0), _softplus, _t("softplus"),
               kwargs={"beta": 1.0, "threshold": 20.0}, id=f"softplus-{tag}"),
        OpSpec("dropout", _seeded_dropout, _normal(shape), _dropout_ref, None,
               kwargs={"p": 0.3}, id=f"dropout-{tag}"),
    ]
SPECS.append(OpSpec("leaky_relu", F.leaky_relu, _normal((4, 7)), _leaky_relu, _t("leaky_relu"),
                    kwargs={"negative_slope": -1.5}, id="leaky_relu-negative-slope"))
# beta x crosses the threshold inside the data: both branches and the switch between them.
SPECS.append(OpSpec("softplus", F.softplus, _normal((5, 7), 3.0), _softplus, _t("softplus"),
                    kwargs={"beta": 2.0, "threshold": 1.5}, id="softplus-beta2-threshold1.5"))
SPECS.append(OpSpec("dropout", _seeded_dropout, _normal((7, 5)), _dropout_ref, None,
                    kwargs={"p": 0.8}, id="dropout-p0.8"))

SOFTMAX_CASES = [
    ((), -1), ((1,), 0), ((3,), -1), ((17,), 0), ((1, 1), -1), ((5, 7), -1), ((7, 5), 0),
    ((2, 3, 5), -1), ((2, 3, 5), 1), ((2, 3, 5), 0), ((3, 1, 4), -2),
]
for shape, dim in SOFTMAX_CASES:
    tag = "x".join(map(str, shape)) or "scalar"
    SPECS += [
        OpSpec("softmax", F.softmax, _normal(shape, 2.0), _softmax, _t("softmax"),
               kwargs={"dim": dim}, id=f"softmax-{tag}-dim{dim}"),
        OpSpec("log_softmax", F.log_softmax, _normal(shape, 2.0), _log_softmax,
               _t("log_softmax"), kwargs={"dim": dim}, id=f"log_softmax-{tag}-dim{dim}"),
    ]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


# ---- the threaded paths (the table's inputs are below the work threshold) ----------------


@pytest.fixture
def two_threads():
    before = nc.get_num_threads()
    nc.set_num_threads(2)
    yield
    nc.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_inputs_match_reference(two_threads, dtype) -> None:
    rng, seed = fresh_rng()
    x = rng.standard_normal((300, 257)) * 3
    g = rng.standard_normal(x.shape)
    # NOTE: the softmax-family backward cancels (g - s * sum(g)); the absolute floor scales with
    # the data, as in harness._close.
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    cases = [
        (F.relu, {}, _relu(x), g * (x > 0)),
        (F.leaky_relu, {"negative_slope": 0.1}, _leaky_relu(x, 0.1), g * np.where(x > 0, 1, 0.1)),
        (F.sigmoid, {}, _sigmoid(x), g * _sigmoid(x) * (1 - _sigmoid(x))),
        (F.tanh, {}, np.tanh(x), g * (1 - np.tanh(x) ** 2)),
        (F.gelu, {}, _gelu(x, "none"),
         g * (0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi))
         ),
        (F.softplus, {"beta": 1.0, "threshold": 20.0}, _softplus(x, 1.0, 20.0),
         g * _sigmoid(x)),
        (F.softmax, {"dim": -1}, _softmax(x, -1), None),
        (F.log_softmax, {"dim": 0}, _log_softmax(x, 0), None),
    ]
    for fn, kw, y_ref, dx_ref in cases:
        t = nc.tensor(x, dtype=dtype, requires_grad=True)
        y = fn(t, **kw)
        np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=rtol * np.abs(y_ref).max(),
                                   err_msg=f"{fn.__name__} (seed {seed})")
        y.backward(g)
        if dx_ref is None:  # softmax family: the row-sum identity of the backward
            s = _softmax(x, kw["dim"])
            if fn is F.softmax:
                dx_ref = s * (g - (g * s).sum(axis=kw["dim"], keepdims=True))
            else:
                dx_ref = g - s * g.sum(axis=kw["dim"], keepdims=True)
        np.testing.assert_allclose(t.grad.numpy(), dx_ref, rtol=rtol,
                                   atol=rtol * np.abs(dx_ref).max(),
                                   err_msg=f"{fn.__name__} backward (seed {seed})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_memory_alignment(dtype) -> None:
    """Bit-identical results for the same values stored at differently aligned addresses, and
    for repeated calls (whose outputs the allocator places at varying alignments)."""
    x = np.random.default_rng(5).standard_normal((7, 45)).astype(dtype)
    g = np.random.default_rng(6).standard_normal(x.shape).astype(dtype)
    shifted = []
    for k in range(1, 4):  # contiguous copies offset by k elements inside a larger buffer
        buf = np.empty(x.size + k, dtype)
        buf[k:] = x.reshape(-1)
        shifted.append(buf[k:].reshape(x.shape))
    # NOTE: dim given, as PyTorch requires (without it the softmaxes warn).
    softmax = functools.partial(F.softmax, dim=-1)
    log_softmax = functools.partial(F.log_softmax, dim=-1)
    for fn in (F.sigmoid, softmax, log_softmax, F.gelu, F.tanh):
        outs, grads = [], []
        for arr in [x, *shifted]:
            t = nc.Tensor._wrap(arr).requires_grad_()
            y = fn(t)
            y.backward(g)
            outs.append(y.detach().numpy())
            grads.append(t.grad.numpy())
        t = nc.Tensor._wrap(x)
        outs += [fn(t).detach().numpy() for _ in range(50)]
        for o in outs[1:]:
            np.testing.assert_array_equal(o, outs[0], err_msg=str(fn))
        for d in grads[1:]:
            np.testing.assert_array_equal(d, grads[0], err_msg=str(fn))


def test_softmax_is_stable_for_large_inputs() -> None:
    x = nc.tensor([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1e4]])
    np.testing.assert_allclose(F.softmax(x, dim=-1).detach().numpy(), [[0.5, 0.5, 0], [0, 0, 1]],
                               atol=1e-7)
    ls = F.log_softmax(x, dim=-1).detach().numpy()
    assert np.isfinite(ls).all()
    np.testing.assert_allclose(ls[0], [-math.log(2), -math.log(2), -2000 - math.log(2)], rtol=1e-6)


def test_sigmoid_saturates_without_nan() -> None:
    y = F.sigmoid(nc.tensor([-1000.0, 1000.0], dtype=np.float64)).detach().numpy()
    np.testing.assert_array_equal(y, [0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_leaky_relu_pass_nan_and_their_gradient_as_torch(dtype) -> None:
    if torch is None:
        pytest.skip("torch not installed")
    x = np.array([np.nan, -1.0, -0.0, 0.0, 2.0, np.nan], dtype)
    g = np.arange(1.0, 7.0, dtype=dtype)
    for ours, theirs in [(F.relu, torch.relu),
                         (F.leaky_relu, torch.nn.functional.leaky_relu)]:
        xn, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yn, yt = ours(xn), theirs(xt)
        np.testing.assert_array_equal(yn.detach().numpy(), yt.detach().numpy())
        yn.backward(nc.tensor(g))
        yt.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(xn.grad.numpy(), xt.grad.numpy(), err_msg=str(ours))


def test_tensor_methods_call_functional() -> None:
    x = nc.randn(3, 4, 5)
    np.testing.assert_array_equal(x.relu().detach().numpy(), F.relu(x).detach().numpy())
    np.testing.assert_array_equal(x.sigmoid().detach().numpy(), F.sigmoid(x).detach().numpy())
    np.testing.assert_array_equal(x.tanh().detach().numpy(), F.tanh(x).detach().numpy())
    np.testing.assert_array_equal(x.softmax(1), F.softmax(x, dim=1))
    np.testing.assert_array_equal(x.log_softmax(0), F.log_softmax(x, dim=0))


def test_non_contiguous_input_and_gradient() -> None:
    base = np.random.default_rng(0).standard_normal((5, 4))
    x = nc.tensor(base, dtype=np.float64, requires_grad=True)
    y = F.softmax(x.T, dim=0)  # a transposed view in, a transposed (non-contiguous) grad back
    np.testing.assert_allclose(y.detach().numpy(), _softmax(base.T, 0), rtol=1e-12)
    (y * nc.tensor(np.arange(20.0).reshape(4, 5), dtype=np.float64)).sum().backward()
    assert x.grad.shape == (5, 4)


# ---- dropout ---------------------------------------------------------------------------------


def test_dropout_same_seed_same_mask() -> None:
    x = nc.randn(40, 50)
    nc.manual_seed(3)
    a = F.dropout(x, 0.5).detach().numpy()
    nc.manual_seed(3)
    b = F.dropout(x, 0.5).detach().numpy()
    c = F.dropout(x, 0.5).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a == 0, c == 0), "successive calls must draw new masks"


def test_dropout_mask_is_the_documented_splitmix64_stream() -> None:
    nc.manual_seed(11)
    y = F.dropout(nc.ones(1000, dtype=np.float64), 0.4).detach().numpy()
    nc.manual_seed(11)
    np.testing.assert_array_equal(y != 0, _splitmix64_keep(next_seed(), 1000, 0.4))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_fraction_and_scaling(p) -> None:
    n = 200_000
    y = F.dropout(nc.ones(n), p).detach().numpy()
    dropped = float(np.mean(y == 0))
    # five standard deviations of a binomial fraction: fails only on a real bias
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n), (dropped, p)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)


def test_dropout_backward_uses_the_forward_mask() -> None:
    rng, seed = fresh_rng()
    x = nc.tensor(rng.uniform(1, 2, (33, 65)), dtype=np.float64, requires_grad=True)
    g = rng.standard_normal(x.shape)
    y = F.dropout(x, 0.3)
    y.backward(g)
    keep = y.detach().numpy() != 0
    assert 0 < keep.mean() < 1
    np.testing.assert_allclose(x.grad.numpy(), np.where(keep, g / 0.7, 0.0), rtol=1e-12,
                               err_msg=f"seed {seed}")


def test_dropout_mask_independent_of_threads_and_dtype() -> None:
    before = nc.get_num_threads()
    x = np.random.default_rng(1).uniform(1, 2, 100_003)
    masks = []
    try:
        for threads, dtype in [(1, np.float32), (2, np.float32), (2, np.float64)]:
            nc.set_num_threads(threads)
            nc.manual_seed(9)
            masks.append(F.dropout(nc.tensor(x, dtype=dtype), 0.5).detach().numpy() != 0)
    finally:
        nc.set_num_threads(before)
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[0], masks[2])


def test_dropout_identity_and_extremes() -> None:
    x = nc.randn(4, 6, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros((4, 6), np.float32))
    y.backward(np.ones((4, 6)))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 6), np.float32))


def test_dropout_module_train_and_eval() -> None:
    m = nc.nn.Dropout(0.5)
    x = nc.randn(20, 30)
    assert (m(x).detach().numpy() == 0).any()
    m.eval()
    np.testing.assert_array_equal(m(x).detach().numpy(), x.detach().numpy())
    m.train()
    nc.manual_seed(2)
    a = m(x).detach().numpy()
    nc.manual_seed(2)
    np.testing.assert_array_equal(m(x).detach().numpy(), a)


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: F.relu(nc.tensor([1, 2])), TypeError,
         "relu: input must be float32 or float64, got int64"),
        (lambda: F.sigmoid(np.zeros(3)), TypeError, "sigmoid: input must be a Tensor, got ndarray"),
        (lambda: F.leaky_relu(nc.zeros(3), "0.1"), TypeError,
         "leaky_relu: negative_slope must be a real number, got str"),
        (lambda: F.gelu(nc.zeros(3), approximate="fast"), ValueError,
         "gelu: approximate must be 'none' or 'tanh', got 'fast'"),
        (lambda: F.softmax(nc.zeros(3, 4), dim=2), ValueError,
         r"softmax: dim 2 is out of range for input of shape \(3, 4\) \(expected in \[-2, 1\]\)"),
        (lambda: F.log_softmax(nc.zeros(3, 4), dim=-3), ValueError,
         r"log_softmax: dim -3 is out of range for input of shape \(3, 4\)"),
        (lambda: F.softmax(nc.zeros(3), dim=0.5), TypeError,
         "softmax: dim must be an integer, got float"),
        (lambda: F.dropout(nc.zeros(3), p=1.5), ValueError,
         r"dropout: p must be a probability in \[0, 1\], got 1.5"),
        (lambda: F.dropout(nc.zeros(3), p=-0.1), ValueError, "dropout: p must be a probability"),
        (lambda: F.dropout(nc.zeros(3), p=None), TypeError,
         "dropout: p must be a real number, got NoneType"),
        (lambda: nc.nn.GELU("fast"), ValueError, "GELU: approximate must be 'none' or 'tanh'"),
        (lambda: nc.nn.Dropout(2), ValueError, r"Dropout: p must be a probability in \[0, 1\]"),
    ],
)
def test_bad_arguments(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_native_boundary_errors() -> None:
    """The bindings themselves refuse wrong dtypes, shapes, ranks and layouts with the op's name."""
    f32, f64 = np.zeros((3, 4), np.float32), np.zeros((3, 4))
    with pytest.raises(TypeError, match=r"\[relu\] x: expected float32 or float64, got int64"):
        nc._C.relu_forward(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match=r"\[sigmoid\] dy: expected float32, got float64"):
        nc._C.sigmoid_backward(f64, f32)
    with pytest.raises(ValueError, match=r"\[tanh\] dy: expected shape \(3, 4\) "
                                         r"\(the shape of y\), got \(4, 3\)"):
        nc._C.tanh_backward(np.zeros((4, 3)), f64)
    with pytest.raises(ValueError, match=r"\[gelu\] x: expected a C-contiguous array"):
        nc._C.gelu_forward(np.zeros((4, 3)).T)
    with pytest.raises(ValueError, match=r"\[gelu\] approximate: expected 'none' or 'tanh'"):
        nc._C.gelu_backward(f64, f64, "erf")
    with pytest.raises(ValueError, match=r"\[softmax\] x: expected 2-D \(rows, cols\), got shape "
                                         r"\(2, 3, 4\)"):
        nc._C.softmax_forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[log_softmax\] dy: expected shape \(3, 4\)"):
        nc._C.log_softmax_backward(np.zeros((3, 5)), f64)
    with pytest.raises(ValueError, match=r"\[dropout\] p: expected a probability in \[0, 1\]"):
        nc._C.dropout_forward(f64, 1.5, 0)
    with pytest.raises(TypeError, match=r"\[dropout\] dy: expected float32 or float64"):
        nc._C.dropout_backward(np.zeros(3, np.int32), 0.5, 0)
    with pytest.raises(ValueError, match=r"\[softplus\] dy: expected shape \(3, 4\) "
                                         r"\(the shape of x\), got \(4, 3\)"):
        nc._C.softplus_backward(np.zeros((4, 3)), f64, 1.0, 20.0)
    with pytest.raises(TypeError, match=r"\[softplus\] dy: expected float32, got float64"):
        nc._C.softplus_backward(f64, f32)


# ---- layers against torch.nn -----------------------------------------------------------------

MODULE_PAIRS = [
    ("ReLU", (), {}), ("ReLU", (), {"inplace": True}), ("LeakyReLU", (0.2,), {}),
    ("LeakyReLU", (), {"inplace": True}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {"dim": -1}), ("LogSoftmax", (), {"dim": 0}), ("Dropout", (0.3,), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), MODULE_PAIRS,
                         ids=[f"{n}{a}{k}" for n, a, k in MODULE_PAIRS])
def test_module_matches_torch(name, args, kwargs) -> None:
    pytest.importorskip("torch")
    mine = getattr(nc.nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(mine) == repr(theirs)
    if name == "Dropout":  # different RNGs: compare the deterministic eval mode
        mine.eval()
        theirs.eval()
    rng, seed = fresh_rng()
    x = rng.standard_normal((4, 7, 3)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xm = nc.tensor(x, requires_grad=True)
    ym = mine(xm)
    ym.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    # NOTE: torch's in-place layers cannot take a leaf that requires grad; clone first.
    yt = theirs(xt.clone() if kwargs.get("inplace") else xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=f"{name} output (seed {seed})")
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=f"{name} input gradient (seed {seed})")


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_module_implicit_dim_matches_torch(name, shape) -> None:
    pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ours = getattr(nc.nn, name)()(nc.tensor(x)).detach().numpy()
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ref = getattr(torch.nn, name)()(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
