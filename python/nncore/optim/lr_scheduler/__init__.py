"""Learning-rate schedules with PyTorch's names, signatures and sequences
(torch.optim.lr_scheduler).

Call ``scheduler.step()`` after ``optimizer.step()`` (per epoch, or per batch for CyclicLR and
OneCycleLR); ``ReduceLROnPlateau.step(metric)`` takes the monitored value.
"""

from nncore.optim.lr_scheduler.annealing import (
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    OneCycleLR,
)
from nncore.optim.lr_scheduler.base import LRScheduler, _LRScheduler
from nncore.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from nncore.optim.lr_scheduler.multiplicative import (
    ConstantLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from nncore.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = [
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ChainedScheduler",
    "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
    "PolynomialLR", "LRScheduler", "_LRScheduler",
]
