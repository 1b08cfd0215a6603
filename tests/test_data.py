"""nncore.data: DataLoader, datasets, random_split, scalers (vs scikit-learn), synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng
from nncore.data import (
    DataLoader,
    Dataset,
    MinMaxScaler,
    StandardScaler,
    Subset,
    TensorDataset,
    random_split,
)
from nncore.data.datasets import make_classification, make_regression, make_spirals


class ListDataset(Dataset):
    """A plain per-sample dataset (no arrays): exercises the generic path and default_collate."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])

    def __len__(self) -> int:
        return len(self.x)


def _arrays(n: int = 17):
    rng, _ = fresh_rng()
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 5, n).astype(np.int64)


def _epoch(loader) -> list[tuple[np.ndarray, ...]]:
    return [tuple(t.detach().numpy() for t in batch) for batch in loader]


@pytest.mark.parametrize("n,bs,drop_last", [(17, 5, False), (17, 5, True), (15, 5, True),
                                            (1, 3, False), (3, 1, False), (4, 17, True)])
def test_batches_cover_dataset_in_order(n, bs, drop_last):
    x, y = _arrays(n)
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop_last)
    batches = _epoch(loader)
    expected = n // bs if drop_last else -(-n // bs)
    assert len(loader) == expected == len(batches)
    sizes = [b[0].shape[0] for b in batches]
    assert all(s == bs for s in sizes[:-1])
    if drop_last:
        assert all(s == bs for s in sizes)
    kept = sum(sizes)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]) if batches else x[:0],
                                  x[:kept])
    if batches:
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y[:kept])
        assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


def test_batches_are_nncore_tensors():
    x, y = _arrays()
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=4)))
    assert isinstance(xb, nc.Tensor) and isinstance(yb, nc.Tensor)
    assert xb.shape == (4, 3) and yb.shape == (4,)


def test_fast_and_generic_paths_agree():
    x, y = _arrays(23)
    fast = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=7)
    slow = DataLoader(ListDataset(x, y), batch_size=4, shuffle=True, seed=7)
    for (xf, yf), (xs, ys) in zip(_epoch(fast), _epoch(slow)):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)
        assert xs.dtype == np.float32 and ys.dtype == np.int64


def test_shuffle_is_a_permutation_and_differs_per_epoch():
    x = np.arange(50, dtype=np.float32)[:, None]
    loader = DataLoader(TensorDataset(x), batch_size=8, shuffle=True, seed=3)
    orders = [np.concatenate([b[0] for b in _epoch(loader)]).ravel() for _ in range(3)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), x.ravel())
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], x.ravel())


def test_shuffle_reproducible_with_seed():
    x = np.arange(40, dtype=np.float32)[:, None]
    a = DataLoader(TensorDataset(x), batch_size=6, shuffle=True, seed=11)
    b = DataLoader(TensorDataset(x), batch_size=6, shuffle=True, seed=11)
    c = DataLoader(TensorDataset(x), batch_size=6, shuffle=True, seed=12)
    for _ in range(2):  # every epoch, not only the first
        ea, eb, ec = _epoch(a), _epoch(b), _epoch(c)
        for (ba,), (bb,) in zip(ea, eb):
            np.testing.assert_array_equal(ba, bb)
        assert not all(np.array_equal(ba, bc) for (ba,), (bc,) in zip(ea, ec))


def test_shuffle_reproducible_with_manual_seed():
    x = np.arange(40, dtype=np.float32)[:, None]

    def two_epochs():
        loader = DataLoader(TensorDataset(x), batch_size=6, shuffle=True)
        return [np.concatenate([b[0] for b in _epoch(loader)]) for _ in range(2)]

    nc.manual_seed(123)
    first = two_epochs()
    nc.manual_seed(123)
    second = two_epochs()
    nc.manual_seed(124)
    third = two_epochs()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], third[0])


def test_subset_fast_path_and_random_split():
    x, y = _arrays(20)
    ds = TensorDataset(x, y)
    parts = random_split(ds, [12, 5, 3], seed=0)
    assert [len(p) for p in parts] == [12, 5, 3]
    idx = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(np.sort(idx), np.arange(20))
    # A Subset batches through the fast path and matches indexing the parent.
    xb, yb = next(iter(DataLoader(parts[0], batch_size=12)))
    np.testing.assert_array_equal(xb.detach().numpy(), x[parts[0].indices])
    np.testing.assert_array_equal(yb.detach().numpy(), y[parts[0].indices])
    # Nested subsets compose their indices.
    inner = Subset(parts[0], [3, 1])
    xb, _ = next(iter(DataLoader(inner, batch_size=2)))
    np.testing.assert_array_equal(xb.detach().numpy(), x[np.asarray(parts[0].indices)[[3, 1]]])
    # Item access matches too.
    xi, yi = parts[1][2]
    np.testing.assert_array_equal(xi.detach().numpy(), x[parts[1].indices[2]])
    assert yi.item() == y[parts[1].indices[2]]


