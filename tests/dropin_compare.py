"""Helpers of the drop-in layer tests: a module run side by side with its torch.nn twin (same
weights, same input, same output gradient) and signatures compared parameter by parameter."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

import nncore as nc
from harness import fresh_rng, torch


def assert_same_signature(ours: Callable, theirs: Callable) -> None:
    """Parameter names, kinds and defaults of ``ours`` equal those of PyTorch's ``theirs``."""
    a = inspect.signature(ours).parameters
    b = inspect.signature(theirs).parameters
    assert list(a) == list(b), f"{ours.__name__}: parameters {list(a)} != torch's {list(b)}"
    for name in a:
        pa, pb = a[name], b[name]
        assert pa.kind == pb.kind, f"{ours.__name__}({name}): kind {pa.kind} != {pb.kind}"
        assert pa.default == pb.default, (
            f"{ours.__name__}({name}): default {pa.default!r} != torch's {pb.default!r}")


def copy_parameters(ours: nc.nn.Module, theirs: Any) -> None:
    """Copy torch's parameter values into the nncore module (the names must match)."""
    mine = dict(ours.named_parameters())
    other = dict(theirs.named_parameters())
    assert sorted(mine) == sorted(other), f"parameters {sorted(mine)} != {sorted(other)}"
    for name, p in other.items():
        assert mine[name].shape == tuple(p.shape), name
        mine[name]._array[...] = p.detach().numpy()


def compare_module(ours: nc.nn.Module, theirs: Any, inputs: list[np.ndarray],
                   rtol: float = 1e-9, grad_args: tuple[int, ...] | None = None) -> None:
    """Forward and backward of both modules agree: outputs, input and parameter gradients
    (``grad_args``: the inputs to differentiate; default every float input)."""
    copy_parameters(ours, theirs)
    rng, seed = fresh_rng()
    need = [a.dtype.kind == "f" and (grad_args is None or i in grad_args)
            for i, a in enumerate(inputs)]
    xs = [nc.tensor(a, requires_grad=n) for a, n in zip(inputs, need)]
    ts = [torch.tensor(a, requires_grad=n) for a, n in zip(inputs, need)]
    out, tout = ours(*xs), theirs(*ts)
    if isinstance(tout, tuple):
        out, tout = out[0], tout[0]
    msg = f"{type(ours).__name__} (seed {seed})"
    assert out.shape == tuple(tout.shape), msg
    close(out.detach().numpy(), tout.detach().numpy(), rtol, msg + ": output")
    if not (out.requires_grad and tout.requires_grad):
        return
    g = rng.standard_normal(out.shape).astype(out.detach().numpy().dtype)
    out.backward(g)
    tout.backward(torch.from_numpy(g).reshape(tout.shape))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.grad is not None:
            close(x.grad.numpy(), t.grad.numpy(), rtol, f"{msg}: gradient of input {i}")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        tg = theirs_params[name].grad
        if tg is not None:
            close(p.grad.numpy(), tg.numpy(), rtol, f"{msg}: gradient of {name}")


def close(actual: np.ndarray, expected: np.ndarray, rtol: float, msg: str) -> None:
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0),
                               err_msg=msg)
