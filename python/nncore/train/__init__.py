"""Training: ``fit`` with callbacks, checkpoints that resume bit-identically, experiment records
(``runs``), and the named recipes of ``nncore train``."""

from nncore.train.callbacks import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    LearningRateMonitor,
    LRLogger,
    MLflowLogger,
    ModelCheckpoint,
    TensorBoardLogger,
)
from nncore.train.checkpoint import load_checkpoint, save_checkpoint
from nncore.train.loop import METRICS, History, evaluate, fit, train_epoch
from nncore.train.runs import dataset_fingerprint

__all__ = [
    "METRICS", "Callback", "EarlyStopping", "History", "LRLogger", "LambdaCallback",
    "LearningRateMonitor", "MLflowLogger", "ModelCheckpoint", "TensorBoardLogger",
    "dataset_fingerprint", "evaluate", "fit", "load_checkpoint", "save_checkpoint",
    "train_epoch",
]