def test_random_split_fractions_and_seeding():
    ds = TensorDataset(np.arange(10))
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=1)
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(ds, [0.34, 0.33, 0.33], seed=1)  # floors 3,3,3; 1 left goes to the first
    assert [len(p) for p in parts] == [4, 3, 3]
    a = random_split(ds, [7, 3], seed=5)
    b = random_split(ds, [7, 3], seed=5)
    np.testing.assert_array_equal(a[0].indices, b[0].indices)
    nc.manual_seed(9)
    c = random_split(ds, [7, 3])
    nc.manual_seed(9)
    d = random_split(ds, [7, 3])
    np.testing.assert_array_equal(c[0].indices, d[0].indices)


def test_tensor_dataset_items_and_errors():
    x, y = _arrays(6)
    ds = TensorDataset(nc.tensor(x), y)
    assert len(ds) == 6
    xi, yi = ds[-1]
    np.testing.assert_array_equal(xi.detach().numpy(), x[-1])
    assert yi.shape == () and yi.dtype == np.int64
    # AssertionError: PyTorch's exception type for this check.
    with pytest.raises(AssertionError, match="TensorDataset: Size mismatch between tensors"):
        TensorDataset(x, y[:5])
    with pytest.raises(AssertionError, match="TensorDataset: expected at least one tensor"):
        TensorDataset()


def test_custom_collate_fn():
    x, y = _arrays(7)
    loader = DataLoader(TensorDataset(x, y), batch_size=3, collate_fn=lambda batch: len(batch))
    assert list(loader) == [3, 3, 1]


def test_default_collate_dicts_and_floats():
    class Dicts(Dataset):
        def __getitem__(self, i):
            return {"x": np.full(2, i, dtype=np.float64), "w": 0.5 * i, "flag": i % 2 == 0}

        def __len__(self):
            return 5

    batch = next(iter(DataLoader(Dicts(), batch_size=5)))
    assert batch["x"].shape == (5, 2) and batch["x"].dtype == np.float64
    assert batch["w"].dtype == np.float64  # Python floats collate to float64, as in PyTorch
    np.testing.assert_allclose(batch["w"].detach().numpy(), [0, 0.5, 1, 1.5, 2])
    assert batch["flag"].dtype == np.bool_


@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=bs)


def test_bad_loader_arguments():
    with pytest.raises(ValueError, match="DataLoader: seed must be a non-negative integer"):
        DataLoader(TensorDataset(np.zeros(3)), seed=-1)
    with pytest.raises(TypeError, match="DataLoader: dataset must define __getitem__"):
        DataLoader(42)


def test_bad_split_lengths():
    ds = TensorDataset(np.zeros(10))
    with pytest.raises(ValueError, match=r"random_split: Sum of input lengths does not equal "
                                         r".*\(lengths \[3, 3\] sum to 6, the dataset has 10"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError, match=r"random_split: Sum of input lengths .*\(fractions "
                                         r"\[0.5, 0.2\] sum to 0.7"):
        random_split(ds, [0.5, 0.2])
    with pytest.raises(ValueError, match="random_split: Fraction at index 1 is not between"):
        random_split(ds, [0.5, 1.5, -1.0])
    with pytest.raises(ValueError, match="random_split: lengths must be non-negative"):
        random_split(ds, [12, -2])
    with pytest.raises(ValueError, match="random_split: lengths is empty"):
        random_split(ds, [])


# ---- scalers against scikit-learn ----

def _scaler_data(dtype):
    rng, _ = fresh_rng()
    x = rng.standard_normal((37, 5)) * rng.uniform(0.1, 10, 5) + rng.uniform(-5, 5, 5)
    x[:, 2] = 3.0  # a constant feature: left unscaled
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,kwargs", [
    ("standard", {}), ("standard", {"with_mean": False}), ("standard", {"with_std": False}),
    ("minmax", {}), ("minmax", {"feature_range": (-1.0, 2.0)}),
])
def test_scalers_match_sklearn(kind, kwargs, dtype):
    skp = pytest.importorskip("sklearn.preprocessing")
    ours = (StandardScaler if kind == "standard" else MinMaxScaler)(**kwargs)
    ref = (skp.StandardScaler if kind == "standard" else skp.MinMaxScaler)(**kwargs)
    x = _scaler_data(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    out = ours.fit_transform(x)
    expected = ref.fit_transform(x)
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    x2 = _scaler_data(dtype)  # unseen data, outside the fitted range
    np.testing.assert_allclose(ours.transform(x2), ref.transform(x2), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours.inverse_transform(out), ref.inverse_transform(expected),
                               rtol=rtol, atol=rtol * 10)
    np.testing.assert_allclose(ours.inverse_transform(out), x, rtol=rtol, atol=rtol * 10)
    for attr in ("mean_", "var_", "scale_", "data_min_", "data_max_", "data_range_", "min_"):
        if getattr(ref, attr, None) is not None:
            # sklearn keeps float32 statistics for float32 input; ours are float64.
            np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=rtol,
                                       atol=rtol)


