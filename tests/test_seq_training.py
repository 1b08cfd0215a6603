"""End to end on real data: the sequence-model recipes reach their accuracy targets."""

from __future__ import annotations

import os

import pytest

from nncore.cli import main

DATA = os.environ.get("NNCORE_DATA")
needs_mnist = pytest.mark.skipif(
    not DATA or not os.path.isdir(DATA), reason="set NNCORE_DATA to the MNIST folder")


def _final_accuracy(out: str) -> float:
    line = next(s for s in out.splitlines() if s.startswith("final test accuracy"))
    return float(line.split(":")[1].split("%")[0])


@needs_mnist
@pytest.mark.slow
def test_mnist_lstm_reaches_97_percent_in_3_epochs(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "mnist-lstm", "--epochs", "3", "--quiet", "--data", DATA]) == 0
    out = capsys.readouterr().out
    assert _final_accuracy(out) >= 97.0, out
