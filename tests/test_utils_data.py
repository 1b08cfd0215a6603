"""nncore.utils.data against torch.utils.data: collate, datasets, samplers (the DataLoader is
tested in test_utils_data_loader.py, its worker processes in test_utils_data_workers.py)."""

from __future__ import annotations

import collections
from collections.abc import Mapping

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore.utils import data as ud

Point = collections.namedtuple("Point", ["x", "y"])


# ---- helpers: the same samples for both libraries, and a deep comparison ----

def to_torch(obj):
    """The sample with nncore Tensors as torch tensors (NumPy arrays and the rest unchanged)."""
    import torch

    if isinstance(obj, nc.Tensor):
        return torch.from_numpy(np.array(obj.numpy()))
    if isinstance(obj, Point):
        return Point(*(to_torch(v) for v in obj))
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, to_torch(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_torch(v) for v in obj)
    return obj


def assert_same(ours, ref, where="batch"):
    """``ours`` (nncore) has the structure, types, dtypes and values of ``ref`` (torch)."""
    import torch

    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, nc.Tensor), f"{where}: {type(ours).__name__}, expected a Tensor"
        arr = ours.numpy()
        assert arr.dtype.name == str(ref.dtype).removeprefix("torch."), \
            f"{where}: dtype {arr.dtype} vs {ref.dtype}"
        assert arr.shape == tuple(ref.shape), f"{where}: shape {arr.shape} vs {tuple(ref.shape)}"
        np.testing.assert_array_equal(arr, ref.numpy(), err_msg=where)
    elif isinstance(ref, Mapping):
        assert type(ours) is type(ref) and list(ours) == list(ref), f"{where}: {ours!r:.80}"
        for k in ref:
            assert_same(ours[k], ref[k], f"{where}[{k!r}]")
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref) and len(ours) == len(ref), \
            f"{where}: {type(ours).__name__}/{len(ours)} vs {type(ref).__name__}/{len(ref)}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(ref, np.ndarray):
        assert type(ours) is np.ndarray and ours.dtype == ref.dtype, where
        np.testing.assert_array_equal(ours, ref, err_msg=where)
    else:
        assert type(ours) is type(ref) and ours == ref, f"{where}: {ours!r} vs {ref!r}"


def _arr(i, shape, dtype):
    return (np.arange(int(np.prod(shape))).reshape(shape) * (i + 1)).astype(dtype)


# One sample maker per element kind; every one collated by both libraries.
SAMPLES = {
    "int": lambda i: i * 3 - 4,
    "float": lambda i: 0.25 * i - 1.0,
    "bool": lambda i: i % 2 == 0,
    "np_float32": lambda i: np.float32(i / 3),
    "np_int16": lambda i: np.int16(i - 7),
    "np_bool": lambda i: np.bool_(i % 3 == 0),
    "array_uint8": lambda i: _arr(i, (2, 3), np.uint8),
    "array_float16": lambda i: _arr(i, (4,), np.float16),
    "array_0d_float64": lambda i: np.array(i * 0.5),
    "tensor_float32": lambda i: nc.tensor(_arr(i, (3, 1), np.float32)),
    "tensor_0d_int64": lambda i: nc.tensor(np.int64(i)),
    "tuple": lambda i: (_arr(i, (2,), np.float32), i),
    "list": lambda i: [0.5 * i, i, "s"],
    "dict": lambda i: {"a": _arr(i, (2, 2), np.int32), "b": (i, f"name{i}")},
    "ordered_dict": lambda i: collections.OrderedDict(z=i, a=np.float64(i)),
    "namedtuple": lambda i: Point(x=_arr(i, (3,), np.float64), y=1.5 * i),
    "str": lambda i: f"item{i}",
    "bytes": lambda i: bytes([i % 256]),
    "nested": lambda i: {"img": nc.tensor(_arr(i, (1, 2, 2), np.float32)),
                         "meta": {"id": i, "tags": [i, i + 1], "pt": Point(i, 0.5)}},
}


class FnDataset(ud.Dataset):
    """``n`` samples made by ``fn`` (as torch tensors when ``torchify``)."""

    def __init__(self, fn, n, torchify=False):
        self.fn, self.n, self.torchify = fn, n, torchify

    def __getitem__(self, i):
        s = self.fn(i)
        return to_torch(s) if self.torchify else s

    def __len__(self):
        return self.n


# ---- default_collate / default_convert ----

@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize("size", [1, 3])
def test_default_collate_matches_torch(kind, size):
    tdata = pytest.importorskip("torch.utils.data")
    batch = [SAMPLES[kind](i) for i in range(size)]
    assert_same(ud.default_collate(batch), tdata.default_collate(to_torch(batch)), kind)


