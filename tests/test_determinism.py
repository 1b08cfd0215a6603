"""Same bits at any thread count (issue 13): training gives identical weights at 1, 2 and 3
threads. Every parallel reduction in the kernels sums fixed blocks (set by the problem's size,
never by the thread count) in a fixed order; this is the end-to-end check of that rule.

The models are sized so that their kernels take the parallel paths (each above its work grain):
a test where every kernel ran serially could not fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import nncore as nc
from nncore import _C, nn, optim
from nncore.threads import MAX_THREADS

STEPS = 50


def _mlp() -> tuple[nn.Module, callable]:
    model = nn.Sequential(nn.Linear(196, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    x, y = nc.randn(128, 196), nc.randint(0, 10, (128,))
    return model, lambda: nn.functional.cross_entropy(model(x), y)


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)         # few taps: the direct kernel
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)        # stride 1: the blocked kernel
        self.c3 = nn.Conv2d(16, 16, 3, stride=2)        # strided: im2col + GEMM
        self.bn = nn.BatchNorm2d(16)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(16 * 3 * 3, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(nn.functional.relu(self.c1(x)), 2)
        x = nn.functional.relu(self.c2(x))
        x = nn.functional.avg_pool2d(self.drop(nn.functional.relu(self.bn(self.c3(x)))), 2)
        return self.fc(x.flatten(1))


def _cnn() -> tuple[nn.Module, callable]:
    model = _CNN()
    x, y = nc.randn(32, 1, 28, 28), nc.randint(0, 10, (32,))
    return model, lambda: nn.functional.cross_entropy(model(x), y)


class _LSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(24, 64, num_layers=2, bidirectional=True)
        self.out = nn.Linear(128, 24)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


def _lstm() -> tuple[nn.Module, callable]:
    model = _LSTM()
    x = nc.randn(16, 24, 24)
    return model, lambda: nn.functional.mse_loss(model(x), x)


def _encoder() -> tuple[nn.Module, callable]:
    model = nn.TransformerEncoderLayer(64, 4, dim_feedforward=256, dropout=0.1,
                                       batch_first=True)
    x = nc.randn(16, 32, 64)
    return model, lambda: (model(x) - x).pow(2).mean()


MODELS = {"mlp": _mlp, "cnn": _cnn, "lstm": _lstm, "encoder": _encoder}


def _train(build, threads: int) -> list[bytes]:
    before = nc.get_num_threads()
    nc.set_num_threads(threads)
    try:
        nc.manual_seed(13)
        model, loss_fn = build()
        opt = optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(STEPS):
            opt.zero_grad()
            loss_fn().backward()
            opt.step()
        return [p.detach().numpy().tobytes() for p in model.parameters()] + [
            b.numpy().tobytes() for b in model.buffers()]
    finally:
        nc.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_bits_at_1_2_and_3_threads(name: str) -> None:
    one = _train(MODELS[name], 1)
    for threads in (2, 3):
        other = _train(MODELS[name], threads)
        assert len(one) == len(other)
        for i, (a, b) in enumerate(zip(one, other)):
            assert a == b, f"{name}: tensor {i} differs between 1 and {threads} threads"


def test_set_num_threads_bounds_and_types() -> None:
    before = nc.get_num_threads()
    try:
        with pytest.raises(ValueError, match="at most 256 threads, got 100000"):
            nc.set_num_threads(100000)
        with pytest.raises(RuntimeError, match="positive integer"):
            nc.set_num_threads(0)
        with pytest.raises(TypeError, match="must be int"):
            nc.set_num_threads(2.0)
        with pytest.raises(ValueError, match=r"\[set_num_threads\].*between 1 and 256"):
            _C.set_num_threads(MAX_THREADS + 1)
        assert nc.get_num_threads() == before  # a refused value changes nothing
        nc.set_num_threads(MAX_THREADS)
        assert nc.get_num_threads() == MAX_THREADS
        x = nc.randn(64, 300)
        w = nc.randn(200, 300)
        np.testing.assert_allclose(nn.functional.linear(x, w).numpy(),
                                   x.numpy() @ w.numpy().T, rtol=1e-4, atol=1e-4)
    finally:
        nc.set_num_threads(before)


def test_setting_is_process_wide() -> None:
    """A count set on one Python thread holds on every other (OpenMP's is per thread)."""
    before = nc.get_num_threads()
    seen = []
    try:
        nc.set_num_threads(3)
        t = threading.Thread(target=lambda: seen.append(nc.get_num_threads()))
        t.start()
        t.join()
        t = threading.Thread(target=lambda: nc.set_num_threads(1))
        t.start()
        t.join()
        seen.append(nc.get_num_threads())
    finally:
        nc.set_num_threads(before)
    assert seen == [3, 1]


def test_default_is_the_cpus_this_process_may_use() -> None:
    default = nc.threads.default_num_threads()
    assert 1 <= default <= len(os.sched_getaffinity(0))
    # A process pinned to one CPU starts with one thread (not one per core of the machine).
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "import nncore; print(nncore.get_num_threads(), nncore.threads.default_num_threads())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NNCORE_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1", "1"]


def test_environment_sets_the_count() -> None:
    code = "import nncore; print(nncore.get_num_threads())"
    for env_vars, expected in (({"OMP_NUM_THREADS": "3"}, "3"),
                               ({"NNCORE_NUM_THREADS": "2", "OMP_NUM_THREADS": "3"}, "2")):
        env = {k: v for k, v in os.environ.items()
               if k not in ("NNCORE_NUM_THREADS", "OMP_NUM_THREADS")}
        env.update(env_vars)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == expected, env_vars


def test_kernels_from_many_python_threads_agree() -> None:
    """Four Python threads share the pool (a busy pool runs a caller serially): same results."""
    before = nc.get_num_threads()
    nc.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 300)).astype(np.float32)
    w = rng.standard_normal((200, 300)).astype(np.float32)
    expected = nn.functional.linear(nc.tensor(x), nc.tensor(w)).numpy()
    errors: list[str] = []

    def work() -> None:
        for _ in range(30):
            got = nn.functional.linear(nc.tensor(x), nc.tensor(w)).numpy()
            if got.tobytes() != expected.tobytes():
                errors.append("mismatch")

    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        nc.set_num_threads(before)
    assert errors == []
