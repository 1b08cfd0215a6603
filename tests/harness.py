"""The test triangle of design.md for every op: NumPy reference, float64 finite differences
through the real backward, and PyTorch as an oracle (the test skips, visibly, without torch).
Random inputs come from a seed fixed by the test's id, so a failure reproduces.

An OpSpec names an op family's native op (``name``: ``_C.<name>_forward``/``_backward``), the
nncore callable, an input maker and the references. ``check_op(spec)`` runs all four checks.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

import nncore as nc

try:
    import torch
except ImportError:  # the oracle checks skip; everything else still runs
    torch = None


def seed_for_test(salt: str = "") -> int:
    """A seed fixed by the running test's id (pytest's node id, without the phase), so a failure
    reproduces on the next run; ``NNCORE_TEST_SEED=<n>`` mixes in n to explore other inputs."""
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    extra = os.environ.get("NNCORE_TEST_SEED", "")
    return zlib.crc32(f"{test_id}|{salt}|{extra}".encode())


_draws: dict[str, int] = {}


def fresh_rng() -> tuple[np.random.Generator, int]:
    """A generator seeded from the test id (the k-th call in a test gets the k-th seed, so two
    calls draw different inputs); the seed is returned too, for messages."""
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "")
    k = _draws[test_id] = _draws.get(test_id, -1) + 1
    seed = seed_for_test(str(k))
    return np.random.default_rng(seed), seed


@dataclass
class OpSpec:
    """One op under test.

    name: native op name (covers ``_C.<name>_forward`` and ``_backward``), or a NumPy op's name.
    fn: nncore callable taking Tensors (and ``kwargs``) and returning one Tensor.
    make_inputs: rng -> list of float64 (or integer) arrays; float ones are differentiated.
    reference: NumPy callable with the same arguments, computing the forward in float64.
    torch_fn: torch callable with the same arguments (torch tensors), or None.
    kwargs: keyword arguments for all three callables.
    grad_args: indices of the inputs to differentiate (default: every float input).
    """

    name: str
    fn: Callable[..., Any]
    make_inputs: Callable[[np.random.Generator], list[np.ndarray]]
    reference: Callable[..., np.ndarray] | None = None
    torch_fn: Callable[..., Any] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    grad_args: tuple[int, ...] | None = None
    fd_atol: float = 1e-5
    fd_rtol: float = 1e-3
    torch_rtol: float = 1e-5
    id: str = ""

    def __str__(self) -> str:
        return self.id or self.name


def _float_indices(spec: OpSpec, arrays: list[np.ndarray]) -> tuple[int, ...]:
    if spec.grad_args is not None:
        return spec.grad_args
    return tuple(i for i, a in enumerate(arrays) if a.dtype.kind == "f")


def _to_tensors(arrays: list[np.ndarray], dtype: Any, grad_idx: tuple[int, ...]) -> list:
    out = []
    for i, a in enumerate(arrays):
        if a.dtype.kind == "f":
            out.append(nc.tensor(a, dtype=dtype, requires_grad=i in grad_idx))
        else:
            out.append(nc.tensor(a))
    return out


def numeric_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of scalar f() w.r.t. every element of x (changed in place)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def check_forward_reference(spec: OpSpec, arrays: list[np.ndarray], seed: int) -> None:
    if spec.reference is None:
        return
    out = spec.fn(*_to_tensors(arrays, np.float64, ()), **spec.kwargs)
    ref = spec.reference(*arrays, **spec.kwargs)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10, atol=1e-12,
                               err_msg=f"{spec}: forward vs NumPy reference (seed {seed})")


def check_finite_differences(spec: OpSpec, arrays: list[np.ndarray], seed: int) -> None:
    grad_idx = _float_indices(spec, arrays)
    tensors = _to_tensors(arrays, np.float64, grad_idx)
    out = spec.fn(*tensors, **spec.kwargs)
    weights = np.random.default_rng(seed + 1).standard_normal(out.shape)
    out.backward(weights)
    for i in grad_idx:
        def objective() -> float:
            with nc.no_grad():
                y = spec.fn(*tensors, **spec.kwargs).detach().numpy()
            return float(np.sum(y * weights))

        expected = numeric_grad(objective, tensors[i]._array)
        assert tensors[i].grad is not None, f"{spec}: input {i} got no gradient"
        np.testing.assert_allclose(
            tensors[i].grad.numpy(), expected, rtol=spec.fd_rtol, atol=spec.fd_atol,
            err_msg=f"{spec}: backward of input {i} vs finite differences (seed {seed})")


def check_against_torch(spec: OpSpec, arrays: list[np.ndarray], seed: int) -> None:
    if spec.torch_fn is None:
        return
    if torch is None:
        pytest.skip(f"{spec}: PyTorch is not installed, so the oracle check did not run")
    grad_idx = _float_indices(spec, arrays)
    tensors = _to_tensors(arrays, np.float32, grad_idx)
    out = spec.fn(*tensors, **spec.kwargs)
    weights = np.random.default_rng(seed + 2).standard_normal(out.shape).astype(np.float32)
    out.backward(weights)
    t_in = []
    for i, a in enumerate(arrays):
        if a.dtype.kind == "f":
            t_in.append(torch.tensor(a.astype(np.float32), requires_grad=i in grad_idx))
        else:
            t_in.append(torch.tensor(a))
    t_out = spec.torch_fn(*t_in, **spec.kwargs)
    t_out.backward(torch.from_numpy(weights).reshape(t_out.shape))
    _close(out.detach().numpy(), t_out.detach().numpy(), spec.torch_rtol,
           f"{spec}: output vs torch (seed {seed})")
    for i in grad_idx:
        _close(tensors[i].grad.numpy(), t_in[i].grad.numpy(), spec.torch_rtol,
               f"{spec}: gradient of input {i} vs torch (seed {seed})")


def _close(actual: np.ndarray, expected: np.ndarray, rtol: float, msg: str) -> None:
    # NOTE: float32 sums cancel; an absolute floor scaled to the data keeps near-zero entries
    # from failing on rounding alone while still catching any real difference.
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0),
                               err_msg=msg)


def check_dtype_and_shape(spec: OpSpec, arrays: list[np.ndarray]) -> None:
    grad_idx = _float_indices(spec, arrays)
    for dtype in (np.float32, np.float64):
        tensors = _to_tensors(arrays, dtype, grad_idx)
        out = spec.fn(*tensors, **spec.kwargs)
        assert out.dtype == dtype, f"{spec}: {np.dtype(dtype)} input gave {out.dtype} output"
        out.backward(np.ones(out.shape, dtype=dtype))
        for i in grad_idx:
            g = tensors[i].grad
            assert g.shape == tensors[i].shape and g.dtype == dtype, (
                f"{spec}: gradient of input {i} has {g.shape} {g.dtype}, input "
                f"{tensors[i].shape} {tensors[i].dtype}")


def check_op(spec: OpSpec) -> None:
    """Run the whole triangle on random inputs seeded from the test id (the oracle last: it
    skips the test, visibly, without PyTorch)."""
    rng, seed = fresh_rng()
    arrays = spec.make_inputs(rng)
    check_forward_reference(spec, arrays, seed)
    check_finite_differences(spec, arrays, seed)
    check_dtype_and_shape(spec, arrays)
    check_against_torch(spec, arrays, seed)