@pytest.mark.parametrize("batch", [[1, 2.5, 3], [True, 2], [2.0, 3], [np.float64(1), 2.0]])
def test_default_collate_mixed_numbers_match_torch(batch):
    tdata = pytest.importorskip("torch.utils.data")
    assert_same(ud.default_collate(batch), tdata.default_collate(batch))


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_default_convert_matches_torch(kind):
    tdata = pytest.importorskip("torch.utils.data")
    sample = SAMPLES[kind](2)
    assert_same(ud.default_convert(sample), tdata.default_convert(to_torch(sample)), kind)
    strings = np.array(["a", "b"])
    assert ud.default_convert(strings) is strings  # string arrays stay arrays, as in torch


@pytest.mark.parametrize("batch,exc,msg", [
    ([(1, 2), (1,)], RuntimeError, "each element in list of batch should be of equal size"),
    ([object()], TypeError, "default_collate: batch must contain tensors, numpy arrays, numbers"),
    ([np.array(["a"])], TypeError, "default_collate: batch must contain tensors.*found <U1"),
    ([np.zeros(3), np.zeros(4)], RuntimeError,
     r"stack expects each tensor to be equal size, but got \[3\] at entry 0 and \[4\] at entry 1"),
])
def test_default_collate_errors_match_torch(batch, exc, msg):
    tdata = pytest.importorskip("torch.utils.data")
    with pytest.raises(exc, match=msg):
        ud.default_collate(batch)
    with pytest.raises(exc, match=msg):
        tdata.default_collate(to_torch(batch))


def test_collate_map_is_extensible_and_grad_is_kept():
    from nncore.utils.data._utils.collate import collate, default_collate_fn_map

    class Box:
        def __init__(self, v):
            self.v = v

    fns = {**default_collate_fn_map, Box: lambda b, *, collate_fn_map: sum(x.v for x in b)}
    assert collate([(Box(1), 2), (Box(5), 3)], collate_fn_map=fns)[0] == 6
    w = nc.tensor([1.0, 2.0], requires_grad=True)
    out = ud.default_collate([w, w * 3])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 4.0])


# ---- datasets ----

def test_tensor_dataset_matches_torch():
    torch = pytest.importorskip("torch")
    rng, _ = fresh_rng()
    x, y = rng.standard_normal((7, 3)).astype(np.float32), rng.integers(0, 4, 7)
    ours, ref = ud.TensorDataset(nc.tensor(x), y), torch.utils.data.TensorDataset(
        torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == len(ref) == 7
    for i in (0, 3, -1):
        assert_same(ours[i], ref[i], f"item {i}")
    assert_same(ours[[4, 1]], ref[[4, 1]])
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        ud.TensorDataset(x, y[:3])
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y[:3]))


def test_concat_stack_chain_subset_match_torch():
    tdata = pytest.importorskip("torch.utils.data")
    parts = [FnDataset(SAMPLES["tuple"], n) for n in (3, 1, 4)]
    tparts = [FnDataset(SAMPLES["tuple"], n, torchify=True) for n in (3, 1, 4)]
    ours, ref = ud.ConcatDataset(parts), tdata.ConcatDataset(tparts)
    assert ours.cumulative_sizes == ref.cumulative_sizes == [3, 4, 8]
    for i in [0, 2, 3, 4, 7, -1, -8]:
        assert_same(ours[i], ref[i], f"concat[{i}]")
    for bad in (8, -9):
        with pytest.raises((IndexError, ValueError)) as ours_err:
            ours[bad]
        with pytest.raises((IndexError, ValueError)) as ref_err:
            ref[bad]
        assert ours_err.type is ref_err.type
    assert isinstance(parts[0] + parts[1], ud.ConcatDataset)
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ud.ConcatDataset([])

    a, b = FnDataset(SAMPLES["int"], 5), FnDataset(SAMPLES["dict"], 5)
    ta, tb = FnDataset(SAMPLES["int"], 5, True), FnDataset(SAMPLES["dict"], 5, True)
    for ours, ref in [(ud.StackDataset(a, b), tdata.StackDataset(ta, tb)),
                      (ud.StackDataset(p=a, q=b), tdata.StackDataset(p=ta, q=tb))]:
        assert len(ours) == len(ref) == 5
        assert_same(ours[2], ref[2])
        assert_same(ours.__getitems__([4, 0]), ref.__getitems__([4, 0]))
    for args, kwargs in [((a,), {"q": b}), ((), {}), ((a, FnDataset(SAMPLES["int"], 4)), {})]:
        with pytest.raises(ValueError):
            ud.StackDataset(*args, **kwargs)

    sub, tsub = ud.Subset(parts[2], [3, 0, 2]), tdata.Subset(tparts[2], [3, 0, 2])
    assert len(sub) == 3
    assert_same(sub[1], tsub[1])
    assert_same(sub.__getitems__([2, 0]), tsub.__getitems__([2, 0]))

    class Shifted(ud.Subset):
        def __getitem__(self, i):
            return super().__getitem__(i + 1)

    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        Shifted(parts[2], [0, 1])


