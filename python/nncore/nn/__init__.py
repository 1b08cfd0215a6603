"""Layers, losses and initialisation with PyTorch's names, layouts and defaults."""

from nncore.nn import functional, init, utils
from nncore.nn.activation import (
    GELU,
    Dropout,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from nncore.nn.container import Flatten, Identity, ModuleList, Sequential
from nncore.nn.linear import Linear
from nncore.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from nncore.nn.module import Module
from nncore.nn.parameter import Parameter
from nncore.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from nncore.nn.sparse import Embedding

__all__ = [
    "GELU", "Dropout", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh",
    "Flatten", "Identity", "Linear", "Module", "ModuleList", "Parameter", "Sequential",
    "functional", "init", "utils",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss",
    "GRU", "LSTM", "RNN", "Embedding", "GRUCell", "LSTMCell", "RNNCell",
]
