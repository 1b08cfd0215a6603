"""DataLoader(num_workers > 0): the same batches as in-process loading, worker info and seeding,
errors with the worker's traceback, timeouts, dead workers, and clean shutdown (no process and
no /dev/shm file left behind)."""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import signal
import time

import numpy as np
import pytest

import nncore as nc
from nncore.utils import data as ud
from nncore.utils.data._utils import transport
from test_utils_data import SAMPLES, FnDataset, Stream, assert_same, to_torch


def _our_files() -> list[str]:
    return [f for f in os.listdir(transport.SHM_DIR) if f.startswith(f"nncore_dl_{os.getpid()}_")]


@pytest.fixture(autouse=True)
def no_leftovers():
    """Every test must leave no worker process and no shared-memory file behind."""
    yield
    gc.collect()
    assert multiprocessing.active_children() == []
    if os.path.isdir(transport.SHM_DIR):
        assert _our_files() == []


def _as_numpy(batch):
    if isinstance(batch, nc.Tensor):
        return batch.numpy()
    if isinstance(batch, dict):
        return {k: _as_numpy(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_as_numpy(v) for v in batch)
    return batch


def _assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_equal(_as_numpy(x), _as_numpy(y))


class Images(ud.Dataset):
    """MNIST-sized samples (784 floats: a batch crosses through /dev/shm) plus a label and a
    string, computed per item."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        img = np.sin(np.arange(784, dtype=np.float32) * (i + 1)).reshape(1, 28, 28)
        return {"img": img, "label": i % 10, "name": f"#{i}"}

    def __len__(self):
        return self.n


@pytest.mark.parametrize("kwargs", [
    {"batch_size": 32, "shuffle": True},
    {"batch_size": 5, "drop_last": True, "prefetch_factor": 1},
    {"batch_size": None},
])
def test_workers_give_the_batches_of_in_process_loading(kwargs):
    ds = Images(70)
    base = {k: v for k, v in kwargs.items() if k != "prefetch_factor"}
    ref = list(ud.DataLoader(ds, generator=np.random.default_rng(3), **base))
    got = list(ud.DataLoader(ds, num_workers=2, generator=np.random.default_rng(3), **kwargs))
    _assert_batches_equal(got, ref)
    assert got[0]["img"].numpy().flags.writeable


def test_workers_match_torch_batches_and_fast_path():
    tdata = pytest.importorskip("torch.utils.data")
    ours = list(ud.DataLoader(FnDataset(SAMPLES["nested"], 9), batch_size=4, num_workers=2))
    ref = list(tdata.DataLoader(FnDataset(SAMPLES["nested"], 9, torchify=True), batch_size=4))
    for a, b in zip(ours, ref, strict=True):
        assert_same(a, b)
    x = np.random.default_rng(0).standard_normal((300, 100)).astype(np.float32)
    ds = ud.TensorDataset(x, np.arange(300))
    nc.manual_seed(4)
    one = list(ud.DataLoader(ds, batch_size=256, shuffle=True))
    nc.manual_seed(4)
    two = list(ud.DataLoader(ds, batch_size=256, shuffle=True, num_workers=2))
    _assert_batches_equal(two, one)
    assert_same(to_torch(two[0])[1].shape, to_torch(one[0])[1].shape)


def _labels(loader):
    return [int(v) for b in loader for v in b["label"].numpy()]


def test_persistent_workers_and_out_of_order_delivery():
    ds = Images(23)

    def epochs():
        loader = ud.DataLoader(ds, batch_size=4, shuffle=True, num_workers=2,
                               persistent_workers=True, seed=2)
        out = [_labels(loader)]
        served_by = loader._iterator
        out.append(_labels(loader))
        assert loader._iterator is served_by  # the same workers serve every epoch
        it = iter(loader)
        next(it)  # a broken-off epoch: the next one still starts clean and complete
        out.append(_labels(loader))
        return out

    a = epochs()
    assert a == epochs()  # deterministic for a seed
    assert all(sorted(e) == sorted(i % 10 for i in range(23)) for e in a)
    assert a[0] != a[1]
    # NOTE: the first epoch equals in-process loading; later ones do not, because (as in
    # PyTorch) persistent workers draw their base seed once, not at every epoch.
    assert a[0] == _labels(ud.DataLoader(ds, batch_size=4, shuffle=True, seed=2))
    unordered = list(ud.DataLoader(ds, batch_size=4, num_workers=2, in_order=False))
    ordered = list(ud.DataLoader(ds, batch_size=4))
    key = lambda b: b["label"].numpy().tolist() + [b["name"]]  # noqa: E731
    assert sorted(map(str, map(key, unordered))) == sorted(map(str, map(key, ordered)))


class WhoAmI(ud.Dataset):
    """Each item reports the worker that loaded it and draws from every seeded generator."""

    def __init__(self, n):
        self.n = n
        self.tag = "main"

    def __getitem__(self, i):
        info = ud.get_worker_info()
        return {"id": info.id, "workers": info.num_workers, "seed": info.seed,
                "same_dataset": info.dataset is self, "tag": self.tag,
                "random": random.random(),
                "numpy": float(np.random.random()),  # noqa: NPY002 (the seeded legacy generator)
                "nncore": float(nc.rand(1).item())}

    def __len__(self):
        return self.n


def _tag(worker_id):
    info = ud.get_worker_info()
    info.dataset.tag = f"w{worker_id}"


def test_worker_info_seeding_and_init_fn():
    assert ud.get_worker_info() is None
    ds = WhoAmI(8)

    def run():
        loader = ud.DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=_tag,
                               generator=np.random.default_rng(17))
        return [{k: (v.numpy().tolist() if isinstance(v, nc.Tensor) else v)
                 for k, v in b.items()} for b in loader]

    a, b = run(), run()
    assert a == b  # same generator, same base seed: the same draws in every worker
    ids = [i for batch in a for i in batch["id"]]
    assert ids == [0, 0, 1, 1, 0, 0, 1, 1]  # round-robin task assignment, in order
    assert all(w == 2 for batch in a for w in batch["workers"])
    assert all(batch["same_dataset"] == [True, True] for batch in a)
    assert [t for batch in a for t in batch["tag"]] == [f"w{i}" for i in ids]
    seeds = {i: s for batch in a for i, s in zip(batch["id"], batch["seed"])}
    assert seeds[1] == seeds[0] + 1  # base seed + worker id, as torch
    for gen in ("random", "numpy", "nncore"):
        w0 = a[0][gen] + a[2][gen]
        w1 = a[1][gen] + a[3][gen]
        assert len(set(w0 + w1)) == 8, gen  # workers draw different streams
    other = ud.DataLoader(ds, batch_size=2, num_workers=2, generator=np.random.default_rng(18))
    assert next(iter(other))["seed"].numpy().tolist() != a[0]["seed"]


class Shards(ud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = ud.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def test_iterable_dataset_shards_per_worker_like_torch():
    tdata = pytest.importorskip("torch.utils.data")

    class TorchShards(tdata.IterableDataset):
        def __iter__(self):
            info = tdata.get_worker_info()
            return iter(range(info.id, 10, info.num_workers))

    ours = [b.numpy().tolist() for b in ud.DataLoader(Shards(10), batch_size=3, num_workers=2)]
    ref = [b.tolist() for b in tdata.DataLoader(TorchShards(), batch_size=3, num_workers=2)]
    assert ours == ref == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    dropped = ud.DataLoader(Shards(10), batch_size=3, num_workers=2, drop_last=True)
    assert [b.numpy().tolist() for b in dropped] == [[0, 2, 4], [1, 3, 5]]
    # Without sharding every worker yields the whole stream (PyTorch's documented behaviour).
    dup = sorted(v for b in ud.DataLoader(Stream(3), batch_size=None, num_workers=2)
                 for v in [int(b)])
    assert dup == [0, 0, 1, 1, 2, 2]


class Faulty(ud.Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __getitem__(self, i):
        if i == 5:
            raise_from_item(self.exc)
        return i

    def __len__(self):
        return 12


def raise_from_item(exc):
    raise exc


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


@pytest.mark.parametrize("exc,expected", [
    (ValueError("bad sample 5"), ValueError), (KeyError("k5"), KeyError),
    (NeedsTwoArgs(1, 2), RuntimeError),
])
def test_worker_errors_are_reraised_with_the_worker_traceback(exc, expected):
    loader = ud.DataLoader(Faulty(exc), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(expected) as err:
        for b in loader:
            got.append(b.numpy().tolist())
    assert got == [[0, 1], [2, 3]]  # batches before the failing one arrive first
    text = str(err.value)
    assert f"Caught {type(exc).__name__} in DataLoader worker process 0" in text
    assert "raise_from_item" in text and "Traceback" in text


def _fail_init(worker_id):
    raise RuntimeError(f"init of {worker_id} failed")


def test_worker_init_fn_error():
    with pytest.raises(RuntimeError, match="init of 0 failed"):
        list(ud.DataLoader(Images(4), batch_size=1, num_workers=1, worker_init_fn=_fail_init))


@pytest.mark.parametrize("how", ["break", "exception", "unfinished"])
def test_early_exit_leaves_no_process_or_file(how):
    loader = ud.DataLoader(Images(400), batch_size=32, num_workers=2)
    it = iter(loader)
    pids = [w.pid for w in it._workers]
    prefix = it._prefix
    assert all(p in [c.pid for c in multiprocessing.active_children()] for p in pids)
    if how == "break":
        for i, _ in enumerate(it):
            if i == 2:
                break
    elif how == "exception":
        with pytest.raises(ZeroDivisionError):
            for _ in it:
                raise ZeroDivisionError
    else:
        next(it)
    deadline = time.monotonic() + 5
    while not _our_files() and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for a prefetched batch to sit in /dev/shm
    assert _our_files() or not os.path.isdir(transport.SHM_DIR)
    del it
    gc.collect()
    alive = [c.pid for c in multiprocessing.active_children()]
    assert not any(p in alive for p in pids)
    assert not [f for f in os.listdir(transport.SHM_DIR) if f.startswith(prefix)]


class Sleepy(ud.Dataset):
    def __getitem__(self, i):
        if i == 1:
            time.sleep(3)
        return i

    def __len__(self):
        return 4


class Killer(ud.Dataset):
    def __getitem__(self, i):
        if i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    def __len__(self):
        return 6


def test_timeout_and_dead_worker(monkeypatch):
    from nncore.utils.data._utils import mp_iter, worker

    # Check on the workers every 0.2 s instead of every second (a quicker test).
    monkeypatch.setattr(mp_iter, "STATUS_CHECK_INTERVAL", 0.2)
    monkeypatch.setattr(worker, "STATUS_CHECK_INTERVAL", 0.2)
    loader = ud.DataLoader(Sleepy(), batch_size=1, num_workers=1, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        list(loader)
    gc.collect()
    assert time.monotonic() - start < 1.5  # the sleeping worker was stopped, not waited for
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+ \(killed by "
                                           r"signal SIGKILL\)\) exited unexpectedly"):
        list(ud.DataLoader(Killer(), batch_size=1, num_workers=1))


def test_spawn_context_and_len():
    loader = ud.DataLoader(ud.TensorDataset(np.arange(10)), batch_size=4, num_workers=1,
                           multiprocessing_context="spawn")
    assert len(loader) == 3
    assert [b[0].numpy().tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_native_kernels_run_in_forked_workers():
    class Matmul(ud.Dataset):
        def __getitem__(self, i):
            a = nc.ones(16, 16)
            return (a @ a).sum() + i

        def __len__(self):
            return 4

    (nc.ones(64, 64) @ nc.ones(64, 64)).sum()  # the parent's thread pool exists before forking
    out = [float(v) for b in ud.DataLoader(Matmul(), batch_size=2, num_workers=2) for v in b]
    assert out == [4096.0, 4097.0, 4098.0, 4099.0]


def test_large_batch_through_shared_memory_roundtrip():
    big = np.random.default_rng(0).standard_normal((4, 300, 300))
    enc = transport.encode({"x": big, "y": np.arange(3)}, f"nncore_dl_{os.getpid()}_t")
    assert len(enc.files) == (1 if os.path.isdir(transport.SHM_DIR) else 0)
    out = transport.decode(enc)
    np.testing.assert_array_equal(out["x"], big)
    np.testing.assert_array_equal(out["y"], np.arange(3))
    assert _our_files() == []
