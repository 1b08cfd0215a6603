"""End to end: the mnist-cnn recipe reaches 99% test accuracy in 3 epochs (needs MNIST)."""

from __future__ import annotations

import os

import pytest

from nncore.cli import main

DATA = os.environ.get("NNCORE_DATA")
needs_mnist = pytest.mark.skipif(
    not DATA or not os.path.isdir(DATA), reason="set NNCORE_DATA to the MNIST folder")


@needs_mnist
def test_mnist_cnn_reaches_99_percent_in_3_epochs(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "mnist-cnn", "--epochs", "3", "--quiet", "--data", DATA]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("final test accuracy"))
    accuracy = float(line.split(":")[1].split("%")[0])
    assert accuracy >= 99.0, out
