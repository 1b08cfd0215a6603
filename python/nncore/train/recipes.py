"""Named training recipes for ``nncore train <recipe>``: a model and its default settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nncore import nn
from nncore.tensor import Tensor


@dataclass(frozen=True)
class Recipe:
    """A model builder with the hyperparameters that train it well."""

    build: Callable[[], nn.Module]
    description: str
    optimizer: str = "sgd"
    lr: float = 0.1
    epochs: int = 3
    batch_size: int = 64


def mnist_mlp() -> nn.Module:
    """The classic 784-128-10 ReLU network."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


class MnistLSTM(nn.Module):
    """Reads each (1, 28, 28) image as 28 steps of 28 pixels, top row first; classifies from
    the last hidden state."""

    def __init__(self, hidden_size: int = 128) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, hidden_size)
        self.head = nn.Linear(hidden_size, 10)

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(x.shape[0], 28, 28).transpose(0, 1)  # (28 steps, N, 28 pixels)
        _, (h_n, _) = self.lstm(rows)
        return self.head(h_n[-1])


RECIPES: dict[str, Recipe] = {
    "mnist-mlp": Recipe(
        mnist_mlp, "MNIST, 784-128-10 MLP with ReLU; SGD, momentum 0.9, cosine learning-rate decay"
    ),
    "mnist-lstm": Recipe(
        MnistLSTM, "MNIST as sequences: 28 rows of 28 pixels into an LSTM(28, 128), linear head; "
        "Adam, cosine learning-rate decay", optimizer="adam", lr=2e-3,
    ),
}
