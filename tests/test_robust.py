"""nncore.robust: attack budgets and ranges, PGD vs FGSM, adversarial training on MNIST."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore import nn, optim, robust
from nncore.data import DataLoader, TensorDataset
from nncore.train import train_epoch


def _blobs(rng, n=400, d=10):
    """Two Gaussian classes in [0, 1]^d, separable but with a small margin."""
    y = rng.integers(0, 2, n)
    x = np.clip(0.5 + 0.08 * (2 * y[:, None] - 1) + 0.1 * rng.standard_normal((n, d)), 0, 1)
    return x.astype(np.float32), y.astype(np.int64)


def _trained(x, y, seed, epochs=30):
    nc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.Tanh(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True, seed=seed)
    for _ in range(epochs):
        train_epoch(model, nn.CrossEntropyLoss(), opt, loader, progress=False)
    return model


@pytest.mark.parametrize("attack,norm", [("fgsm", "linf"), ("pgd", "linf"), ("pgd", "l2")])
@pytest.mark.parametrize("eps", [0.0, 0.03, 0.3])
def test_perturbations_stay_in_budget_and_range(attack, norm, eps):
    rng, seed = fresh_rng()
    nc.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 5, 7), nn.ReLU(), nn.Linear(7, 4))
    x = rng.random((6, 3, 5, 5)).astype(np.float32)
    x[0] = 0.0
    x[1] = 1.0  # at the edges of the range every step pushes outward
    y = rng.integers(0, 4, 6)
    kw = {} if attack == "fgsm" else {"norm": norm, "steps": 5, "seed": seed}
    adv = getattr(robust, attack)(model, nc.tensor(x), y, eps, **kw)
    assert isinstance(adv, nc.Tensor) and adv.shape == x.shape and adv.dtype == np.float32
    delta = (adv.numpy() - x).reshape(6, -1).astype(np.float64)
    if norm == "linf":
        assert np.abs(delta).max() <= eps + 1e-6, f"seed {seed}"
    else:
        assert np.linalg.norm(delta, axis=1).max() <= eps + 1e-5, f"seed {seed}"
    assert adv.numpy().min() >= 0.0 and adv.numpy().max() <= 1.0
    if eps > 0:
        assert np.abs(delta).max() > 0
    assert model.training and all(p.grad is None and p.requires_grad for p in model.parameters())


def test_no_clamp_and_targeted():
    rng, seed = fresh_rng()
    x, y = _blobs(rng)
    model = _trained(x, y, seed, epochs=5)
    free = robust.pgd(model, x * 10, y, 0.5, clamp=None, random_start=False)
    assert np.abs(free.numpy() - x * 10).max() == pytest.approx(0.5, abs=1e-5)
    # A targeted attack lowers the loss of the target label.
    target = 1 - y
    adv = robust.pgd(model, x, target, 0.2, targeted=True, steps=10, seed=seed)
    loss = nn.CrossEntropyLoss()
    before = float(loss(model(nc.tensor(x)), nc.tensor(target)).detach().numpy())
    after = float(loss(model(adv), nc.tensor(target)).detach().numpy())
    assert after < before, f"seed {seed}"


def test_pgd_lowers_accuracy_at_least_as_much_as_fgsm():
    rng, seed = fresh_rng()
    x, y = _blobs(rng)
    model = _trained(x, y, seed)
    eps = [0.0, 0.02, 0.05, 0.1]
    clean = robust.robust_accuracy(model, x, y, [0.0])[0.0]
    assert clean > 0.9, f"seed {seed}: the model did not learn ({clean})"
    acc_fgsm = robust.robust_accuracy(model, x, y, eps, attack="fgsm")
    acc_pgd = robust.robust_accuracy(model, x, y, eps, steps=20, seed=seed, batch_size=128)
    assert list(acc_pgd) == eps and acc_pgd[0.0] == acc_fgsm[0.0] == clean
    for e in eps:
        assert acc_pgd[e] <= acc_fgsm[e], f"seed {seed} eps {e}: {acc_pgd} vs {acc_fgsm}"
    assert acc_pgd[0.1] < clean
    values = list(acc_pgd.values())
    assert values == sorted(values, reverse=True)


def test_adversarial_loader_with_train_epoch():
    rng, seed = fresh_rng()
    x, y = _blobs(rng, n=120)
    nc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 2))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    adv = robust.AdversarialLoader(loader, model, eps=0.05, attack="fgsm", fraction=0.5)
    assert len(adv) == len(loader) == 4
    for (xa, ya), (xb, yb) in zip(adv, loader):
        k = round(0.5 * len(xb))
        assert np.array_equal(ya.numpy(), yb.numpy())
        assert np.array_equal(xa.data[k:], xb.data[k:])
        assert 0 < np.abs(xa.data[:k] - xb.data[:k]).max() <= 0.05 + 1e-6
    w0 = model[0].weight.detach().numpy().copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    stats = train_epoch(model, nn.CrossEntropyLoss(), opt, adv, progress=False)
    assert np.isfinite(stats["loss"]) and not np.array_equal(w0, model[0].weight.data)
    xb, yb = next(iter(loader))
    one = robust.adversarial_batch(model, xb, yb, eps=0.05, attack="pgd", steps=2, seed=seed)
    assert one.shape == xb.shape


def test_bad_input():
    model = nn.Sequential(nn.Linear(4, 2))
    x, y = np.zeros((3, 4), np.float32), np.zeros(3, np.int64)
    with pytest.raises(ValueError, match=r"fgsm: eps must be a finite number >= 0, got -0.1"):
        robust.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match=r"pgd: labels of shape \(2,\) do not match inputs"):
        robust.pgd(model, x, y[:2], 0.1)
    with pytest.raises(ValueError, match="pgd: norm must be 'linf' or 'l2'"):
        robust.pgd(model, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match="pgd: steps must be a positive integer"):
        robust.pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="pgd: clamp must be a"):
        robust.pgd(model, x, y, 0.1, clamp=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"robust_accuracy: eps must be .* got -1.0"):
        robust.robust_accuracy(model, x, y, [0.1, -1.0])
    with pytest.raises(ValueError, match="robust_accuracy: attack must be"):
        robust.robust_accuracy(model, x, y, [0.1], attack="cw")
    with pytest.raises(ValueError, match="AdversarialLoader: fraction"):
        robust.AdversarialLoader([], model, eps=0.1, fraction=0)
    with pytest.raises(ValueError, match="AdversarialLoader: eps"):
        robust.AdversarialLoader([], model, eps=-1)


@pytest.mark.skipif(not os.environ.get("NNCORE_DATA"), reason="NNCORE_DATA (MNIST files) unset")
def test_adversarial_training_raises_pgd_accuracy_on_mnist():
    from nncore.data.datasets import MNIST

    train = MNIST(os.environ["NNCORE_DATA"], train=True, download=False)
    test = MNIST(os.environ["NNCORE_DATA"], train=False, download=False)
    x_tr, y_tr = train.data[:10000].reshape(-1, 784), train.targets[:10000]
    x_te, y_te = test.data[:1000].reshape(-1, 784), test.targets[:1000]

    def fit(adversarial: bool) -> nn.Module:
        nc.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=64, shuffle=True, seed=0)
        if adversarial:
            # NOTE: one PGD step from a random start (Wong et al., 2020) keeps this fast.
            loader = robust.AdversarialLoader(loader, model, eps=0.1, attack="pgd", steps=1,
                                              alpha=0.125)
        for _ in range(2):
            train_epoch(model, nn.CrossEntropyLoss(), opt, loader, progress=False)
        return model

    standard, hardened = fit(False), fit(True)
    kw = {"steps": 10, "seed": 0}
    acc_std = robust.robust_accuracy(standard, x_te, y_te, [0.0, 0.1], **kw)
    acc_adv = robust.robust_accuracy(hardened, x_te, y_te, [0.0, 0.1], **kw)
    assert acc_std[0.0] > 0.85 and acc_adv[0.0] > 0.7
    assert acc_adv[0.1] > acc_std[0.1] + 0.1, f"{acc_adv} vs {acc_std}"
