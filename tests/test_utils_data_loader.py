"""nncore.utils.data.DataLoader in the main process against torch's: batches, lengths, argument
errors, warnings, shuffling determinism, checkpoint state; the namespaces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore.utils import data as ud
from test_utils_data import SAMPLES, FnDataset, Stream, assert_same

# ---- DataLoader in the main process, against torch ----

@pytest.mark.parametrize("kind", ["tuple", "dict", "nested", "namedtuple", "str", "float"])
@pytest.mark.parametrize("kwargs", [
    {"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": 1},
    {"batch_size": 20}, {"batch_size": None}, {"batch_size": 2, "sampler": [6, 0, 3, 3, 1]},
    {"batch_sampler": [[2, 4], [0], [6, 5, 1]]},
])
def test_loader_batches_match_torch(kind, kwargs):
    tdata = pytest.importorskip("torch.utils.data")
    ours = ud.DataLoader(FnDataset(SAMPLES[kind], 7), **kwargs)
    ref = tdata.DataLoader(FnDataset(SAMPLES[kind], 7, torchify=True), **kwargs)
    got, want = list(ours), list(ref)
    assert len(ours) == len(ref) == len(want) == len(got)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_same(a, b, f"batch {i}")


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                            (2, 5, False), (2, 5, True)])
def test_iterable_loader_matches_torch(n, bs, drop_last):
    tdata = pytest.importorskip("torch.utils.data")

    class TorchStream(tdata.IterableDataset):
        def __iter__(self):
            return iter(range(n))

        def __len__(self):
            return n

    ours = ud.DataLoader(Stream(n), batch_size=bs, drop_last=drop_last)
    ref = tdata.DataLoader(TorchStream(), batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(ref)
    got, want = list(ours), list(ref)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_same(a, b)
    assert_same(list(ud.DataLoader(Stream(n), batch_size=None)),
                list(tdata.DataLoader(TorchStream(), batch_size=None)))


def test_tensor_dataset_fast_path_matches_torch():
    torch = pytest.importorskip("torch")
    rng, _ = fresh_rng()
    x, y = rng.standard_normal((23, 2, 3)).astype(np.float32), rng.integers(0, 9, 23)
    order = rng.permutation(23).tolist()
    ours = ud.DataLoader(ud.Subset(ud.TensorDataset(x, y), order), batch_size=5)
    ref = torch.utils.data.DataLoader(torch.utils.data.Subset(torch.utils.data.TensorDataset(
        torch.from_numpy(x), torch.from_numpy(y)), order), batch_size=5)
    for a, b in zip(ours, ref, strict=True):
        assert_same(a, b)


@pytest.mark.parametrize("kwargs,exc", [
    ({"shuffle": True, "sampler": [0, 1]}, ValueError),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError),
    ({"batch_size": None, "drop_last": True}, ValueError),
    ({"num_workers": -1}, ValueError),
    ({"timeout": -1}, ValueError),
    ({"prefetch_factor": 2}, ValueError),
    ({"persistent_workers": True}, ValueError),
    ({"multiprocessing_context": "fork"}, ValueError),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError),
    ({"num_workers": 1, "multiprocessing_context": 3}, TypeError),
    ({"num_workers": 1, "prefetch_factor": -1}, ValueError),
    ({"batch_size": 0}, ValueError),
])
def test_loader_argument_errors_match_torch(kwargs, exc):
    tdata = pytest.importorskip("torch.utils.data")
    with pytest.raises(exc):
        tdata.DataLoader(FnDataset(SAMPLES["int"], 4, True), **kwargs)
    with pytest.raises(exc):
        ud.DataLoader(FnDataset(SAMPLES["int"], 4), **kwargs)


def test_loader_iterable_argument_errors_and_frozen_attributes():
    for kwargs in ({"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected "
                                             "unspecified"):
            ud.DataLoader(Stream(3), **kwargs)
    loader = ud.DataLoader(FnDataset(SAMPLES["int"], 4))
    with pytest.raises(ValueError, match="batch_size attribute should not be set after "
                                         "DataLoader is initialized"):
        loader.batch_size = 2
    loader.num_workers = 0  # not frozen, as in torch
    with pytest.raises(TypeError, match="DataLoader: dataset must define __getitem__"):
        ud.DataLoader(42)
    with pytest.raises(AssertionError, match="timeout needs num_workers > 0"):
        iter(ud.DataLoader(FnDataset(SAMPLES["int"], 4), timeout=1))


def test_pin_memory_is_accepted_with_torchs_warning():
    tdata = pytest.importorskip("torch.utils.data")
    msg = "'pin_memory' argument is set as true but no accelerator is found"
    with pytest.warns(UserWarning, match=msg):
        ours = list(ud.DataLoader(FnDataset(SAMPLES["int"], 4), batch_size=2, pin_memory=True))
    with pytest.warns(UserWarning, match=msg):
        ref = list(tdata.DataLoader(FnDataset(SAMPLES["int"], 4), batch_size=2, pin_memory=True))
    for a, b in zip(ours, ref, strict=True):
        assert_same(a, b)


def test_iterable_len_overrun_warns_like_torch():
    class Liar(Stream):
        def __len__(self):
            return 2

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loader = ud.DataLoader(Liar(4), batch_size=1)
        assert len(loader) == 2
        assert len(list(loader)) == 4
    assert any("was reported to be 2" in str(w.message) for w in caught)


def _orders(loader, epochs=2):
    return [[int(v) for b in loader for v in b[1].numpy()] for _ in range(epochs)]


def test_loader_shuffling_determinism():
    ds = ud.TensorDataset(np.zeros((30, 1)), np.arange(30))
    nc.manual_seed(5)
    a = _orders(ud.DataLoader(ds, batch_size=4, shuffle=True))
    nc.manual_seed(5)
    b = _orders(ud.DataLoader(ds, batch_size=4, shuffle=True))
    assert a == b and a[0] != a[1] and sorted(a[0]) == list(range(30))
    g = _orders(ud.DataLoader(ds, batch_size=4, shuffle=True,
                              generator=np.random.default_rng(9)))
    assert g == _orders(ud.DataLoader(ds, batch_size=4, shuffle=True,
                                      generator=np.random.default_rng(9)))
    class Gen:  # what nncore's generator objects provide (see tensor_ops/creation.py)
        def __init__(self, seed):
            self.rng = np.random.default_rng(seed)

        def _numpy(self):
            return self.rng

    assert _orders(ud.DataLoader(ds, batch_size=4, shuffle=True, generator=Gen(9))) == g
    s = _orders(ud.DataLoader(ds, batch_size=4, shuffle=True, seed=9))
    assert s == _orders(ud.DataLoader(ds, batch_size=4, shuffle=True, seed=9))
    # A loader with its own generator does not depend on the default generator's draws.
    nc.manual_seed(1)
    assert _orders(ud.DataLoader(ds, batch_size=4, shuffle=True, seed=9)) == s
    with pytest.raises(ValueError, match="DataLoader: give either generator or seed"):
        ud.DataLoader(ds, generator=np.random.default_rng(), seed=1)
    with pytest.raises(TypeError, match="DataLoader: generator must be"):
        ud.DataLoader(ds, generator="seed")


def test_loader_state_dict_roundtrip():
    ds = ud.TensorDataset(np.arange(12))
    loader = ud.DataLoader(ds, batch_size=12, shuffle=True, generator=np.random.default_rng(1))
    next(iter(loader))
    state = loader.state_dict()
    expected = next(iter(loader))[0].numpy().tolist()
    other = ud.DataLoader(ds, batch_size=12, shuffle=True, seed=77)
    other.load_state_dict(state)
    assert next(iter(other))[0].numpy().tolist() == expected
    plain = ud.DataLoader(ds, batch_size=12, shuffle=True)
    assert plain.state_dict() == {"seed": None, "generator": None}
    with pytest.raises(ValueError, match="the saved loader had its own generator"):
        plain.load_state_dict(state)
    with pytest.raises(ValueError, match="drew from nncore's default generator"):
        other.load_state_dict(plain.state_dict())
    plain.load_state_dict(plain.state_dict())


def test_namespaces_generics_and_abstract_iterable():
    import nncore

    assert nncore.utils.data is ud
    for name in ud.__all__:
        if name != "distributed":
            assert getattr(nncore.data, name) is getattr(ud, name), name
    assert ud.dataloader.DataLoader is ud.DataLoader
    assert ud.distributed.DistributedSampler is ud.DistributedSampler

    class Squares(ud.Dataset[int]):
        def __getitem__(self, i):
            return i * i

        def __len__(self):
            return 4

    class Backwards(ud.Sampler[int]):
        def __iter__(self):
            return iter([3, 1])

        def __len__(self):
            return 2

    batches = list(ud.DataLoader(Squares(), sampler=Backwards(), batch_size=2))
    assert [b.numpy().tolist() for b in batches] == [[9, 1]]

    class NoIter(ud.IterableDataset):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoIter()
    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        ud.Dataset()[0]
