"""fit / evaluate / train_epoch and the callbacks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim
from nncore.data import DataLoader
from nncore.data.datasets import make_classification, make_regression
from nncore.train import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    LearningRateMonitor,
    ModelCheckpoint,
    evaluate,
    fit,
    loop,
)


def _data(seed: int = 7, n: int = 300):
    train = make_classification(n, 8, 3, class_sep=3.0, seed=seed)
    val = make_classification(120, 8, 3, class_sep=3.0, seed=seed)
    return (DataLoader(train, batch_size=32, shuffle=True, seed=1),
            DataLoader(val, batch_size=60))


def _model(dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def test_fit_learns_and_records_history() -> None:
    nc.manual_seed(0)
    tl, vl = _data()
    model = _model()
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-2), tl, vl,
                  epochs=8, progress=False)
    h = history.history
    assert history.epoch == list(range(8))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "samples_per_s", "time"} <= set(h)
    assert all(len(v) == 8 for v in h.values())
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    assert evaluate(model, nn.CrossEntropyLoss(), vl) == pytest.approx(
        {"loss": h["val_loss"][-1], "accuracy": h["val_accuracy"][-1]})
    assert model.training  # left in train mode, as after a manual loop


def test_fit_matches_a_hand_written_loop_bit_for_bit() -> None:
    def run(use_fit: bool) -> dict[str, np.ndarray]:
        nc.manual_seed(4)
        tl, _ = _data()
        model = _model(dropout=0.2)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3 * len(tl))
        loss_fn = nn.CrossEntropyLoss()
        if use_fit:
            fit(model, loss_fn, opt, tl, epochs=3, scheduler=sched, scheduler_interval="batch",
                clip_grad_norm=1.0, progress=False)
        else:
            for _ in range(3):
                for x, y in tl:
                    loss = loss_fn(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    sched.step()
        return model.state_dict()

    a, b = run(True), run(False)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_metrics_by_name_and_callable_and_regression() -> None:
    nc.manual_seed(0)
    tl, vl = _data()
    model = _model()

    def top2(y, out):
        return float(np.mean((np.argsort(out, 1)[:, -2:] == y[:, None]).any(1)))

    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), tl, vl,
            epochs=2, metrics=["accuracy", "f1_macro", top2], progress=False).history
    assert {"accuracy", "f1_macro", "top2", "val_f1_macro", "val_top2"} <= set(h)
    assert all(a <= t for a, t in zip(h["val_accuracy"], h["val_top2"]))
    ds = make_regression(200, 5, noise=0.1, seed=0)
    loader = DataLoader(ds, batch_size=20, shuffle=True)
    reg = nn.Linear(5, 1)
    h = fit(reg, nn.MSELoss(), optim.SGD(reg.parameters(), lr=0.05), loader, loader, epochs=8,
            metrics=["mse", "r2"], progress=False).history
    assert "accuracy" not in h and h["val_r2"][-1] > 0.95
    assert h["val_mse"][-1] == pytest.approx(h["val_loss"][-1], rel=1e-5)
    # default metrics: accuracy for integer labels only
    h = fit(reg, nn.MSELoss(), optim.SGD(reg.parameters(), lr=0.01), loader, epochs=1,
            progress=False).history
    assert set(h) == {"loss", "samples_per_s", "time"}


def test_callback_protocol_order_and_stop_training() -> None:
    calls: list[str] = []

    class Spy(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")
            assert self.model is model and self.optimizer is opt

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_batch_end(self, batch, logs):
            assert logs["size"] in (32, 300 - 9 * 32) and np.isfinite(logs["loss"])
            calls.append("batch")

        def on_epoch_end(self, epoch, logs):
            calls.append(f"epoch_end {epoch}")
            self.stop_training = epoch == 1

        def on_train_end(self, logs=None):
            calls.append("train_end")

    tl, _ = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.01)
    seen = []
    h = fit(model, nn.CrossEntropyLoss(), opt, tl, epochs=5, progress=False,
            callbacks=[Spy(), LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))])
    assert h.epoch == [0, 1] and seen == [0, 1]
    batch = ["batch"] * len(tl)
    assert calls == ["train_begin", "epoch_begin 0", *batch, "epoch_end 0", "epoch_begin 1",
                     *batch, "epoch_end 1", "train_end"]


def test_early_stopping_patience_and_restore_best_weights() -> None:
    tl, vl = _data()
    model = _model()
    weights = []
    keep = LambdaCallback(
        on_epoch_end=lambda e, logs: weights.append(copy.deepcopy(model.state_dict())))
    # NOTE: monitoring the training loss with mode max: only the first epoch is ever "best".
    stop = EarlyStopping(monitor="loss", mode="max", patience=2, restore_best_weights=True)
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), tl, vl,
            epochs=20, callbacks=[keep, stop], progress=False)
    assert len(h.epoch) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 0
    for key, value in weights[0].items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.raises(ValueError, match="EarlyStopping: patience must be a non-negative"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="EarlyStopping: mode must be 'min', 'max' or 'auto'"):
        EarlyStopping(mode="up")


def test_model_checkpoint_writes_best_and_last(tmp_path) -> None:
    nc.manual_seed(0)
    tl, vl = _data()
    model = _model()
    snapshots = []
    ck = ModelCheckpoint(tmp_path / "ck", monitor="val_accuracy")
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), tl, vl,
            epochs=4, callbacks=[ck, LambdaCallback(
                on_epoch_end=lambda e, logs: snapshots.append(copy.deepcopy(model.state_dict())))],
            progress=False)
    best = int(np.argmax(h.history["val_accuracy"]))
    assert ck.best_epoch == best and ck.best == max(h.history["val_accuracy"])
    saved = nc.load(ck.best_path)
    for key, value in snapshots[best].items():
        np.testing.assert_array_equal(saved[key], value)
    meta = nc.serialization.load_metadata(ck.best_path)
    assert meta["epoch"] == str(best + 1) and meta["monitor"] == "val_accuracy"
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["best.safetensors",
                                                                    "last.ckpt"]


def test_schedulers_per_epoch_per_batch_and_plateau() -> None:
    tl, vl = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    lrs = LearningRateMonitor(per_batch=True)
    h = fit(model, nn.CrossEntropyLoss(), opt, tl, epochs=2, progress=False, callbacks=[lrs],
            scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2 * len(tl)),
            scheduler_interval="batch")
    assert len(lrs.batch_lrs) == 2 * len(tl)
    assert h.history["lr"] == [0.1, lrs.batch_lrs[len(tl) - 1][0]]
    assert lrs.batch_lrs[-1][0] == pytest.approx(0.0, abs=1e-12)

    fed = []

    class Plateau(optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics, epoch=None):
            fed.append(metrics)
            super().step(metrics, epoch)

    opt = optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, tl, vl, epochs=3, progress=False,
            scheduler=Plateau(opt, patience=0))
    assert fed == h.history["val_loss"]
    opt = optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, tl, epochs=2, progress=False,
            scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
            callbacks=[LearningRateMonitor()])
    assert h.history["lr"] == [0.1, 0.05] and opt.param_groups[0]["lr"] == 0.025


def test_clip_grad_norm_and_batch_transform(monkeypatch) -> None:
    tl, _ = _data()
    model = _model()
    clipped = []
    real = loop.clip_grad_norm_
    monkeypatch.setattr(loop, "clip_grad_norm_",
                        lambda params, norm: clipped.append(norm) or real(params, norm))
    sizes = []

    def transform(x, y):
        sizes.append(len(y))
        return x * 0.0, y

    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), tl, epochs=1,
        clip_grad_norm=0.5, batch_transform=transform, progress=False)
    assert clipped == [0.5] * len(tl) and sum(sizes) == 300
    # with zero inputs only the last layer's bias can learn
    np.testing.assert_array_equal(model[0].weight.grad.data, 0.0)


def test_quiet(capsys) -> None:
    tl, vl = _data()
    model = _model()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), tl, vl, epochs=1,
        progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_bar(capsys) -> None:
    pytest.importorskip("tqdm")  # the bar is tqdm's (the "progress" extra)
    tl, vl = _data()
    model = _model()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), tl, vl, epochs=1)
    out = capsys.readouterr()
    assert "samples_s" in out.err and "accuracy" in out.err  # the tqdm bar
    assert out.out.startswith("epoch 1/1: loss ") and "val_accuracy" in out.out


def test_bad_arguments_are_refused_clearly() -> None:
    tl, vl = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    cases = [
        (dict(epochs=0), ValueError, "fit: epochs must be a positive integer, got 0"),
        (dict(metrics=["acc"]), ValueError, "fit: unknown metric 'acc'"),
        (dict(metrics="accuracy"), TypeError, "metrics must be a list"),
        (dict(callbacks=[print]), TypeError, "callbacks must be a list of nncore.train.Callback"),
        (dict(callbacks=EarlyStopping()), TypeError, "callbacks must be a list"),
        (dict(clip_grad_norm=-1.0), ValueError, "clip_grad_norm must be positive"),
        (dict(scheduler_interval="step"), ValueError, "scheduler_interval must be 'epoch'"),
        (dict(scheduler=optim.lr_scheduler.ReduceLROnPlateau(opt)), ValueError,
         "ReduceLROnPlateau monitors 'val_loss', which needs a val_loader"),
        (dict(callbacks=[EarlyStopping()]), ValueError,
         "EarlyStopping: monitors 'val_loss', but fit was given no val_loader"),
        (dict(callbacks=[EarlyStopping(monitor="val_f1")], val_loader=vl), ValueError,
         r"monitored value 'val_f1' is not in the logs \['accuracy', 'loss'"),
    ]
    for kwargs, exc, message in cases:
        with pytest.raises(exc, match=message):
            fit(model, loss, opt, tl, **kwargs, progress=False)
    with pytest.raises(TypeError, match="fit: model must be an nncore.nn.Module, got function"):
        fit(lambda x: x, loss, opt, tl, progress=False)
    with pytest.raises(TypeError, match="fit: optimizer must have step"):
        fit(model, loss, object(), tl, progress=False)
    with pytest.raises(ValueError, match="fit: train_loader yields no batches"):
        fit(model, loss, opt, DataLoader(make_classification(5, 8, 3), batch_size=10,
                                         drop_last=True), progress=False)


def test_bad_batches_and_shapes() -> None:
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = nc.randn(10, 8)
    with pytest.raises(ValueError, match="each batch must be an .input, target. pair .or "
                                         ".input, target, weight.., got a tuple of 1"):
        loop.train_epoch(model, nn.CrossEntropyLoss(), opt, [(x,)], progress=False)
    # A third item is a per-sample weight, which needs per-sample losses.
    with pytest.raises(ValueError, match="reduction='none'"):
        loop.train_epoch(model, nn.CrossEntropyLoss(), opt,
                         [(x, nc.zeros(10, dtype=nc.int64), nc.ones(10))], progress=False)
    with pytest.raises(ValueError, match="a batch of 4 items"):
        loop.train_epoch(model, nn.CrossEntropyLoss(), opt, [(x, x, x, x)], progress=False)
    wrong = DataLoader(make_classification(20, 5, 3, seed=0), batch_size=10)
    with pytest.raises(ValueError, match=r"linear.*\(10, 5\)"):
        fit(model, nn.CrossEntropyLoss(), opt, wrong, progress=False)
    with pytest.raises(ValueError, match="evaluate: the loader yielded no samples"):
        evaluate(model, nn.CrossEntropyLoss(), [])
    reg = make_regression(20, 8, n_targets=3, seed=0)
    with pytest.raises(ValueError, match=r"accuracy: outputs \(20, 3\) are class scores, so "
                                         r"targets must be labels of shape \(20,\)"):
        evaluate(model, None, DataLoader(reg, batch_size=10), metrics=["accuracy"])


def test_evaluate_restores_the_mode_and_needs_no_loss() -> None:
    _, vl = _data()
    model = _model(dropout=0.5)
    model.eval()
    a = evaluate(model, None, vl)
    assert set(a) == {"accuracy"} and not model.training
    model.train()
    b = evaluate(model, None, vl, prefix="test_")
    assert b == {"test_accuracy": a["accuracy"]} and model.training  # dropout was off
