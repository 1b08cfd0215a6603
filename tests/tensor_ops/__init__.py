"""Tests of the nncore.* namespace functions (tensor_ops), one file per kind."""
