"""Every `nncore train` recipe: its model trains (finite gradients everywhere), and on real MNIST
it reaches the issue's test accuracy in 3 epochs."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nncore as nc
from nncore.cli import main
from nncore.train.recipes import RECIPES

DATA = os.environ.get("NNCORE_DATA")
needs_mnist = pytest.mark.skipif(
    not DATA or not os.path.isdir(DATA), reason="set NNCORE_DATA to the MNIST folder")

# Test accuracy (%) each recipe must reach in 3 epochs.
TARGETS = {"mnist-mlp": 97.0, "mnist-cnn": 99.0, "mnist-lstm": 97.0, "mnist-transformer": 96.0,
           "mnist-hybrid": 98.0}


def test_every_recipe_has_a_target() -> None:
    assert set(TARGETS) == set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_model_trains(name: str) -> None:
    nc.manual_seed(0)
    model = RECIPES[name].build()
    x = nc.tensor(np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32))
    logits = model(x)
    assert logits.shape == (3, 10)
    logits.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), pname
        assert p.grad.shape == p.shape, pname


@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_recipe_reaches_its_accuracy_in_3_epochs(name: str, capsys: pytest.CaptureFixture
                                                 ) -> None:
    threads = nc.get_num_threads()
    try:
        assert main(["train", name, "--epochs", "3", "--quiet", "--data", DATA]) == 0
    finally:
        nc.set_num_threads(threads)
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("final test accuracy"))
    accuracy = float(line.split(":")[1].split("%")[0])
    assert accuracy >= TARGETS[name], out
