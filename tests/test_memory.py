"""The buffer cache behind native outputs: reuse, correctness of reused memory, limits."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import nncore as nc
from nncore import _C


@pytest.fixture(autouse=True)
def _restore_limit():
    limit = nc.memory.memory_stats()["limit_bytes"]
    yield
    nc.memory.set_cache_limit(limit)


def _relu(x: np.ndarray) -> np.ndarray:
    return _C.relu_forward(x)


def test_large_outputs_reuse_freed_buffers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((257, 301)).astype(np.float32)  # 302 KB: pooled
    nc.memory.empty_cache()
    y = _relu(x)
    del y
    gc.collect()
    stats = nc.memory.memory_stats()
    assert stats["cached_buffers"] >= 1 and stats["cached_bytes"] >= x.nbytes
    hits = stats["hits"]
    y2 = _relu(-x)  # takes the freed buffer, whose old contents must all be overwritten
    assert nc.memory.memory_stats()["hits"] == hits + 1
    np.testing.assert_array_equal(y2, np.maximum(-x, 0))
    assert y2.flags.writeable and y2.flags.c_contiguous and y2.dtype == np.float32
    y2[0, 0] = 5.0  # writable like any array
    assert y2[0, 0] == 5.0


def test_live_arrays_never_share_memory():
    x = np.ones((300, 300), np.float64)
    outs = [_relu(x * i) for i in range(4)]
    for i, a in enumerate(outs):
        np.testing.assert_array_equal(a, np.full_like(x, float(i)))
    ptrs = {a.__array_interface__["data"][0] for a in outs}
    assert len(ptrs) == 4


def test_small_outputs_are_not_pooled():
    nc.memory.empty_cache()
    misses = nc.memory.memory_stats()["misses"]
    _relu(np.ones(100, np.float32))  # dropped at once
    gc.collect()
    assert nc.memory.memory_stats()["misses"] == misses
    assert nc.memory.memory_stats()["cached_buffers"] == 0


def test_limit_zero_disables_caching_and_clear_frees():
    x = np.ones((400, 400), np.float32)
    _relu(x)  # dropped at once
    gc.collect()
    assert nc.memory.memory_stats()["cached_bytes"] > 0
    nc.memory.empty_cache()
    assert nc.memory.memory_stats()["cached_bytes"] == 0
    nc.memory.set_cache_limit(0)
    _relu(x)  # dropped at once
    gc.collect()
    assert nc.memory.memory_stats()["cached_bytes"] == 0


def test_array_outlives_its_views_and_pickles():
    import pickle

    x = np.arange(40000, dtype=np.float32).reshape(200, 200) - 100
    y = _relu(x)
    view = y[10:20]
    del y
    gc.collect()
    np.testing.assert_array_equal(view, np.maximum(x[10:20], 0))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view)), view)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_set_cache_limit_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="set_cache_limit"):
        nc.memory.set_cache_limit(bad)
