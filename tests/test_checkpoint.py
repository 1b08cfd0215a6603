"""Checkpoints: bit-identical resume, RNG and loader state, refusing other architectures,
atomic writes."""

from __future__ import annotations

import copy
import math
import os
from collections import Counter

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim
from nncore import random as nrandom
from nncore.data import DataLoader
from nncore.data.datasets import make_classification
from nncore.serialization import _safetensors
from nncore.train import (
    EarlyStopping,
    ModelCheckpoint,
    fit,
    load_checkpoint,
    save_checkpoint,
)


def _setup(seed: int, schedule: str):
    nc.manual_seed(seed)
    train = make_classification(240, 12, 3, seed=1)
    val = make_classification(90, 12, 3, seed=2)
    model = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Dropout(0.3), nn.Linear(24, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    if schedule == "batch":
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5 * 8)
    else:
        sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loaders = (DataLoader(train, batch_size=32, shuffle=True),
               DataLoader(val, batch_size=45))
    return model, opt, sched, loaders


def _run(seed, schedule, epochs, ckdir, resume=None):
    model, opt, sched, (tl, vl) = _setup(seed, schedule)
    stopper = EarlyStopping(monitor="val_accuracy", patience=10)
    history = fit(model, nn.CrossEntropyLoss(), opt, tl, vl, epochs=epochs, scheduler=sched,
                  scheduler_interval=schedule, callbacks=[stopper, ModelCheckpoint(ckdir)],
                  resume_from=resume, progress=False)
    return model, opt, history, stopper, nrandom.get_rng_state_dict()["bit_generator"]


@pytest.mark.parametrize("schedule", ["epoch", "batch"])
def test_resume_after_epoch_k_is_bit_identical(tmp_path, schedule) -> None:
    threads = nc.get_num_threads()
    nc.set_num_threads(2)
    try:
        full, full_opt, full_hist, full_stop, full_rng = _run(3, schedule, 5, tmp_path / "a")
        _run(3, schedule, 2, tmp_path / "b")
        # NOTE: a different seed for the fresh objects: everything must come from the file.
        resumed, res_opt, res_hist, res_stop, res_rng = _run(99, schedule, 5, tmp_path / "b",
                                                    resume=tmp_path / "b" / "last.ckpt")
    finally:
        nc.set_num_threads(threads)
    for key, value in full.state_dict().items():
        np.testing.assert_array_equal(value, resumed.state_dict()[key], err_msg=key)
    for p, q in zip(full.parameters(), resumed.parameters()):
        for name, arr in full_opt.state[p].items():
            np.testing.assert_array_equal(arr, res_opt.state[q][name], err_msg=name)
    assert full_opt.param_groups[0]["lr"] == res_opt.param_groups[0]["lr"]
    assert full_hist.epoch == res_hist.epoch == [0, 1, 2, 3, 4]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert full_hist.history[key] == res_hist.history[key], key
    assert (full_stop.best, full_stop.best_epoch, full_stop.wait) == \
        (res_stop.best, res_stop.best_epoch, res_stop.wait)
    assert full_rng == res_rng  # the same dropout draws happened


def test_interrupted_run_resumes_from_the_last_checkpoint(tmp_path) -> None:
    class Crash(Exception):
        pass

    class CrashAfter(EarlyStopping):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                raise Crash

    full, *_ = _run(5, "epoch", 4, tmp_path / "a")
    model, opt, sched, (tl, vl) = _setup(5, "epoch")
    with pytest.raises(Crash):
        fit(model, nn.CrossEntropyLoss(), opt, tl, vl, epochs=4, scheduler=sched,
            callbacks=[CrashAfter(patience=10), ModelCheckpoint(tmp_path / "b")], progress=False)
    resumed, *_ = _run(6, "epoch", 4, tmp_path / "b", resume=tmp_path / "b" / "last.ckpt")
    # NOTE: the crash came before the checkpoint of epoch 2, so the resume redoes it.
    for key, value in full.state_dict().items():
        np.testing.assert_array_equal(value, resumed.state_dict()[key], err_msg=key)


def test_rng_state_roundtrip_and_initial_seed() -> None:
    nc.manual_seed(1234)
    assert nrandom.initial_seed() == 1234
    state = nrandom.get_rng_state()
    a = nc.randn(5).data
    nc.manual_seed(7)
    nrandom.set_rng_state(state)
    np.testing.assert_array_equal(nc.randn(5).data, a)
    assert nrandom.initial_seed() == 1234
    with pytest.raises(ValueError, match="set_rng_state: expected a dict from get_rng_state"):
        nrandom.set_rng_state({"oops": 1})
    bad = {"seed": 1, "bit_generator": {"bit_generator": "MT19937", "state": {}}}
    with pytest.raises(ValueError, match="bit generator 'MT19937', expected 'PCG64'"):
        nrandom.set_rng_state(bad)


def test_loader_state_restores_the_shuffle_order() -> None:
    data = make_classification(50, 3, 2, seed=0)
    loader = DataLoader(data, batch_size=50, shuffle=True, seed=11)
    next(iter(loader))
    state = loader.state_dict()
    expected = next(iter(loader))[1].data
    other = DataLoader(data, batch_size=50, shuffle=True, seed=5)
    other.load_state_dict(state)
    np.testing.assert_array_equal(next(iter(other))[1].data, expected)
    assert other.seed == 11
    with pytest.raises(ValueError, match="DataLoader.load_state_dict: expected a dict"):
        other.load_state_dict({"seed": 1})


