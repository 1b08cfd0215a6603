"""End to end: the mnist-transformer recipe reaches 96% test accuracy in 3 epochs."""

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


def test_patch_transformer_shapes_and_gradients() -> None:
    nc.manual_seed(0)
    model = RECIPES["mnist-transformer"].build()
    x = nc.tensor(np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32))
    logits = model(x)
    assert logits.shape == (3, 10)
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
    assert np.abs(model.cls_token.grad.numpy()).sum() > 0


@needs_mnist
def test_mnist_transformer_reaches_96_percent_in_3_epochs(capsys: pytest.CaptureFixture) -> None:
    # NOTE: one thread: the model's products are small, and a second OpenMP thread only helps
    # when the machine has a core to spare.
    threads = nc.get_num_threads()
    try:
        assert main(["train", "mnist-transformer", "--epochs", "3", "--threads", "1", "--quiet",
                     "--data", DATA]) == 0
    finally:
        nc.set_num_threads(threads)
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("final test accuracy"))
    accuracy = float(line.split(":")[1].split("%")[0])
    assert accuracy >= 96.0, out
