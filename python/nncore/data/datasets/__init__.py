"""Datasets: MNIST (local, downloaded or the packaged sample) and seeded synthetic sets."""

from nncore.data.datasets.mnist import MNIST
from nncore.data.datasets.synthetic import make_classification, make_regression, make_spirals

__all__ = ["MNIST", "make_classification", "make_regression", "make_spirals"]
