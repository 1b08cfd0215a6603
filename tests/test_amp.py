"""``nncore.amp``: GradScaler's loss scaling against PyTorch's on the CPU, and the CUDA spellings
that disable themselves on a machine without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim

torch = pytest.importorskip("torch")


def _train(lib, scaler_cls, bad_steps: set[int]) -> tuple[list[float], np.ndarray]:
    lib.manual_seed(0)
    w0 = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    model = lib.nn.Linear(3, 2, bias=False)
    model.weight.data[...] = lib.tensor(w0)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    scaler = scaler_cls("cpu", init_scale=8.0, growth_interval=2)
    x = lib.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    scales = []
    for step in range(7):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        if step in bad_steps:
            loss = loss * float("inf")
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, model.weight.detach().numpy().copy()


def test_grad_scaler_matches_torch() -> None:
    ours = _train(nc, nc.amp.GradScaler, {1, 4})
    theirs = _train(torch, torch.amp.GradScaler, {1, 4})
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)


def test_grad_scaler_state_and_errors() -> None:
    scaler = nc.amp.GradScaler("cpu", init_scale=4.0)
    state = scaler.state_dict()
    other = nc.amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.get_scale() == 4.0
    p = nn.Parameter(nc.ones(2))
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    with pytest.raises(ValueError, match="growth factor"):
        nc.amp.GradScaler("cpu", growth_factor=0.5)


def test_cuda_spellings_disable_themselves() -> None:
    with pytest.warns(UserWarning, match="CUDA is not available"):
        scaler = nc.cuda.amp.GradScaler(enabled=True)
    assert not scaler.is_enabled()
    p = nn.Parameter(nc.ones(2))
    opt = optim.SGD([p], lr=0.5)
    loss = (p * 2).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])
    assert not nc.cuda.amp.GradScaler(enabled=False).is_enabled()
    with pytest.warns(UserWarning, match="CUDA is not available"):
        with nc.autocast("cuda"):
            pass
    with nc.amp.autocast(device_type="cpu", dtype=nc.bfloat16):
        y = nc.ones(2) * 2
    assert y.dtype == nc.float32
    with nc.cpu.amp.autocast():
        pass