def test_scalers_on_tensors_and_ints():
    x = _scaler_data(np.float32)
    out = StandardScaler().fit_transform(nc.tensor(x))
    assert isinstance(out, nc.Tensor) and out.dtype == np.float32
    back = StandardScaler().fit(x).inverse_transform(out)
    assert isinstance(back, nc.Tensor)
    np.testing.assert_allclose(back.detach().numpy(), x, rtol=1e-5, atol=1e-5)
    ints = MinMaxScaler().fit_transform(np.array([[0, 10], [5, 20], [10, 30]]))
    assert ints.dtype == np.float64
    np.testing.assert_allclose(ints, [[0, 0], [0.5, 0.5], [1, 1]])
    clipped = MinMaxScaler(clip=True).fit(np.array([[0.0], [1.0]])).transform(np.array([[2.0]]))
    np.testing.assert_allclose(clipped, [[1.0]])


def test_scaler_errors():
    with pytest.raises(ValueError, match=r"StandardScaler.transform: this scaler is not fitted"):
        StandardScaler().transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"StandardScaler.fit: expected 2-D data .* \(5,\)"):
        StandardScaler().fit(np.zeros(5))
    with pytest.raises(ValueError, match=r"MinMaxScaler.transform: x has 3 features"):
        MinMaxScaler().fit(np.zeros((4, 2))).transform(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="MinMaxScaler: feature_range must be"):
        MinMaxScaler(feature_range=(1, 0))
    with pytest.raises(ValueError, match="StandardScaler.fit: input contains NaN"):
        StandardScaler().fit(np.array([[np.nan, 1.0]]))


# ---- synthetic datasets ----

@pytest.mark.parametrize("make,kwargs,x_shape,y_shape", [
    (make_classification, {"n_samples": 17, "n_features": 5, "n_classes": 3}, (17, 5), (17,)),
    (make_regression, {"n_samples": 13, "n_features": 4, "n_targets": 2}, (13, 4), (13, 2)),
    (make_regression, {"n_samples": 1, "n_features": 1}, (1, 1), (1, 1)),
    (make_spirals, {"n_samples": 31, "n_classes": 3}, (31, 2), (31,)),
])
def test_synthetic_shapes_and_seeding(make, kwargs, x_shape, y_shape):
    ds = make(**kwargs, seed=4)
    assert isinstance(ds, TensorDataset)
    x, y = ds.arrays
    assert x.shape == x_shape and x.dtype == np.float32 and y.shape == y_shape
    assert y.dtype == (np.float32 if make is make_regression else np.int64)
    again = make(**kwargs, seed=4).arrays
    other = make(**kwargs, seed=5).arrays
    np.testing.assert_array_equal(x, again[0])
    np.testing.assert_array_equal(y, again[1])
    assert not np.array_equal(x, other[0])
    nc.manual_seed(77)
    a = make(**kwargs).arrays[0]
    nc.manual_seed(77)
    np.testing.assert_array_equal(a, make(**kwargs).arrays[0])
    assert make(**kwargs, seed=4, dtype=np.float64).arrays[0].dtype == np.float64


def test_synthetic_contents():
    x, y = make_classification(300, n_features=6, n_classes=4, seed=0).arrays
    assert np.bincount(y).tolist() == [75, 75, 75, 75]
    assert len(set(y[:20].tolist())) > 1  # rows are shuffled, not grouped by class
    x, y = make_spirals(301, n_classes=2, seed=0).arrays
    assert np.bincount(y).tolist() == [151, 150]
    assert np.abs(x).max() <= 1.0 + 1e-6
    ds, w = make_regression(50, n_features=5, n_informative=2, noise=0.0, bias=1.5, coef=True,
                            seed=0, dtype=np.float64)
    x, y = ds.arrays
    assert w.shape == (5, 1) and np.all(w[2:] == 0)
    np.testing.assert_allclose(y, x @ w + 1.5, rtol=1e-12)


def test_synthetic_errors():
    with pytest.raises(ValueError, match="make_classification: n_samples must be a positive"):
        make_classification(0)
    with pytest.raises(ValueError, match=r"make_classification: n_informative \(5\) must not"):
        make_classification(10, n_features=3, n_informative=5)
    with pytest.raises(ValueError, match="make_regression: noise must be non-negative"):
        make_regression(10, noise=-1.0)
    with pytest.raises(ValueError, match="make_spirals: seed must be a non-negative integer"):
        make_spirals(10, seed=-3)
