"""nncore.explain: exact attributions of linear models, shap and lime as oracles, PNG maps."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore import explain, nn


def _linear(d: int, k: int, seed: int) -> nn.Linear:
    nc.manual_seed(seed)
    lin = nn.Linear(d, k)
    lin.weight.data = lin.weight.data.double()
    lin.bias.data = lin.bias.data.double()
    return lin


def _mlp(d: int, k: int, seed: int) -> nn.Module:
    nc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, k))
    for p in model.parameters():
        p.data = p.data.double()
    return model


def _quiet(fn, *args, **kwargs):
    """Call an oracle library, whose own deprecation chatter is not under test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---- gradient methods -------------------------------------------------------------------


@pytest.mark.parametrize("n,d,k", [(1, 1, 1), (3, 17, 4), (5, 3, 2)])
def test_gradient_methods_exact_on_linear(n, d, k):
    rng, seed = fresh_rng()
    lin = _linear(d, k, seed)
    w = lin.weight.data
    x = rng.normal(size=(n, d))
    target = rng.integers(0, k, n)
    sal = explain.saliency(lin, x, target=target)
    np.testing.assert_allclose(sal, w[target], rtol=1e-12, err_msg=f"seed {seed}")
    np.testing.assert_allclose(explain.saliency(lin, x, target=target, abs=True),
                               np.abs(w[target]), rtol=1e-12)
    np.testing.assert_allclose(explain.gradient_x_input(lin, x, target=target), x * w[target],
                               rtol=1e-12, err_msg=f"seed {seed}")
    base = rng.normal(size=(d,))
    for method in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        ig = explain.integrated_gradients(lin, x, baseline=base, target=target, steps=7,
                                          method=method)
        np.testing.assert_allclose(ig.attributions, (x - base) * w[target], rtol=1e-10,
                                   atol=1e-12, err_msg=f"{method} seed {seed}")
        np.testing.assert_allclose(ig.delta, 0, atol=1e-10)


def test_default_target_is_predicted_class_and_model_state_untouched():
    rng, seed = fresh_rng()
    lin = _linear(6, 3, seed)
    x = rng.normal(size=(4, 6))
    pred = (x @ lin.weight.data.T + lin.bias.data).argmax(1)
    np.testing.assert_allclose(explain.saliency(lin, x), lin.weight.data[pred])
    assert lin.training and all(p.requires_grad and p.grad is None for p in lin.parameters())


def test_integrated_gradients_completeness_on_mlp():
    rng, seed = fresh_rng()
    model = _mlp(9, 3, seed)
    x = rng.normal(size=(5, 9))
    ig = explain.integrated_gradients(model, x, steps=32, internal_batch_size=50)
    assert ig.attributions.shape == x.shape
    assert np.abs(ig.delta).max() < 1e-6, f"seed {seed}: {ig.delta}"
    # Same answer however the path points are batched.
    again = explain.integrated_gradients(model, x, steps=32)
    np.testing.assert_allclose(again.attributions, ig.attributions, rtol=1e-12, atol=1e-14)
    coarse = explain.integrated_gradients(model, x, steps=3, method="riemann_trapezoid")
    fine = explain.integrated_gradients(model, x, steps=300, method="riemann_trapezoid")
    assert np.abs(fine.delta).max() < np.abs(coarse.delta).max()
    assert np.abs(fine.delta).max() < 1e-3


def test_gradient_methods_float32_images():
    rng, _ = fresh_rng()
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 5, 4))
    x = rng.random((3, 2, 5, 5)).astype(np.float32)
    sal = explain.saliency(model, nc.tensor(x), target=2)
    assert sal.shape == x.shape and sal.dtype == np.float32
    w = model[1].weight.data[2].reshape(2, 5, 5)
    np.testing.assert_allclose(sal, np.broadcast_to(w, x.shape), rtol=1e-6)


def test_gradient_bad_input():
    lin = _linear(4, 2, 0)
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="integrated_gradients: baseline of shape"):
        explain.integrated_gradients(lin, x, baseline=np.zeros(5))
    with pytest.raises(ValueError, match="integrated_gradients: steps"):
        explain.integrated_gradients(lin, x, steps=0)
    with pytest.raises(ValueError, match="integrated_gradients: method"):
        explain.integrated_gradients(lin, x, method="simpson")
    with pytest.raises(ValueError, match=r"saliency: target .* out of range for 2"):
        explain.saliency(lin, x, target=2)
    with pytest.raises(ValueError, match=r"saliency: target has shape \(2,\)"):
        explain.saliency(lin, x, target=np.array([0, 1]))
    with pytest.raises(ValueError, match="saliency: expected a batch"):
        explain.saliency(lin, np.float64(1.0))


