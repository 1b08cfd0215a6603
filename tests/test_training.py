"""End to end: MNIST accuracy, bit-identical reruns, and the command line."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nncore as nc
from nncore import nn, optim
from nncore.cli import main
from nncore.data import DataLoader, TensorDataset

DATA = os.environ.get("NNCORE_DATA")
needs_mnist = pytest.mark.skipif(
    not DATA or not os.path.isdir(DATA), reason="set NNCORE_DATA to the MNIST folder")


def _train_small(seed: int, threads: int) -> dict[str, np.ndarray]:
    nc.set_num_threads(threads)
    nc.manual_seed(seed)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 20)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 1)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(nc.tensor(x), nc.tensor(y)), batch_size=32, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.state_dict()


def test_same_seed_gives_bit_identical_weights() -> None:
    threads = nc.get_num_threads()
    try:
        first, second = _train_small(7, 2), _train_small(7, 2)
        other = _train_small(8, 2)
    finally:
        nc.set_num_threads(threads)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert any(not np.array_equal(first[k], other[k]) for k in first)


def test_cli_info(capsys: pytest.CaptureFixture) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("nncore", "compiler", "flags", "SIMD", "Eigen", "OpenMP"):
        assert f"{key}:" in out


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "mnist-mlp", "--epochs", "0"])
    assert "--epochs must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "no-such-recipe"])


@needs_mnist
def test_cli_report_of_a_recipe_run(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """`nncore report` rebuilds a recipe's model from its run directory: the page gets the
    learning curves, a confusion matrix and saliency maps, all inline."""
    run = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--epochs", "1", "--quiet", "--data", DATA,
                 "--run-dir", str(run)]) == 0
    assert main(["report", str(run), "--data", DATA]) == 0
    page = (run / "report.html").read_text()
    for title in ("Learning curves", "Confusion matrix", "Saliency examples", "Hyperparameters"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("data:image/png;base64,") >= 3
    assert "mnist-mlp" in page