@pytest.mark.parametrize("make", [
    lambda o: optim.lr_scheduler.ReduceLROnPlateau(o, patience=1),
    lambda o: optim.lr_scheduler.MultiStepLR(o, milestones=[2, 2, 5], gamma=0.3),
    lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=7),
])
def test_scheduler_and_optimizer_state_roundtrip(tmp_path, make) -> None:
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = make(opt)
    for _ in range(3):
        model(nc.randn(3, 4)).sum().backward()
        opt.step()
        if isinstance(sched, optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(1.0)
        else:
            sched.step()
    save_checkpoint(tmp_path / "c.ckpt", model, opt, sched, epoch=3, extra={"note": (1, "x")})
    model2 = nn.Linear(4, 2)
    opt2 = optim.SGD(model2.parameters(), lr=0.5, momentum=0.9)
    sched2 = make(opt2)
    info = load_checkpoint(tmp_path / "c.ckpt", model2, opt2, sched2)
    assert info == {"epoch": 3, "extra": {"note": (1, "x")}}
    s1, s2 = sched.state_dict(), sched2.state_dict()
    assert s1.keys() == s2.keys()
    for key in s1:
        assert s1[key] == s2[key] or (isinstance(s1[key], float) and math.isnan(s1[key])), key
    if isinstance(sched, optim.lr_scheduler.MultiStepLR):
        assert isinstance(sched2.milestones, Counter)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"],
                                      opt2.state[q]["momentum_buffer"])


def test_tensor_values_in_saved_states_roundtrip(tmp_path) -> None:
    # NOTE: PyTorch-style state dicts (an optimizer's moments and "step") hold Tensors.
    model = nn.Linear(3, 2)
    extra = {"step": nc.tensor(4.0), "moments": [nc.ones(2, 3), nc.zeros(2, requires_grad=True)]}
    save_checkpoint(tmp_path / "c.ckpt", model, epoch=1, extra=extra)
    back = load_checkpoint(tmp_path / "c.ckpt", nn.Linear(3, 2))["extra"]
    assert type(back["step"]) is nc.Tensor and back["step"].item() == 4.0
    np.testing.assert_array_equal(back["moments"][0].numpy(), np.ones((2, 3), np.float32))
    assert back["moments"][1].requires_grad and not back["step"].requires_grad


def _mlp(hidden: int = 8, depth: int = 2) -> nn.Module:
    layers = [nn.Linear(4, hidden), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, 2))


def test_checkpoint_from_another_architecture_is_refused(tmp_path) -> None:
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, _mlp(), epoch=1)
    wider = _mlp(hidden=16)
    before = copy.deepcopy(wider.state_dict())
    with pytest.raises(ValueError, match=r"different architecture \(Sequential\).*shape "
                                         r"mismatches \[0.weight: checkpoint \(8, 4\) vs model "
                                         r"\(16, 4\); 0.bias"):
        load_checkpoint(path, wider)
    for key, value in before.items():  # nothing loaded half-way
        np.testing.assert_array_equal(value, wider.state_dict()[key])
    with pytest.raises(ValueError, match=r"missing keys \['4.weight', '4.bias'\]"):
        load_checkpoint(path, _mlp(depth=3))
    with pytest.raises(ValueError, match=r"unexpected keys \['weight', 'bias'\]"):
        save_checkpoint(path, nn.Linear(4, 2))
        load_checkpoint(path, nn.Sequential(nn.Linear(4, 2)))


def test_optimizer_scheduler_and_loader_mismatches_are_refused(tmp_path) -> None:
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, model, opt, optim.lr_scheduler.StepLR(opt, 2), epoch=1)
    adam = optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="holds a SGD state, the optimizer is a Adam"):
        load_checkpoint(path, model, adam)
    with pytest.raises(ValueError, match="holds a StepLR scheduler state, the scheduler is a "
                                         "ExponentialLR"):
        load_checkpoint(path, model, opt, optim.lr_scheduler.ExponentialLR(opt, 0.9))
    loader = DataLoader(make_classification(10, 4, 2, seed=0), batch_size=2)
    with pytest.raises(ValueError, match="no state for loader 'train'"):
        load_checkpoint(path, model, opt, loaders={"train": loader})
    half = optim.SGD(list(model.parameters())[:2], lr=0.1)
    with pytest.raises(ValueError, match=r"optimizer groups of sizes \[4\], the optimizer \[2\]"):
        load_checkpoint(path, model, half)


def test_model_files_and_junk_are_not_checkpoints(tmp_path) -> None:
    model = _mlp()
    nc.save(model.state_dict(), tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="not an nncore checkpoint"):
        load_checkpoint(tmp_path / "w.safetensors", model)
    (tmp_path / "junk.ckpt").write_bytes(b"\x00" * 40)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_checkpoint(tmp_path / "junk.ckpt", model)
    with pytest.raises(TypeError, match="save_checkpoint: model must be an nncore.nn.Module"):
        save_checkpoint(tmp_path / "x.ckpt", {"w": np.zeros(2)})
    with pytest.raises(TypeError, match=r"extra\['f'\] is a function"):
        save_checkpoint(tmp_path / "x.ckpt", model, extra={"f": lambda: 0})
    assert not (tmp_path / "x.ckpt").exists()


def test_exception_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path,
                                                                      monkeypatch) -> None:
    model = _mlp()
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, model, epoch=1)
    before = path.read_bytes()

    def broken(f, arrays) -> None:
        for arr in arrays:
            f.write(memoryview(arr.reshape(-1).view(np.uint8)))
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-write

    monkeypatch.setattr(_safetensors, "_write_arrays", broken)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path, _mlp())["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]
