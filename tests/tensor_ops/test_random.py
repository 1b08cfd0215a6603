"""Random factories, in-place fills and generators: same seed same bits, generator independence,
state round trips, distribution sanity, dtypes and errors against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
from nncore import random as nrandom

# Every random call with the generator keyword, drawing a fresh (3, 5) sample.
_DRAWS = {
    "rand": lambda g: nc.rand(3, 5, generator=g),
    "randn": lambda g: nc.randn((3, 5), generator=g),
    "randint": lambda g: nc.randint(-4, 9, (3, 5), generator=g),
    "randperm": lambda g: nc.randperm(15, generator=g),
    "rand_like": lambda g: nc.rand_like(nc.zeros(3, 5), generator=g),
    "randn_like": lambda g: nc.randn_like(nc.zeros(3, 5), generator=g),
    "randint_like": lambda g: nc.randint_like(nc.zeros(3, 5), 2, 7, generator=g),
    "normal_tensors": lambda g: nc.normal(nc.zeros(3, 5), nc.ones(5), generator=g),
    "normal_numbers": lambda g: nc.normal(2.0, 3.0, (3, 5), generator=g),
    "bernoulli": lambda g: nc.bernoulli(nc.full((3, 5), 0.3), generator=g),
    "poisson": lambda g: nc.poisson(nc.full((3, 5), 4.0), generator=g),
    "multinomial": lambda g: nc.multinomial(nc.ones(3, 5), 4, generator=g),
    "multinomial_repl": lambda g: nc.multinomial(nc.ones(5), 9, True, generator=g),
    "uniform_": lambda g: nc.zeros(3, 5).uniform_(-2, 3, generator=g),
    "normal_": lambda g: nc.zeros(3, 5).normal_(1, 2, generator=g),
    "bernoulli_": lambda g: nc.zeros(3, 5).bernoulli_(0.4, generator=g),
    "exponential_": lambda g: nc.zeros(3, 5).exponential_(2.0, generator=g),
    "random_": lambda g: nc.zeros(3, 5).random_(3, 11, generator=g),
    "cauchy_": lambda g: nc.zeros(3, 5).cauchy_(generator=g),
    "log_normal_": lambda g: nc.zeros(3, 5).log_normal_(generator=g),
    "geometric_": lambda g: nc.zeros(3, 5).geometric_(0.3, generator=g),
}


@pytest.mark.parametrize("name", sorted(_DRAWS))
def test_same_seed_same_bits_and_generators_are_independent(name) -> None:
    draw = _DRAWS[name]
    nc.manual_seed(11)
    a = draw(None).numpy().copy()
    nc.manual_seed(11)
    b = draw(None).numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(draw(None).numpy(), b) or name == "randint_like"
    # a Generator with the same seed as the default draws the same bits, and drawing from it
    # leaves the default stream where it was
    nc.manual_seed(11)
    g = nc.Generator().manual_seed(11)
    np.testing.assert_array_equal(draw(g).numpy(), a)
    np.testing.assert_array_equal(draw(None).numpy(), a)
    g1, g2 = nc.Generator().manual_seed(5), nc.Generator().manual_seed(5)
    np.testing.assert_array_equal(draw(g1).numpy(), draw(g2).numpy())


def test_generator_api_like_torch() -> None:
    tt = pytest.importorskip("torch")
    g = nc.Generator()
    assert g.device == nc.device("cpu") == tt.Generator().device.type
    assert g.manual_seed(42) is g and g.initial_seed() == 42
    state = g.get_state()
    assert state.dtype == nc.uint8 and state.ndim == 1
    first = nc.rand(4, generator=g).numpy().copy()
    g.manual_seed(0)
    assert g.set_state(state) is g
    np.testing.assert_array_equal(nc.rand(4, generator=g).numpy(), first)
    s = g.seed()
    assert g.initial_seed() == s and 0 <= s < 2**64
    with pytest.raises(TypeError, match="ByteTensor"):
        g.set_state(nc.zeros(3))
    with pytest.raises(RuntimeError, match="set_state"):
        g.set_state(nc.zeros(3, dtype=nc.uint8))
    with pytest.raises(TypeError, match="generator must be a nncore.Generator"):
        nc.rand(2, generator=3)
    with pytest.raises(NotImplementedError, match="cuda"):
        nc.Generator(device="cuda")


def test_global_state_functions_like_torch() -> None:
    assert nc.manual_seed(7) is nc.default_generator and nc.initial_seed() == 7
    state = nc.get_rng_state()
    assert state.dtype == nc.uint8
    a = nc.randn(6).numpy().copy()
    nc.manual_seed(99)
    nc.set_rng_state(state)
    np.testing.assert_array_equal(nc.randn(6).numpy(), a)
    assert nc.initial_seed() == 7
    s = nc.seed()
    assert nc.initial_seed() == s
    nc.manual_seed(3)
    before = nc.get_rng_state()
    with nrandom.fork_rng():
        nc.rand(10)
    np.testing.assert_array_equal(nc.get_rng_state().numpy(), before.numpy())
    with nrandom.fork_rng(enabled=False):
        nc.rand(10)
    assert not np.array_equal(nc.get_rng_state().numpy(), before.numpy())
    # the JSON form nncore.train checkpoints store
    d = nrandom.get_rng_state_dict()
    b = nc.rand(3).numpy().copy()
    nrandom.set_rng_state(d)
    np.testing.assert_array_equal(nc.rand(3).numpy(), b)
    assert nrandom.default_generator() is nc.default_generator._numpy()


def test_manual_seed_arguments_like_torch() -> None:
    tt = pytest.importorskip("torch")
    for seed in (0, 5, -1, 2**63, 2**64 - 1, True, 3.7):
        assert nc.manual_seed(seed).initial_seed() == tt.manual_seed(seed).initial_seed()
    with pytest.raises(ValueError, match="manual_seed"):
        nc.manual_seed(2**64)
    with pytest.raises(TypeError, match="manual_seed"):
        nc.manual_seed(None)


def test_manual_seed_reseeds_streams_already_held() -> None:
    held = nrandom.default_generator()  # as nncore.nn.init holds it
    nc.manual_seed(21)
    a = held.random(3)
    nc.manual_seed(21)
    np.testing.assert_array_equal(nc.rand(3, dtype=nc.float64).numpy(), a)


# ---- distributions ---------------------------------------------------------------------------


def _moments(t):
    a = t.numpy().astype(np.float64)
    return a.mean(), a.var()


def test_distributions_have_the_right_moments() -> None:
    g = nc.Generator().manual_seed(1234)
    n = 200_000
    checks = [
        (nc.rand(n, generator=g), 0.5, 1 / 12),
        (nc.randn(n, generator=g), 0.0, 1.0),
        (nc.normal(3.0, 2.0, (n,), generator=g), 3.0, 4.0),
        (nc.normal(nc.full((n,), -1.0), nc.full((n,), 0.5), generator=g), -1.0, 0.25),
        (nc.bernoulli(nc.full((n,), 0.3), generator=g), 0.3, 0.21),
        (nc.poisson(nc.full((n,), 4.0), generator=g), 4.0, 4.0),
        (nc.empty(n).uniform_(-1, 3, generator=g), 1.0, 16 / 12),
        (nc.empty(n).normal_(2, 0.5, generator=g), 2.0, 0.25),
        (nc.empty(n).exponential_(4.0, generator=g), 0.25, 1 / 16),
        (nc.empty(n).bernoulli_(0.8, generator=g), 0.8, 0.16),
        (nc.empty(n).geometric_(0.25, generator=g), 4.0, 0.75 / 0.0625),
        (nc.empty(n).log_normal_(0.0, 0.5, generator=g), np.exp(0.125),
         (np.exp(0.25) - 1) * np.exp(0.25)),
        (nc.randint(0, 10, (n,), generator=g), 4.5, 99 / 12),
        (nc.empty(n).random_(10, generator=g), 4.5, 99 / 12),
    ]
    for t, mean, var in checks:
        m, v = _moments(t)
        assert abs(m - mean) < 5 * np.sqrt(var / n) + 1e-12, (m, mean)
        assert abs(v - var) < 0.05 * var, (v, var)
    c = nc.empty(n).cauchy_(1.0, 2.0, generator=g).numpy()
    assert abs(np.median(c) - 1.0) < 0.05 and abs(np.percentile(c, 75) - 3.0) < 0.1
    b = nc.empty(n).bernoulli_(nc.tensor(np.tile([0.1, 0.9], n // 2)), generator=g).numpy()
    np.testing.assert_allclose([b[0::2].mean(), b[1::2].mean()], [0.1, 0.9], atol=0.01)


def test_integer_ranges_permutations_and_defaults() -> None:
    g = nc.Generator().manual_seed(3)
    r = nc.randint(-3, 4, (1000,), generator=g).numpy()
    assert r.min() == -3 and r.max() == 3
    assert sorted(nc.randperm(17, generator=g).tolist()) == list(range(17))
    assert nc.randperm(0).shape == (0,)
    f = nc.empty(1000).random_(generator=g).numpy()
    assert f.min() >= 0 and f.max() <= 2**24 and np.all(f == np.round(f))
    i8 = nc.empty(1000, dtype=nc.int8).random_(generator=g).numpy()
    assert i8.min() >= 0 and i8.max() <= 127


def test_multinomial_with_and_without_replacement() -> None:
    g = nc.Generator().manual_seed(8)
    p = nc.tensor([1.0, 2.0, 0.0, 7.0])
    n = 100_000
    draws = nc.multinomial(p, n, replacement=True, generator=g).numpy()
    assert draws.dtype == np.int64 and draws.shape == (n,)
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / n, [0.1, 0.2, 0.0, 0.7],
                               atol=0.01)
    rows = nc.multinomial(p.expand(20000, 4).contiguous(), 3, generator=g).numpy()
    assert rows.shape == (20000, 3)
    assert all(len(set(r)) == 3 for r in rows[:500])  # no index repeats within a row
    assert not np.any(rows == 2)  # the zero-weight category never comes before the others
    np.testing.assert_allclose(np.bincount(rows[:, 0], minlength=4) / 20000, [0.1, 0.2, 0, 0.7],
                               atol=0.015)
    all4 = nc.multinomial(p, 4, generator=g).tolist()
    assert sorted(all4) == [0, 1, 2, 3] and all4[-1] == 2  # zero weight comes last


def test_sampling_dtypes_and_errors_like_torch() -> None:
    tt = pytest.importorskip("torch")
    calls = [
        lambda m: m.rand(2, dtype=m.float64), lambda m: m.rand(2, dtype=m.int64),
        lambda m: m.randn(2, dtype=m.int64), lambda m: m.randint(3, (2,)),
        lambda m: m.randint(3, (2,), dtype=m.float32), lambda m: m.randint(5, 2, (2,)),
        lambda m: m.randperm(4, dtype=m.float32), lambda m: m.normal(0.0, 1.0, (2,)),
        lambda m: m.normal(m.zeros(2), -1.0), lambda m: m.normal(m.zeros(2), m.ones(3)),
        lambda m: m.normal(2.0, m.ones(3, dtype=m.float64)),
        lambda m: m.bernoulli(m.tensor([0.5, 1.2])), lambda m: m.bernoulli(m.ones(2), 0.3),
        lambda m: m.poisson(m.tensor([1.0, -1.0])), lambda m: m.poisson(m.tensor([1, 2])),
        lambda m: m.multinomial(m.tensor([0.5, -0.5, 0.0]), 1),
        lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1),
        lambda m: m.multinomial(m.tensor([1, 2]), 1),
        lambda m: m.multinomial(m.tensor([[1.0, 2.0]]), 0),
        lambda m: m.multinomial(m.ones(2, 2, 2), 1),
        lambda m: m.multinomial(m.ones(3), 4),
        lambda m: m.ones(2, dtype=m.int64).normal_(), lambda m: m.ones(2).uniform_(3, 1),
        lambda m: m.ones(2).exponential_(-1), lambda m: m.ones(2).bernoulli_(1.5),
        lambda m: m.ones(2, dtype=m.int64).bernoulli_(0.5), lambda m: m.ones(3).random_(5, 2),
        lambda m: m.ones(2, dtype=m.int32).random_(7), lambda m: m.randint_like(m.ones(2), 5),
        lambda m: m.rand_like(m.ones(2, dtype=m.float64)),
    ]
    for i, call in enumerate(calls):
        try:
            theirs = call(tt)
        except Exception as e:  # noqa: BLE001 (nncore must raise the same type)
            with pytest.raises(type(e)):
                call(nc)
            continue
        ours = call(nc)
        assert ours.dtype == str(theirs.dtype).removeprefix("torch."), f"call {i}"
        assert ours.shape == tuple(theirs.shape), f"call {i}"