# ---- KernelSHAP -------------------------------------------------------------------------


@pytest.mark.parametrize("d,nsamples", [(1, "auto"), (4, "auto"), (12, 300)])
def test_kernel_shap_exact_on_linear(d, nsamples):
    rng, seed = fresh_rng()
    lin = _linear(d, 2, seed)
    x, bg = rng.normal(size=(3, d)), rng.normal(size=(7, d))
    res = explain.kernel_shap(lin, x, bg, nsamples=nsamples, target=1, seed=seed)
    expected = lin.weight.data[1] * (x - bg.mean(axis=0))
    np.testing.assert_allclose(res.values, expected, rtol=1e-8, atol=1e-10,
                               err_msg=f"seed {seed}")
    all_out = explain.kernel_shap(lin, x, bg, nsamples=nsamples, seed=seed)
    assert all_out.values.shape == (3, d, 2)
    np.testing.assert_allclose(all_out.values[..., 1], expected, rtol=1e-8, atol=1e-10)


def test_kernel_shap_groups_on_patches():
    rng, seed = fresh_rng()
    w = rng.normal(size=(1, 4, 4))
    f = lambda a: (a * w).sum(axis=(1, 2, 3))  # noqa: E731
    x, bg = rng.normal(size=(2, 1, 4, 4)), rng.normal(size=(5, 1, 4, 4))
    groups = explain.patch_segments(4, 4, 2)[None]
    res = explain.kernel_shap(f, x, bg, groups=groups)
    per_pixel = (w * (x - bg.mean(axis=0))).reshape(2, -1)
    expected = np.stack([np.bincount(groups.ravel(), row, minlength=4) for row in per_pixel])
    np.testing.assert_allclose(res.values, expected, rtol=1e-8, atol=1e-10,
                               err_msg=f"seed {seed}")


def _nonlinear(a: np.ndarray) -> np.ndarray:
    z = a @ np.array([1.0, -2.0, 0.5, 0.3, 0.1, 0.0])[: a.shape[1]]
    return np.tanh(z + a[:, 0] * a[:, 1]) + 0.5 * a[:, 2] ** 2


def test_kernel_shap_agrees_with_shap_package():
    shap = _quiet(pytest.importorskip, "shap")
    rng, seed = fresh_rng()
    x, bg = rng.normal(size=(4, 6)), rng.normal(size=(12, 6))
    x[0, 3] = bg[0, 3]  # a feature equal to one background row still varies
    ours = explain.kernel_shap(_nonlinear, x, bg)
    ref = _quiet(shap.KernelExplainer, _nonlinear, bg)
    values = _quiet(ref.shap_values, x, nsamples=200, silent=True)
    np.testing.assert_allclose(ours.values, values, atol=1e-6, err_msg=f"seed {seed}")
    assert ours.expected_value == pytest.approx(float(ref.expected_value), abs=1e-12)


def test_kernel_shap_sampled_close_to_exact():
    rng, seed = fresh_rng()
    f = lambda a: np.tanh(a[:, :5].sum(1)) * a[:, 5] + np.sin(a[:, 6:]).sum(1)  # noqa: E731
    x, bg = rng.normal(size=(2, 11)), rng.normal(size=(6, 11))
    exact = explain.kernel_shap(f, x, bg, nsamples=4096)
    sampled = explain.kernel_shap(f, x, bg, nsamples=1000, seed=seed)
    # Efficiency holds exactly for the sampled estimate too.
    np.testing.assert_allclose(sampled.values.sum(1), exact.values.sum(1), atol=1e-10)
    scale = np.abs(exact.values).max()
    assert np.abs(sampled.values - exact.values).max() < 0.1 * scale, f"seed {seed}"


