"""The loss family: every native loss against NumPy, finite differences and PyTorch, argument
errors by type and message, and the nn loss modules against torch.nn."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import _C

TF = torch.nn.functional if torch else None

# ---- NumPy references (float64) -----------------------------------------------------------


def _rows(x):
    """(N, C), (C,) or (N, C, d1, ...) -> (rows, C) with the class axis last."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _row_shape(shape):
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def _reduce(per, reduction, divisor, shape):
    if reduction == "none":
        return per.reshape(shape)
    return per.sum() / divisor if reduction == "mean" else per.sum()


def _log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def ref_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean",
                      label_smoothing=0.0):
    logp = _log_softmax(_rows(x))
    c = logp.shape[1]
    w = np.ones(c) if weight is None else weight
    if t.dtype.kind == "f":
        tt = _rows(t) * (1 - label_smoothing) + label_smoothing / c
        per = -(logp * tt * w).sum(axis=1)
        return _reduce(per, reduction, logp.shape[0], _row_shape(x.shape))
    ti = t.reshape(-1)
    keep = ti != ignore_index
    safe = np.where(keep, ti, 0)
    nll = -w[safe] * logp[np.arange(len(ti)), safe] * keep
    smooth = -(logp * w).sum(axis=1) * keep
    per = (1 - label_smoothing) * nll + label_smoothing / c * smooth
    return _reduce(per, reduction, (w[safe] * keep).sum(), _row_shape(x.shape))


def ref_nll_loss(x, t, weight=None, ignore_index=-100, reduction="mean"):
    x2 = _rows(x)
    w = np.ones(x2.shape[1]) if weight is None else weight
    ti = t.reshape(-1)
    keep = ti != ignore_index
    safe = np.where(keep, ti, 0)
    per = -w[safe] * x2[np.arange(len(ti)), safe] * keep
    return _reduce(per, reduction, (w[safe] * keep).sum(), _row_shape(x.shape))


def ref_mse_loss(x, t, reduction="mean"):
    return _reduce((x - t) ** 2, reduction, x.size, x.shape)


def ref_l1_loss(x, t, reduction="mean"):
    return _reduce(np.abs(x - t), reduction, x.size, x.shape)


def ref_bce_with_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    lw = 1.0 if pos_weight is None else 1 + (pos_weight - 1) * t
    per = (1 - t) * x + lw * np.logaddexp(0, -x)
    if weight is not None:
        per = per * weight
    return _reduce(per, reduction, x.size, x.shape)


# ---- input makers ----------------------------------------------------------------------------


def _classes(shape):
    return shape[0] if len(shape) == 1 else shape[1]


def _class_inputs(shape, *, weight=False, ignore=None, soft=False, log_probs=False):
    """Logits (or log-probabilities) of ``shape``, targets, and optionally class weights.

    ``ignore``: an ignore_index planted in the targets (row 0 always kept, so a mean is finite).
    """

    def make(rng):
        c = _classes(shape)
        x = rng.standard_normal(shape)
        if log_probs:
            x = np.moveaxis(_log_softmax(_rows(x)).reshape(_row_shape(shape) + (c,)), -1,
                            min(1, len(shape) - 1)).copy()
        if soft:
            p = np.exp(_log_softmax(_rows(rng.standard_normal(shape))))
            t = np.moveaxis(p.reshape(_row_shape(shape) + (c,)), -1, min(1, len(shape) - 1))
            t = t.copy()
        else:
            t = np.asarray(rng.integers(0, c, size=_row_shape(shape)), dtype=np.int64)
            flat = t.reshape(-1)
            if ignore is not None and flat.size > 1:
                flat[rng.random(flat.size) < 0.3] = ignore
                flat[1] = ignore
                flat[0] = (ignore + 1) % c if 0 <= ignore < c else 0
        out = [x, t]
        if weight:
            out.append(rng.random(c) + 0.5)
        return out

    return make


def _pair(shape, *, prob_target=False, extra=()):
    """input and target of ``shape`` plus extra float arrays (weights) of the given shapes."""

    def make(rng):
        t = rng.random(shape) if prob_target else rng.standard_normal(shape)
        return [rng.standard_normal(shape), t] + [rng.random(s) + 0.5 for s in extra]

    return make


