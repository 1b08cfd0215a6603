"""Optimizers and learning-rate schedules with PyTorch's names, defaults and formulas.

Each optimizer updates all parameters of a group in place with one fused native call (LBFGS
works on the flattened parameters in NumPy).
"""

from nncore._unsupported import UnsupportedError, missing
from nncore.optim import lr_scheduler
from nncore.optim.adadelta import Adadelta
from nncore.optim.adagrad import Adagrad
from nncore.optim.adam import Adam, AdamW
from nncore.optim.adamax import Adamax
from nncore.optim.asgd import ASGD
from nncore.optim.lbfgs import LBFGS
from nncore.optim.nadam import NAdam
from nncore.optim.optimizer import Optimizer
from nncore.optim.radam import RAdam
from nncore.optim.rmsprop import RMSprop
from nncore.optim.rprop import Rprop
from nncore.optim.sgd import SGD
from nncore.optim.sparse_adam import SparseAdam

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler",
           "ASGD", "Adadelta", "Adamax", "LBFGS", "NAdam", "RAdam", "Rprop", "SparseAdam"]

# NOTE: the one error type for a missing PyTorch feature (NotImplementedError and AttributeError,
# so ``hasattr(optim, name)`` feature checks answer False).
UnsupportedFeatureError = UnsupportedError


_UNSUPPORTED = {
    "Adafactor": "the Adafactor optimizer",
    "Muon": "the Muon optimizer",
    "swa_utils": "stochastic weight averaging (torch.optim.swa_utils)",
    "swap_in_optimizer_params_and_state": "swap_in_optimizer_params_and_state",
}


def __getattr__(name: str) -> object:
    if name in _UNSUPPORTED:
        raise UnsupportedFeatureError(f"nncore.optim: {_UNSUPPORTED[name]} (torch.optim.{name}) is "
                                  f"not supported by nncore")
    missing("torch.optim", name, "module 'nncore.optim'")
