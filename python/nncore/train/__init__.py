"""Training utilities: the loop the CLI recipes share, and the recipes themselves."""

from nncore.train.loop import evaluate, train_epoch

__all__ = ["evaluate", "train_epoch"]
