"""``torch.nn.modules.rnn``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
)
__getattr__, __dir__ = exports(__name__, _NAMES, ("nncore.nn", "nncore.nn.rnn"))
