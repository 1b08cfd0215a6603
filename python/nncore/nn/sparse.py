"""The embedding family's layer lives in nncore.nn.embedding; this name stays importable so
modules pickled under ``nncore.nn.sparse.Embedding`` still load."""

from nncore.nn.embedding import Embedding

__all__ = ["Embedding"]