def _bce(fn, names=()):
    """Adapts fn(input, target, **kw) to positional extra inputs named ``names``."""
    if fn is None:
        return None

    def call(x, t, *extra, **kw):
        return fn(x, t, **dict(zip(names, extra)), **kw)

    return call


def _specs_ce():
    ce, tce = F.cross_entropy, TF.cross_entropy if torch else None

    def spec(make, sid, **kw):
        return OpSpec("cross_entropy", ce, make, ref_cross_entropy, tce, kwargs=kw,
                      grad_args=(0,), id=sid)

    def soft(make, sid, **kw):
        return OpSpec("soft_cross_entropy", ce, make, ref_cross_entropy, tce, kwargs=kw,
                      grad_args=(0, 1), id=sid)

    return [
        spec(_class_inputs((5, 7)), "ce-mean"),
        spec(_class_inputs((3, 17)), "ce-c17-sum", reduction="sum"),
        spec(_class_inputs((4, 3), weight=True), "ce-weight-none", reduction="none"),
        spec(_class_inputs((6, 5), weight=True, ignore=-100), "ce-weight-ignore-mean"),
        spec(_class_inputs((7, 4), weight=True, ignore=2), "ce-smooth-weight-ignore2-mean",
             ignore_index=2, label_smoothing=0.1),
        spec(_class_inputs((5, 6), ignore=-100), "ce-smooth-ignore-none", reduction="none",
             label_smoothing=0.3),
        spec(_class_inputs((4, 17), weight=True), "ce-smooth-weight-sum", reduction="sum",
             label_smoothing=0.25),
        spec(_class_inputs((1, 3)), "ce-n1"),
        spec(_class_inputs((4, 1)), "ce-c1", label_smoothing=0.2),
        spec(_class_inputs((2, 5, 3, 4), weight=True, ignore=-100), "ce-kdim-smooth-mean",
             label_smoothing=0.1),
        spec(_class_inputs((3, 4, 5), ignore=1), "ce-kdim-none", reduction="none",
             ignore_index=1),
        spec(_class_inputs((6,)), "ce-unbatched"),
        soft(_class_inputs((5, 7), soft=True), "ce-prob-mean"),
        soft(_class_inputs((4, 17), soft=True, weight=True), "ce-prob-weight-smooth-sum",
             reduction="sum", label_smoothing=0.2),
        soft(_class_inputs((2, 4, 3), soft=True), "ce-prob-kdim-none", reduction="none"),
        soft(_class_inputs((1, 1), soft=True), "ce-prob-n1-c1", label_smoothing=0.5),
    ]


def _specs_nll():
    def spec(make, sid, **kw):
        return OpSpec("nll_loss", F.nll_loss, make, ref_nll_loss,
                      TF.nll_loss if torch else None, kwargs=kw, grad_args=(0,), id=sid)

    return [
        spec(_class_inputs((5, 7), log_probs=True), "nll-mean"),
        spec(_class_inputs((6, 4), log_probs=True, weight=True, ignore=-100), "nll-weight-ignore"),
        spec(_class_inputs((5, 3), log_probs=True, ignore=1), "nll-ignore1-none",
             reduction="none", ignore_index=1),
        spec(_class_inputs((1, 17), log_probs=True, weight=True), "nll-n1-c17-sum",
             reduction="sum"),
        spec(_class_inputs((2, 3, 5), log_probs=True, weight=True, ignore=-100), "nll-kdim"),
        spec(_class_inputs((3, 1), log_probs=True), "nll-c1"),
    ]


def _specs_pointwise():
    specs = []
    for name, fn, ref, tfn in [("mse_loss", F.mse_loss, ref_mse_loss, "mse_loss"),
                               ("l1_loss", F.l1_loss, ref_l1_loss, "l1_loss")]:
        for shape, reduction in [((3, 17), "mean"), ((1,), "sum"), ((2, 3, 5), "none")]:
            specs.append(OpSpec(name, fn, _pair(shape), ref, getattr(TF, tfn) if torch else None,
                                kwargs={"reduction": reduction},
                                id=f"{name}-{reduction}-{'x'.join(map(str, shape))}"))
    return specs


