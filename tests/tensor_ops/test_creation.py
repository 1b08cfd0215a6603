"""Factories and Tensor.new_* methods: values, dtypes, shapes and errors against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from nncore.tensor_ops import creation, sampling


def _same(ours, theirs, where=""):
    assert ours.dtype == str(theirs.dtype).removeprefix("torch."), f"{where}: {ours.dtype} vs " \
                                                                   f"{theirs.dtype}"
    assert ours.shape == tuple(theirs.shape), where
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=where)


_CALLS = [
    ("eye", (3,), {}), ("eye", (2, 5), {}), ("eye", (4, 1), {"dtype": "int32"}),
    ("eye", (0,), {}),
    ("linspace", (0, 1, 5), {}), ("linspace", (-2.5, 7, 17), {}), ("linspace", (0, 10, 1), {}),
    ("linspace", (0, 10, 0), {}), ("linspace", (3, -3, 4), {"dtype": "float64"}),
    ("linspace", (0, 1, 5), {"dtype": "int64"}), ("linspace", (0, 100, 11), {"dtype": "int32"}),
    ("logspace", (0, 2, 3), {}), ("logspace", (0, 3, 4), {"base": 2}),
    ("logspace", (-1, 1, 5), {"dtype": "float64"}),
    ("arange", (5,), {}), ("arange", (1, 4, 0.5), {}), ("arange", (0, 1, 0.1), {}),
    ("arange", (10, 0, -3), {}), ("arange", (5,), {"dtype": "float64"}),
    ("full", ((2, 3), 1.5), {}), ("full", ((2,), 7), {}), ("full", ((2,), True), {}),
    ("full", ((2,), 1.5), {"dtype": "int64"}),
    ("zeros", (2, 3), {}), ("ones", ((4,),), {"dtype": "int8"}), ("empty", (2, 0), {}),
    ("zeros", ([2, 1],), {"dtype": "bool"}),
]


@pytest.mark.parametrize("name,args,kwargs", _CALLS, ids=lambda x: str(x))
def test_factories_match_torch(name, args, kwargs) -> None:
    tt = pytest.importorskip("torch")
    kw_ours = {k: getattr(nc, v) if k == "dtype" else v for k, v in kwargs.items()}
    kw_theirs = {k: getattr(tt, v) if k == "dtype" else v for k, v in kwargs.items()}
    ours = getattr(nc, name)(*args, **kw_ours)
    theirs = getattr(tt, name)(*args, **kw_theirs)
    if name == "empty":
        assert ours.shape == tuple(theirs.shape) and ours.dtype == nc.float32
        return
    assert ours.dtype == str(theirs.dtype).removeprefix("torch.")
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_like_factories_and_new_methods_match_torch() -> None:
    tt = pytest.importorskip("torch")
    for d in ("float64", "int32", "bool"):
        a = np.zeros((2, 3), dtype=d)
        x, t = nc.tensor(a), tt.from_numpy(a.copy())
        _same(nc.zeros_like(x), tt.zeros_like(t), "zeros_like")
        _same(nc.ones_like(x, dtype=nc.float32), tt.ones_like(t, dtype=tt.float32), "ones_like")
        _same(nc.full_like(x, 3), tt.full_like(t, 3), "full_like")
        assert nc.empty_like(x).shape == x.shape and nc.empty_like(x).dtype == x.dtype
        _same(x.new_zeros(4, 1), t.new_zeros(4, 1), "new_zeros")
        _same(x.new_ones((2,)), t.new_ones((2,)), "new_ones")
        _same(x.new_full((3,), 2.5), t.new_full((3,), 2.5), "new_full")
        _same(x.new_tensor([1.5, 2.0]), t.new_tensor([1.5, 2.0]), "new_tensor")
        _same(x.new_zeros((2, 2), dtype=nc.int64), t.new_zeros((2, 2), dtype=tt.int64),
              "new_zeros(dtype)")
        assert x.new_empty((2, 3)).shape == (2, 3) and x.new_empty(2).dtype == x.dtype
    w = nc.ones(2).new_zeros(3, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_linspace_matches_torch_to_the_last_bits_with_exact_ends() -> None:
    tt = pytest.importorskip("torch")
    for start, end, steps in ((0.0, 1.0, 7), (-3.3, 12.7, 101), (1e-3, 1e3, 50)):
        ours = nc.linspace(start, end, steps, dtype=nc.float64).numpy()
        theirs = tt.linspace(start, end, steps, dtype=tt.float64).numpy()
        # NOTE: PyTorch's vector kernel rounds some middle values 1-2 ulps differently.
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * np.finfo(float).eps * 1e3)
        assert ours[0] == start and ours[-1] == end
    assert nc.linspace(nc.tensor(0.0), nc.tensor(2.0), 3).tolist() == [0.0, 1.0, 2.0]


def test_factory_arguments_and_errors() -> None:
    assert nc.eye(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="number of steps must be non-negative"):
        nc.linspace(0, 1, -1)
    with pytest.raises(TypeError, match="steps"):
        nc.linspace(0, 1, 2.5)
    with pytest.raises(RuntimeError, match="negative"):
        nc.eye(-1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        nc.zeros(2, -1)
    with pytest.raises(TypeError, match="size must be a tuple of ints"):
        nc.ones(2.5)
    with pytest.raises(NotImplementedError, match="cuda"):
        nc.eye(2, device="cuda")
    assert nc.linspace(0, 1, 3, device="cpu").device == nc.device("cpu")


def test_every_name_is_pytorchs() -> None:
    tt = pytest.importorskip("torch")
    for module in (creation, sampling):
        for name in module.__all__:
            assert hasattr(tt, name), f"torch.{name}"
        for name in module.METHODS:
            assert hasattr(tt.Tensor, name) and hasattr(nc.Tensor, name), f"Tensor.{name}"
