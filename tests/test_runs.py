"""Experiment records: fit(run_dir=...), dataset fingerprints, `nncore runs`, the CLI, loggers."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import types

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim
from nncore.cli import main
from nncore.data import DataLoader, Subset, TensorDataset
from nncore.data.datasets import make_classification
from nncore.train import MLflowLogger, TensorBoardLogger, dataset_fingerprint, fit, runs
from nncore.train.recipes import RECIPES, Recipe


def _fit(run_dir, lr=0.05, epochs=3, seed=0, **kw):
    nc.manual_seed(seed)
    train = make_classification(200, 6, 3, class_sep=3.0, seed=7)
    val = make_classification(60, 6, 3, class_sep=3.0, seed=7)
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3))
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    history = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(train, batch_size=20,
                  shuffle=True), DataLoader(val, batch_size=30), epochs=epochs, run_dir=run_dir,
                  hparams=kw.pop("hparams", {"note": "test"}), progress=False, **kw)
    return model, history, train


def test_run_directory_contents(tmp_path) -> None:
    run = tmp_path / "run1"
    model, history, train = _fit(run)
    names = {p.name for p in run.iterdir()}
    assert names == {"run.json", "hparams.json", "model.json", "model.txt", "environment.json",
                     "data.json", "metrics.jsonl", "metrics.csv", "weights.safetensors"}
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["epochs_done"] == 3 and info["error"] is None
    assert info["final"]["val_loss"] == history.history["val_loss"][-1]
    assert info["best"]["val_accuracy"] == max(history.history["val_accuracy"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert [r["loss"] for r in rows] == history.history["loss"]
    with open(run / "metrics.csv") as f:
        table = list(csv.DictReader(f))
    assert [float(r["val_accuracy"]) for r in table] == history.history["val_accuracy"]
    hp = json.loads((run / "hparams.json").read_text())
    assert hp["optimizer"]["class"] == "SGD" and hp["optimizer"]["param_groups"][0]["lr"] == 0.05
    assert hp["batch_size"] == 20 and hp["epochs"] == 3 and hp["note"] == "test"
    summary = json.loads((run / "model.json").read_text())
    assert summary["params"] == 6 * 10 + 10 + 10 * 3 + 3
    assert [(layer["name"], layer["params"]) for layer in summary["layers"]] == [("0", 70),
                                                                                 ("2", 33)]
    env = json.loads((run / "environment.json").read_text())
    build = nc._C.build_info()
    assert env["seed"] == 0 and env["threads"] == nc.get_num_threads()
    assert env["numpy"] == np.__version__ and env["simd"] == build["simd"]
    assert env["flags"] == build["flags"].strip() and env["nncore"] == build["version"]
    weights = nc.load(run / "weights.safetensors")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(weights[key], value)
    x, y = train.arrays
    data = json.loads((run / "data.json").read_text())
    assert data["samples"] == 200 and data["sha256"] == dataset_fingerprint(train)["sha256"]


def test_dataset_fingerprint() -> None:
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    fp = dataset_fingerprint(TensorDataset(x, y))
    h = hashlib.sha256()
    for a in (x, y):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    assert fp["sha256"] == h.hexdigest()
    assert dataset_fingerprint(TensorDataset(x.copy(), y.copy()))["sha256"] == fp["sha256"]
    x2 = x.copy()
    x2[3, 1] += 1
    assert dataset_fingerprint(TensorDataset(x2, y))["sha256"] != fp["sha256"]
    assert dataset_fingerprint(TensorDataset(x.astype(np.float64), y))["sha256"] != fp["sha256"]
    a = dataset_fingerprint(Subset(TensorDataset(x, y), [0, 1, 2]))
    b = dataset_fingerprint(Subset(TensorDataset(x, y), [0, 1, 3]))
    assert a["sha256"] != b["sha256"] and a["samples"] == 3

    class Custom(TensorDataset):
        def __getitem__(self, i):
            return super().__getitem__(i)

    fp = dataset_fingerprint(Custom(x, y))
    assert fp["sha256"] is None and "not array-backed" in fp["reason"]


def test_failed_run_is_recorded_and_profiler_hook(tmp_path) -> None:
    class StandInProfiler:
        def summary(self) -> str:
            return "kernel            calls  ms\nlinear.forward       30  1.2"

    run = tmp_path / "prof"
    _fit(run, profiler=StandInProfiler())
    assert (run / "kernels.txt").read_text().startswith("kernel            calls")
    assert "linear.forward" in runs.show_run(run)
    bad = tmp_path / "bad"
    with pytest.raises(ValueError, match="cross_entropy"):
        nc.manual_seed(0)
        wrong = DataLoader(make_classification(20, 6, 3, seed=0), batch_size=10)
        model = nn.Sequential(nn.Linear(6, 2), nn.Flatten(0))
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), wrong,
            epochs=2, run_dir=bad, progress=False)
    info = json.loads((bad / "run.json").read_text())
    assert info["status"] == "failed" and "ValueError" in info["error"]
    assert info["epochs_done"] == 0
    with pytest.raises(TypeError, match="profiler must have a summary"):
        _fit(tmp_path / "p2", profiler=object(), epochs=1)
    assert not (tmp_path / "p2").exists()
    with pytest.raises(TypeError, match="hparams must be a dict"):
        _fit(tmp_path / "p3", epochs=1, hparams=[1])
    assert not (tmp_path / "p3").exists()


def test_git_commit_recorded_or_tolerated(monkeypatch) -> None:
    env = runs.environment()
    inside = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if inside.returncode == 0:
        assert env["git"]["commit"] == inside.stdout.strip()

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(runs.subprocess, "run", no_git)
    assert runs.environment()["git"] is None


def test_runs_list_show_compare(tmp_path, capsys) -> None:
    _fit(tmp_path / "runs" / "a", lr=0.05)
    _fit(tmp_path / "runs" / "b", lr=0.2)
    assert main(["runs", "list", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "runs/a" in out and "runs/b" in out and out.count("completed") == 2
    assert main(["runs", "show", str(tmp_path / "runs" / "a")]) == 0
    out = capsys.readouterr().out
    assert "optimizer.param_groups.0.lr: 0.05" in out and "val_accuracy" in out
    assert "Sequential, 103 parameters" in out
    assert main(["runs", "compare", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b")]
                ) == 0
    lines = capsys.readouterr().out.splitlines()
    lr = next(line for line in lines if "param_groups.0.lr " in line)
    assert lr.startswith("*") and "0.05" in lr and "0.2" in lr
    sha = next(line for line in lines if "data.sha256" in line)
    assert sha.startswith(" ")  # same data in both runs
    assert main(["runs", "show", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["runs", "compare"])
    assert "give one or more run directories" in capsys.readouterr().err


def _tiny_data(root, seed):
    ds = make_classification(160, 6, 3, class_sep=3.0, seed=3)
    return Subset(ds, range(120)), Subset(ds, range(120, 160)), "synthetic blobs"


def test_cli_trains_a_generic_recipe_records_and_resumes(tmp_path, monkeypatch, capsys) -> None:
    recipe = Recipe(lambda: nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(0.2),
                                          nn.Linear(12, 3)),
                    "tiny", optimizer="adam", lr=0.01, epochs=3, batch_size=16,
                    schedule="none", data=_tiny_data)
    monkeypatch.setitem(RECIPES, "tiny", recipe)
    args = ["train", "tiny", "--quiet", "--threads", "1"]
    assert main([*args, "--run-dir", str(tmp_path / "full")]) == 0
    out = capsys.readouterr().out
    assert "data: synthetic blobs" in out and "epoch 3: train loss" in out
    full = out.splitlines()[-1]
    assert full.startswith("final test accuracy:")
    assert main([*args, "--epochs", "2", "--checkpoint-dir", str(tmp_path / "ck")]) == 0
    capsys.readouterr()
    assert main([*args, "--resume", str(tmp_path / "ck" / "last.ckpt"),
                 "--run-dir", str(tmp_path / "resumed")]) == 0
    out = capsys.readouterr().out
    assert "epoch 1:" not in out and "epoch 3:" in out
    assert out.splitlines()[-1].split("(")[0] == full.split("(")[0]
    a = nc.load(tmp_path / "full" / "weights.safetensors")
    b = nc.load(tmp_path / "resumed" / "weights.safetensors")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    hp = json.loads((tmp_path / "full" / "hparams.json").read_text())
    assert hp["recipe"] == "tiny" and hp["optimizer"]["class"] == "Adam"


def test_mlflow_logger_with_a_stand_in(tmp_path, monkeypatch) -> None:
    calls = []
    fake = types.ModuleType("mlflow")
    fake.set_experiment = lambda name: calls.append(("experiment", name))
    fake.start_run = lambda run_name=None: calls.append(("start", run_name))
    fake.log_params = lambda params: calls.append(("params", params))
    fake.log_metrics = lambda metrics, step: calls.append(("metrics", step, metrics))
    fake.end_run = lambda: calls.append(("end",))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    _, history, _ = _fit(None, epochs=2, callbacks=[MLflowLogger({"recipe": "x"}, "r1", "exp")])
    assert calls[0] == ("experiment", "exp") and calls[1] == ("start", "r1")
    assert calls[2][1]["optimizer"] == "SGD" and calls[2][1]["recipe"] == "x"
    assert [c[1] for c in calls if c[0] == "metrics"] == [1, 2]
    assert calls[4][2]["val_loss"] == history.history["val_loss"][1]
    assert calls[-1] == ("end",)


def test_loggers_explain_missing_packages(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match="MLflowLogger needs mlflow"):
        MLflowLogger()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match="TensorBoardLogger needs 'tensorboard'"):
        TensorBoardLogger("x")


def test_tensorboard_logger_when_installed(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    _fit(None, epochs=2, callbacks=[TensorBoardLogger(tmp_path / "tb")])
    assert any(p.name.startswith("events.out") for p in (tmp_path / "tb").iterdir())