def _specs_bce():
    bce = F.binary_cross_entropy_with_logits
    tbce = TF.binary_cross_entropy_with_logits if torch else None

    def spec(shape, extra, names, sid, **kw):
        return OpSpec("bce_with_logits", _bce(bce, names),
                      _pair(shape, prob_target=True, extra=extra),
                      _bce(ref_bce_with_logits, names), _bce(tbce, names), kwargs=kw,
                      grad_args=(0, 1), id=sid)

    return [
        spec((4, 5), (), (), "bce-mean"),
        spec((3, 17), ((17,),), ("weight",), "bce-weight-row-sum", reduction="sum"),
        spec((2, 3, 4), ((4,),), ("pos_weight",), "bce-posweight-none", reduction="none"),
        spec((5, 3), ((5, 3), (3,)), ("weight", "pos_weight"), "bce-weight-posweight-mean"),
        spec((7,), (), (), "bce-1d-sum", reduction="sum"),
        spec((5, 1), ((1,),), ("pos_weight",), "bce-c1-posweight"),
    ]


SPECS = _specs_ce() + _specs_nll() + _specs_pointwise() + _specs_bce()


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_op(spec: OpSpec) -> None:
    check_op(spec)


def test_gradient_matches_softmax_minus_smoothed_one_hot() -> None:
    rng, seed = fresh_rng()
    x = rng.standard_normal((4, 6))
    t = rng.integers(0, 6, size=4)
    xt = nc.tensor(x, dtype=np.float64, requires_grad=True)
    F.cross_entropy(xt, t, reduction="sum", label_smoothing=0.3).backward()
    p = np.exp(_log_softmax(x))
    smoothed = np.full((4, 6), 0.3 / 6)
    smoothed[np.arange(4), t] += 0.7
    np.testing.assert_allclose(xt.grad.numpy(), p - smoothed, rtol=1e-12, atol=1e-14,
                               err_msg=f"seed {seed}")


def test_parallel_path_matches_reference() -> None:
    """Sizes above the OpenMP work threshold, with two threads, against the NumPy reference."""
    rng, seed = fresh_rng()
    before = nc.get_num_threads()
    nc.set_num_threads(2)
    try:
        x, t = rng.standard_normal((2500, 17)), rng.integers(0, 17, size=2500)
        t[::7] = -100
        w = rng.random(17) + 0.5
        xt = nc.tensor(x, dtype=np.float64, requires_grad=True)
        loss = F.cross_entropy(xt, t, weight=nc.tensor(w, dtype=np.float64), label_smoothing=0.1)
        np.testing.assert_allclose(loss.item(), ref_cross_entropy(x, t, w, label_smoothing=0.1),
                                   rtol=1e-12, err_msg=f"seed {seed}")
        loss.backward()
        xs = nc.tensor(x[:100], dtype=np.float64, requires_grad=True)
        # the first rows' gradient, rescaled from a sum over all rows, checks the threaded rows
        F.cross_entropy(xs, t[:100], weight=nc.tensor(w, dtype=np.float64), reduction="sum",
                        label_smoothing=0.1).backward()
        keep = t != -100
        divisor = (w[np.where(keep, t, 0)] * keep).sum()
        np.testing.assert_allclose(xt.grad.numpy()[:100] * divisor, xs.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=f"seed {seed}")
        a, b = rng.standard_normal((300, 200)), rng.random((300, 200))
        for fn, ref in [(F.mse_loss, ref_mse_loss), (F.l1_loss, ref_l1_loss),
                        (F.binary_cross_entropy_with_logits, ref_bce_with_logits)]:
            got = fn(nc.tensor(a, dtype=np.float64), nc.tensor(b, dtype=np.float64)).item()
            np.testing.assert_allclose(got, ref(a, b), rtol=1e-12, err_msg=f"seed {seed}")
    finally:
        nc.set_num_threads(before)


