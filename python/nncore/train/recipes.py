"""Named training recipes for ``nncore train <recipe>``: a model and its default settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from nncore import nn


@dataclass(frozen=True)
class Recipe:
    """A model builder with the hyperparameters that train it well."""

    build: Callable[[], nn.Module]
    description: str
    optimizer: str = "sgd"
    lr: float = 0.1
    epochs: int = 3
    batch_size: int = 64
    # "cosine": per-batch cosine decay to zero over the run; "none": constant rate.
    schedule: str = "cosine"
    # (data folder or None, seed) -> (train set, test set, description); None: MNIST.
    data: Callable[[Any, int], tuple[Any, Any, str]] | None = None
    loss: Callable[[], nn.Module] = nn.CrossEntropyLoss


def mnist_mlp() -> nn.Module:
    """The classic 784-128-10 ReLU network."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def mnist_cnn() -> nn.Module:
    """Two conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool; 32 then 64 channels) with
    channel dropout, then 3136-128-10 dense layers with dropout. Takes (N, 1, 28, 28)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout2d(0.1), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


RECIPES: dict[str, Recipe] = {
    "mnist-mlp": Recipe(
        mnist_mlp, "MNIST, 784-128-10 MLP with ReLU; SGD, momentum 0.9, cosine learning-rate decay"
    ),
    "mnist-cnn": Recipe(
        mnist_cnn, "MNIST, two conv blocks (batch norm, max pool, dropout) + 2 dense layers; "
        "Adam, cosine learning-rate decay", optimizer="adam", lr=2e-3,
    ),
}
