"""``nncore.nn.functional``: the functional forms, as PyTorch users import them."""

from nncore.functional import *  # noqa: F403
from nncore.functional import __all__  # noqa: F401


def __getattr__(name: str) -> object:
    from nncore._unsupported import missing

    missing("torch.nn.functional", name, "module 'nncore.nn.functional'")