def test_targets_as_numpy_arrays_and_int32() -> None:
    x = nc.randn(4, 3)
    t = np.array([0, 2, 1, 2], dtype=np.int32)
    a = F.cross_entropy(x, t).item()
    b = F.cross_entropy(x, nc.tensor(t.astype(np.int64))).item()
    assert a == b
    y = np.ones((4, 3))  # float64 array with a float32 input: converted on purpose
    assert F.mse_loss(x, y).dtype == np.float32


def test_all_targets_ignored_gives_nan_like_pytorch() -> None:
    loss = F.cross_entropy(nc.randn(3, 4), np.full(3, -100))
    assert np.isnan(loss.item())


# ---- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: F.cross_entropy(nc.zeros(3, 5), np.array([0, 7, 1])), ValueError,
         r"\[cross_entropy\] target 7 \(at index 1\) is out of range for 5 classes"),
        (lambda: F.cross_entropy(nc.zeros(3, 5), np.array([0, -1, 1])), ValueError,
         r"\[cross_entropy\] target -1 .*out of range for 5 classes"),
        (lambda: F.nll_loss(nc.zeros(2, 4), np.array([4, -100])), ValueError,
         r"\[nll_loss\] target 4 .*out of range for 4 classes"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros(5, np.int64)), ValueError,
         r"cross_entropy: expected target of shape \(4,\) for input of shape \(4, 3\), "
         r"got \(5,\)"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros((4, 1), np.int64)), ValueError,
         r"cross_entropy: expected target of shape \(4,\) .* got \(4, 1\)"),
        (lambda: F.cross_entropy(nc.zeros(2, 3, 5), np.zeros((2, 3), np.int64)), ValueError,
         r"cross_entropy: expected target of shape \(2, 5\) for input of shape \(2, 3, 5\)"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros(4)), ValueError,
         r"cross_entropy: target of shape \(4,\) does not match input of shape \(4, 3\)"),
        (lambda: F.nll_loss(nc.zeros(4, 3), nc.zeros(4)), TypeError,
         r"nll_loss: target must hold int64 class indices, got float32 with shape \(4,\)"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros(4, bool)), TypeError,
         r"cross_entropy: target must hold int64 class indices, got bool"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), [0, 1, 2, 0]), TypeError,
         r"cross_entropy: target must be a Tensor or a NumPy array, got list"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros(4, np.int64), reduction="avg"),
         ValueError, r"cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'"),
        (lambda: F.mse_loss(nc.zeros(2), nc.zeros(2), reduction="elementwise_mean"), ValueError,
         r"mse_loss: reduction must be"),
        (lambda: F.cross_entropy(nc.zeros(0, 3), np.zeros(0, np.int64)), ValueError,
         r"cross_entropy: empty input of shape \(0, 3\)"),
        (lambda: F.nll_loss(nc.zeros(0, 3), np.zeros(0, np.int64)), ValueError,
         r"nll_loss: empty input of shape \(0, 3\)"),
        (lambda: F.l1_loss(nc.zeros(0, 2), nc.zeros(0, 2)), ValueError,
         r"l1_loss: empty input of shape \(0, 2\)"),
        (lambda: F.cross_entropy(nc.zeros(()), np.zeros((), np.int64)), ValueError,
         r"cross_entropy: expected input \(N, C\), .* got shape \(\)"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros(4, np.int64), label_smoothing=1.5),
         ValueError, r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"),
        (lambda: F.cross_entropy(nc.zeros(4, 3), np.zeros(4, np.int64), weight=nc.ones(4)),
         ValueError, r"cross_entropy: weight of shape \(4,\) does not match 3 classes"),
        (lambda: F.nll_loss(nc.zeros(4, 3), np.zeros(4, np.int64),
                            weight=nc.ones(3, dtype=np.float64)),
         TypeError, r"nll_loss: expected one dtype, but input is float32, weight is float64"),
        (lambda: F.cross_entropy(nc.tensor([[1, 2]]), np.zeros(1, np.int64)), TypeError,
         r"cross_entropy: input must be float32 or float64, got int64"),
        (lambda: F.mse_loss(nc.zeros(2, 3), nc.zeros(3, 2)), ValueError,
         r"mse_loss: target of shape \(3, 2\) does not match input of shape \(2, 3\)"),
        (lambda: F.l1_loss(nc.zeros(2, 3), nc.zeros(2, 3, dtype=np.float64)), TypeError,
         r"l1_loss: expected one dtype, but input is float32, target is float64"),
        (lambda: F.binary_cross_entropy_with_logits(nc.zeros(2, 3), nc.tensor([[0, 1, 1]] * 2)),
         TypeError, r"binary_cross_entropy_with_logits: target must be float32 or float64, "
                    r"got int64 with shape \(2, 3\)"),
        (lambda: F.binary_cross_entropy_with_logits(nc.zeros(2, 3), nc.zeros(2, 3),
                                                    pos_weight=nc.ones(2)), ValueError,
         r"binary_cross_entropy_with_logits: pos_weight of shape \(2,\) does not match the last "
         r"axis of input shape \(2, 3\)"),
        (lambda: F.binary_cross_entropy_with_logits(nc.zeros(2, 3), nc.zeros(2, 3),
                                                    weight=nc.ones(2)), ValueError,
         r"binary_cross_entropy_with_logits: weight of shape \(2,\) does not broadcast to "
         r"input shape \(2, 3\)"),
        (lambda: F.binary_cross_entropy_with_logits(nc.zeros(2, 3), nc.zeros(3)), ValueError,
         r"binary_cross_entropy_with_logits: target of shape \(3,\) does not match input"),
    ],
)
def test_bad_arguments(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_out_of_range_target_in_a_large_batch_raises_before_threads() -> None:
    t = np.zeros(5000, np.int64)
    t[4321] = 17
    with pytest.raises(ValueError, match=r"target 17 \(at index 4321\) is out of range for 17"):
        F.cross_entropy(nc.randn(5000, 17), t)


def test_native_boundary_errors() -> None:
    """The bindings refuse bad dtypes, shapes and options with the op's name."""
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match=r"\[cross_entropy\] target: expected int64 class "
                                        r"indices, got float32 with shape \(3,\)"):
        _C.cross_entropy_forward(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target: expected shape \(3,\) for "
                                         r"input of shape \(3, 4\), got \(2,\)"):
        _C.cross_entropy_forward(x, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target 9 .*out of range for 4"):
        _C.cross_entropy_forward(x, np.array([0, 9, 1]))
    with pytest.raises(ValueError, match=r"\[nll_loss\] target 4 .*out of range for 4"):
        _C.nll_loss_backward(np.ones((), np.float32), x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] label_smoothing: expected a value "
                                         r"in \[0, 1\], got -0.1"):
        _C.cross_entropy_forward(x, np.zeros(3, np.int64), None, -100, -0.1)
    with pytest.raises(ValueError, match=r"\[mse_loss\] reduction: expected 'none', 'mean' or "
                                         r"'sum', got 'avg'"):
        _C.mse_loss_forward(x, x, "avg")
    with pytest.raises(TypeError, match=r"\[l1_loss\] target: expected float32, got float64"):
        _C.l1_loss_forward(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\[bce_with_logits\] pos_weight: expected shape "
                                         r"\(4,\)"):
        _C.bce_with_logits_forward(x, x, None, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[soft_cross_entropy\] input: expected 2-D \(N, C\) "
                                         r"with C >= 1, got shape \(3, 0\)"):
        _C.soft_cross_entropy_forward(np.zeros((3, 0), np.float32), np.zeros((3, 0), np.float32))
    with pytest.raises(ValueError, match=r"\[mse_loss\] dloss: expected shape \(3, 4\), got \(\)"):
        _C.mse_loss_backward(np.ones((), np.float32), x, x, "none")
    with pytest.raises(TypeError, match=r"\[nll_loss\] input: expected float32 or float64"):
        _C.nll_loss_forward(np.zeros((3, 4), np.int64), np.zeros(3, np.int64))


