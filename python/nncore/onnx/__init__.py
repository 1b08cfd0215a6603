"""ONNX export (``nncore.onnx.export``); needs the optional ``onnx`` package, imported only when
``export`` is called."""

from nncore.onnx.export import export

__all__ = ["export"]