class Stream(ud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_chain_dataset():
    chain = Stream(3) + Stream(2)
    assert isinstance(chain, ud.ChainDataset)
    assert list(chain) == [0, 1, 2, 0, 1] and len(chain) == 5
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ud.ChainDataset([Stream(1), FnDataset(SAMPLES["int"], 2)]))


@pytest.mark.parametrize("n,lengths", [
    (10, [3, 7]), (10, [0.5, 0.3, 0.2]), (11, [0.34, 0.33, 0.33]), (7, [0.1, 0.9]),
    (30, [0.3, 0.3, 0.4]), (5, [1.0]), (1, [1]), (9, [0.5, 0.5]),
])
def test_random_split_lengths_and_disjointness_match_torch(n, lengths):
    torch = pytest.importorskip("torch")
    parts = ud.random_split(range(n), lengths)
    ref = torch.utils.data.random_split(range(n), lengths)
    assert [len(p) for p in parts] == [len(p) for p in ref]
    flat = [i for p in parts for i in p.indices]
    assert sorted(flat) == list(range(n))  # disjoint and covering
    assert all(type(i) is int for i in flat)
    assert [parts[k][0] for k in range(len(parts)) if len(parts[k])] == \
        [parts[k].indices[0] for k in range(len(parts)) if len(parts[k])]


def test_random_split_seeding_and_warnings():
    ds = range(20)
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    assert ud.random_split(ds, [5, 15], generator=g1)[0].indices == \
        ud.random_split(ds, [5, 15], generator=g2)[0].indices
    nc.manual_seed(3)
    a = ud.random_split(ds, [0.5, 0.5])[1].indices
    nc.manual_seed(3)
    assert ud.random_split(ds, [0.5, 0.5])[1].indices == a
    assert ud.random_split(ds, [10, 10], seed=8)[0].indices == \
        ud.random_split(ds, [10, 10], seed=8)[0].indices
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        ud.random_split(range(1), [0.5, 0.5])
    with pytest.raises(TypeError, match="random_split: generator must be"):
        ud.random_split(ds, [10, 10], generator=42)
    with pytest.raises(ValueError, match="random_split: give either generator or seed"):
        ud.random_split(ds, [10, 10], generator=g1, seed=1)


# ---- samplers ----