# ---- nn modules vs torch.nn ----------------------------------------------------------------


def _module_cases():
    """(nncore module factory, torch module factory, input shape, target maker)."""
    w4, pw4 = np.array([0.5, 2.0, 1.0, 1.5]), np.array([1.0, 3.0, 0.5, 2.0])

    def ints(shape, c, ignore=None):
        def make(rng):
            t = rng.integers(0, c, size=shape)
            if ignore is not None:
                t.reshape(-1)[1] = ignore
            return t
        return make

    def floats(shape, prob=False):
        return lambda rng: rng.random(shape) if prob else rng.standard_normal(shape)

    def both(name, **kw):
        def pair(lib, as_tensor):
            args = {k: (as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
            return getattr(lib, name)(**args)
        return (lambda: pair(nc.nn, lambda v: nc.tensor(v, dtype=np.float32)),
                lambda: pair(torch.nn, lambda v: torch.tensor(v, dtype=torch.float32)))

    return [
        (*both("MSELoss"), (5, 3), floats((5, 3))),
        (*both("L1Loss", reduction="sum"), (17,), floats((17,))),
        (*both("CrossEntropyLoss"), (6, 4), ints(6, 4)),
        (*both("CrossEntropyLoss", weight=w4, ignore_index=2, label_smoothing=0.1), (6, 4),
         ints(6, 4, ignore=2)),
        (*both("CrossEntropyLoss", reduction="none"), (2, 4, 3, 5), ints((2, 3, 5), 4, -100)),
        (*both("CrossEntropyLoss", label_smoothing=0.2), (5, 4), floats((5, 4), prob=True)),
        (*both("NLLLoss", weight=w4), (6, 4), ints(6, 4, ignore=-100)),
        (*both("NLLLoss", reduction="sum", ignore_index=0), (3, 4, 2), ints((3, 2), 4)),
        (*both("BCEWithLogitsLoss"), (5, 4), floats((5, 4), prob=True)),
        (*both("BCEWithLogitsLoss", weight=w4, pos_weight=pw4, reduction="sum"), (3, 4),
         floats((3, 4), prob=True)),
    ]


@pytest.mark.parametrize("case", range(len(_module_cases())))
def test_loss_module_matches_torch(case: int) -> None:
    pytest.importorskip("torch")
    make_nc, make_torch, shape, make_target = _module_cases()[case]
    rng, seed = fresh_rng()
    x = rng.standard_normal(shape).astype(np.float32)
    t = make_target(rng)
    t = t.astype(np.float32) if t.dtype.kind == "f" else t
    m, tm = make_nc(), make_torch()
    xn = nc.tensor(x, requires_grad=True)
    out = m(xn, t)
    xt = torch.tensor(x, requires_grad=True)
    tout = tm(xt, torch.tensor(t))
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g).reshape(tout.shape))
    msg = f"{type(m).__name__} (seed {seed})"
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=msg)
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=msg)


def test_loss_module_buffers_and_state_dict() -> None:
    w = nc.tensor([1.0, 2.0, 3.0])
    m = nc.nn.CrossEntropyLoss(weight=w)
    assert list(m.state_dict()) == ["weight"] and m.weight is w
    assert list(nc.nn.CrossEntropyLoss().state_dict()) == []
    b = nc.nn.BCEWithLogitsLoss(pos_weight=nc.ones(3))
    assert list(b.state_dict()) == ["pos_weight"]
    if torch is not None:
        tb = torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3))
        assert list(tb.state_dict()) == list(b.state_dict())
    m.double()
    assert m.weight.dtype == np.float64
    assert F.cross_entropy(nc.randn(2, 3, dtype=np.float64), np.array([0, 2])).dtype == np.float64
    assert repr(nc.nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_loss_module_legacy_flags_and_bad_reduction() -> None:
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        m = nc.nn.MSELoss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning):
        assert nc.nn.L1Loss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="NLLLoss: reduction must be 'none', 'mean' or 'sum'"):
        nc.nn.NLLLoss(reduction="batchmean")
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be in \[0, 1\]"):
        nc.nn.CrossEntropyLoss(label_smoothing=-0.5)