def test_kernel_shap_bad_input():
    f = lambda a: a.sum(1)  # noqa: E731
    with pytest.raises(ValueError, match=r"kernel_shap: background \(3, 4\) must be"):
        explain.kernel_shap(f, np.zeros((2, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="kernel_shap: expected a batch x"):
        explain.kernel_shap(f, np.zeros(5), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="kernel_shap: nsamples"):
        explain.kernel_shap(f, np.zeros((2, 5)), np.zeros((3, 5)), nsamples=1)
    with pytest.raises(ValueError, match="kernel_shap: target 3 out of range"):
        explain.kernel_shap(f, np.zeros((2, 5)), np.zeros((3, 5)), target=3)
    with pytest.raises(ValueError, match="kernel_shap: groups"):
        explain.kernel_shap(f, np.zeros((2, 5)), np.zeros((3, 5)), groups=np.zeros(4, int))
    with pytest.raises(ValueError, match=r"kernel_shap: the model returned shape"):
        explain.kernel_shap(lambda a: a.sum(), np.ones((2, 5)), np.zeros((3, 5)))


# ---- LIME -------------------------------------------------------------------------------


def _proba(weights: np.ndarray):
    def predict_proba(a: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(a @ weights)))
        return np.stack([1 - p, p], axis=1)

    return predict_proba


def test_lime_tabular_top_features_agree_with_lime():
    lime_tabular = _quiet(pytest.importorskip, "lime.lime_tabular")
    rng, seed = fresh_rng()
    w = np.array([2.5, 0.0, -1.5, 0.0, 0.8, 0.0, 0.1])
    train = rng.normal(size=(400, 7))
    x = train[0] * 0.3
    f = _proba(w)
    ours = explain.lime_tabular(f, x, train, target=1, num_samples=3000, seed=seed)
    ref = _quiet(lime_tabular.LimeTabularExplainer, train, discretize_continuous=False,
                 sample_around_instance=True, random_state=seed)
    exp = _quiet(ref.explain_instance, x, f, labels=(1,), num_features=3, num_samples=3000)
    ref_top = [i for i, _ in exp.as_map()[1]]
    assert list(ours.top_features[:3]) == ref_top == [0, 2, 4], f"seed {seed}"
    ref_coef = dict(exp.as_map()[1])
    for i in ref_top:
        assert np.sign(ours.coefficients[i]) == np.sign(ref_coef[i]) == np.sign(w[i])
    # The same surrogate fitted to other random perturbations: close, not equal.
    assert ours.target == 1
    assert abs(ours.local_prediction - float(exp.local_pred[0])) < 0.03, f"seed {seed}"
    assert abs(ours.score - exp.score) < 0.05, f"seed {seed}"
    only3 = explain.lime_tabular(f, x, train, target=1, num_samples=3000, num_features=3)
    assert sorted(only3.top_features) == [0, 2, 4]
    assert np.count_nonzero(only3.coefficients) == 3


def test_lime_image_finds_the_patch_the_model_looks_at():
    rng, seed = fresh_rng()
    img = rng.random((1, 12, 12))
    # Class 1 fires on the brightness of the top-right 4x4 patch (segment 2 of a 3x3 grid).
    def model(a):
        s = a[:, 0, :4, 8:].mean(axis=(1, 2)) * 5
        return np.stack([-s, s], axis=1)

    res = explain.lime_image(model, img, target=1, patch_size=4, hide_color=0.0,
                             num_samples=300, seed=seed)
    assert res.segments.shape == (12, 12) and res.coefficients.shape == (9,)
    assert res.top_features[0] == 2, f"seed {seed}: {res.coefficients}"
    heat = res.coefficients[res.segments]
    assert heat[:4, 8:].min() > np.abs(heat[4:, :8]).max()
    seg = explain.patch_segments(12, 12, 6)
    assert explain.lime_image(model, img, segments=seg, hide_color=0.0,
                              num_samples=50).coefficients.shape == (4,)


def test_lime_bad_input():
    f = _proba(np.ones(3))
    with pytest.raises(ValueError, match=r"lime_tabular: expected one instance x of shape"):
        explain.lime_tabular(f, np.zeros((2, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"lime_tabular: training_data must be \(T, 3\)"):
        explain.lime_tabular(f, np.zeros(3), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="lime_tabular: num_samples"):
        explain.lime_tabular(f, np.zeros(3), np.zeros((5, 3)), num_samples=1)
    with pytest.raises(ValueError, match=r"lime_image: segments must be integer labels"):
        explain.lime_image(f, np.zeros((4, 4)), segments=np.zeros((3, 3), int))
    with pytest.raises(ValueError, match=r"lime_image: expected an image"):
        explain.lime_image(f, np.zeros(4))


# ---- rendering --------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("shape,with_image", [((8, 8), False), ((3, 8, 6), True), ((5,), False)])
def test_render_attribution_writes_a_png_atomically(tmp_path, shape, with_image):
    pytest.importorskip("matplotlib")
    rng, _ = fresh_rng()
    attr = rng.normal(size=shape)
    path = tmp_path / "map.png"
    explain.render_attribution(attr, path, image=rng.random(shape) if with_image else None,
                               title="saliency")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and b"IEND" in data[-12:]
    assert os.listdir(tmp_path) == ["map.png"]  # no temporary file left behind


def test_render_bad_input_writes_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=r"attribution_png: expected an attribution map"):
        explain.render_attribution(np.zeros((2, 2, 2, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="attribution_png: image"):
        explain.render_attribution(np.zeros((4, 4)), tmp_path / "x.png", image=np.zeros((5, 5)))
    assert os.listdir(tmp_path) == []
