"""Optimizers and learning-rate schedules with PyTorch's names, defaults and formulas.

Each optimizer updates all parameters of a group in place with one fused native call.
"""

from nncore.optim import lr_scheduler
from nncore.optim.adagrad import Adagrad
from nncore.optim.adam import Adam, AdamW
from nncore.optim.optimizer import Optimizer
from nncore.optim.rmsprop import RMSprop
from nncore.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