def test_sequential_and_batch_samplers_match_torch():
    tdata = pytest.importorskip("torch.utils.data")
    for n in (0, 1, 7, 12):
        assert list(ud.SequentialSampler(range(n))) == list(tdata.SequentialSampler(range(n)))
        for bs in (1, 3, 5, 13):
            for drop in (False, True):
                ours = ud.BatchSampler(ud.SequentialSampler(range(n)), bs, drop)
                ref = tdata.BatchSampler(tdata.SequentialSampler(range(n)), bs, drop)
                assert list(ours) == list(ref) and len(ours) == len(ref)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
            ud.BatchSampler(range(4), bad, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        ud.BatchSampler(range(4), 2, 1)


@pytest.mark.parametrize("n,num_samples,replacement", [
    (7, None, False), (1, None, False), (5, 12, False), (6, 3, False), (9, 40, True),
    (4, 70, True), (3, None, True),
])
def test_random_sampler_streams(n, num_samples, replacement):
    tdata = pytest.importorskip("torch.utils.data")
    ours = ud.RandomSampler(range(n), replacement, num_samples,
                            generator=np.random.default_rng(5))
    ref = tdata.RandomSampler(range(n), replacement, num_samples)
    idx = list(ours)
    assert len(ours) == len(ref) == len(idx) == len(list(ref))
    assert all(type(i) is int and 0 <= i < n for i in idx)
    if not replacement:
        # Whole permutations, then a prefix of one (PyTorch's num_samples > n rule).
        for start in range(0, len(idx), n):
            chunk = idx[start:start + n]
            assert len(set(chunk)) == len(chunk)
    again = ud.RandomSampler(range(n), replacement, num_samples,
                             generator=np.random.default_rng(5))
    assert list(again) == idx


def test_random_sampler_seeding():
    nc.manual_seed(11)
    s = ud.RandomSampler(range(50))
    first, second = list(s), list(s)
    assert first != second and sorted(first) == list(range(50))  # a new order per epoch
    nc.manual_seed(11)
    assert [list(s), list(s)] == [first, second]
    g = np.random.default_rng(2)
    s = ud.RandomSampler(range(50), generator=g)
    assert list(s) != list(s)  # the generator advances


@pytest.mark.parametrize("args,exc", [
    ((range(3), 1), TypeError), ((range(3), False, 0), ValueError),
    ((range(0),), ValueError), ((range(3), True, -1), ValueError),
])
def test_random_sampler_errors_match_torch(args, exc):
    tdata = pytest.importorskip("torch.utils.data")
    with pytest.raises(exc):
        tdata.RandomSampler(*args)
    with pytest.raises(exc, match="replacement should be|num_samples should be"):
        ud.RandomSampler(*args)


def test_subset_random_sampler():
    indices = [10, 4, 7, 99, 3]
    s = ud.SubsetRandomSampler(indices, generator=np.random.default_rng(0))
    out = list(s)
    assert sorted(out) == sorted(indices) and len(s) == 5
    nc.manual_seed(1)
    a = list(ud.SubsetRandomSampler(indices))
    nc.manual_seed(1)
    assert list(ud.SubsetRandomSampler(indices)) == a


def test_weighted_random_sampler():
    torch = pytest.importorskip("torch")
    w = [0.0, 1.0, 3.0, 0.0, 4.0]
    s = ud.WeightedRandomSampler(w, 8000, generator=np.random.default_rng(0))
    draws = np.array(list(s))
    assert len(s) == len(draws) == 8000
    counts = np.bincount(draws, minlength=5)
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts / 8000, np.array(w) / 8, atol=0.02)
    no_rep = list(ud.WeightedRandomSampler(nc.tensor(w), 3, replacement=False,
                                           generator=np.random.default_rng(1)))
    assert sorted(no_rep) == [1, 2, 4]  # the non-zero weights come first
    # All five without replacement: zero weights last, as torch's multinomial.
    for ours in (list(ud.WeightedRandomSampler(w, 5, replacement=False)),
                 list(torch.utils.data.WeightedRandomSampler(w, 5, replacement=False))):
        assert sorted(ours[:3]) == [1, 2, 4] and sorted(ours[3:]) == [0, 3]
    # Sequential draws without replacement: the heaviest index comes first most often.
    firsts = [list(ud.WeightedRandomSampler([1.0, 8.0, 1.0], 1, replacement=False,
                                            generator=np.random.default_rng(k)))[0]
              for k in range(300)]
    assert 0.7 < firsts.count(1) / 300 < 0.9


@pytest.mark.parametrize("weights,num,rep,exc,msg", [
    ([1.0, -1.0], 2, True, RuntimeError, "encountering probability entry < 0"),
    ([0.0, 0.0], 2, True, RuntimeError, r"sum of probabilities <= 0"),
    ([float("nan"), 1.0], 1, True, RuntimeError, "contains either `inf`, `nan`"),
    ([1.0, 2.0], 3, False, RuntimeError, "cannot sample n_sample > prob_dist.size"),
])
def test_weighted_sampler_errors_match_torch(weights, num, rep, exc, msg):
    tdata = pytest.importorskip("torch.utils.data")
    with pytest.raises(exc, match=msg):
        list(ud.WeightedRandomSampler(weights, num, rep))
    with pytest.raises(exc, match=msg):
        list(tdata.WeightedRandomSampler(weights, num, rep))
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        ud.WeightedRandomSampler([[1.0]], 1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        ud.WeightedRandomSampler([1.0], True)


@pytest.mark.parametrize("n,replicas", [(10, 3), (9, 3), (2, 4), (17, 2), (1, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_matches_torch(n, replicas, drop_last):
    tdata = pytest.importorskip("torch.utils.data")
    ds = range(n)
    shards = []
    for rank in range(replicas):
        ours = ud.DistributedSampler(ds, replicas, rank, shuffle=False, drop_last=drop_last)
        ref = tdata.DistributedSampler(ds, replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(ref) and len(ours) == len(ref)
        shuffled = ud.DistributedSampler(ds, replicas, rank, seed=3, drop_last=drop_last)
        shards.append(list(shuffled))
        assert len(shards[-1]) == len(ref)
        assert list(shuffled) == shards[-1]  # same epoch, same order
        shuffled.set_epoch(1)
        if n > 2 and not drop_last:
            assert list(shuffled) != shards[-1] or replicas > n
    flat = [i for s in shards for i in s]
    if drop_last:
        assert len(set(flat)) == len(flat)  # disjoint
    else:
        assert set(flat) == set(range(n))  # covering (padded by repeats)


def test_distributed_sampler_needs_explicit_world():
    # NOTE: without a process group the defaults raise what torch.distributed raises.
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        ud.distributed.DistributedSampler(range(4))
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        ud.DistributedSampler(range(4), num_replicas=2, rank=2)
