"""Run under ``mpiexec -n 2``: ``python workers.py <case>``. Every check is an assert; a failing
one raises on its rank, which aborts the MPI job (non-zero exit), so the launching test
(tests/test_distributed.py) sees it. Rank 0 prints ``OK <case>`` at the end."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

import numpy as np

import nncore as nc
import nncore.distributed as dist
import nncore.nn.functional as F
from nncore import nn, optim
from nncore.nn.parallel import DistributedDataParallel as DDP
from nncore.utils.data import DistributedSampler


def gathered(a: np.ndarray) -> list[np.ndarray]:
    out = [np.empty_like(a) for _ in range(dist.get_world_size())]
    dist.all_gather(out, np.ascontiguousarray(a))
    return out


def case_collectives() -> None:
    r, w = dist.get_rank(), dist.get_world_size()
    t = nc.tensor(np.arange(5, dtype=np.float32)) * (r + 1)
    dist.all_reduce(t)
    assert np.array_equal(t.numpy(), np.arange(5) * sum(range(1, w + 1)))
    a = (np.arange(12.0).reshape(3, 4) * (r + 1)).T  # non-contiguous, float64
    dist.all_reduce(a, op=dist.ReduceOp.AVG)
    assert np.allclose(a, np.arange(12.0).reshape(3, 4).T * (w + 1) / 2)
    for op, fn in ((dist.ReduceOp.MAX, max), (dist.ReduceOp.MIN, min)):
        x = np.array([r, -r], dtype=np.int64)
        dist.all_reduce(x, op=op)
        assert x.tolist() == [fn(range(w)), fn(-k for k in range(w))]
    p = np.array([r + 2.0], dtype=np.float16)
    dist.all_reduce(p, op=dist.ReduceOp.PRODUCT)
    assert p.dtype == np.float16 and p[0] == np.prod([k + 2.0 for k in range(w)])
    try:
        dist.all_reduce(np.ones(2, np.int64), op=dist.ReduceOp.AVG)
        raise AssertionError("AVG on integers must raise")
    except TypeError as e:
        assert "AVG needs a floating-point" in str(e)
    b = nc.full((2, 3), float(r))
    dist.broadcast(b, src=w - 1)
    assert (b.numpy() == w - 1).all()
    outs = [nc.zeros(3) for _ in range(w)]
    dist.all_gather(outs, nc.full((3,), float(r)))
    assert [o.numpy()[0] for o in outs] == list(range(w))
    big = np.zeros(2 * w)
    dist.all_gather_into_tensor(big, np.full(2, float(r)))
    assert big.tolist() == [float(k) for k in range(w) for _ in range(2)]
    out = nc.zeros(2)
    dist.reduce_scatter(out, [nc.full((2,), float(i + r)) for i in range(w)])
    assert (out.numpy() == sum(r + k for k in range(w))).all()
    work = dist.all_reduce(np.ones(4), async_op=True)
    assert work.wait() is True and work.is_completed()
    objs: list = [None] * w
    dist.all_gather_object(objs, {"rank": r})
    assert objs == [{"rank": k} for k in range(w)]
    lst = [r, "x"]
    dist.broadcast_object_list(lst, src=0)
    assert lst == [0, "x"]
    dist.barrier()


def mlp(seed: int, dtype: np.dtype) -> nn.Module:
    nc.manual_seed(seed)
    return nn.Sequential(nn.Linear(13, 17), nn.ReLU(), nn.Linear(17, 9), nn.Tanh(),
                         nn.Linear(9, 3)).to(dtype)


def case_ddp() -> None:
    """N steps of DDP on each rank's shard vs one process on the concatenated batch."""
    r, w = dist.get_rank(), dist.get_world_size()
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        # NOTE: rank 1 starts from other weights: the wrap must broadcast rank 0's.
        model = DDP(mlp(r, dtype), bucket_cap_mb=0.0005)
        assert len(model._buckets) > 1
        ref = mlp(0, dtype)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        ref_opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(42)
        B = 5
        for _ in range(6):
            x = rng.standard_normal((B * w, 13)).astype(dtype)
            y = rng.integers(0, 3, B * w)
            mine = slice(r * B, (r + 1) * B)
            opt.zero_grad()
            F.cross_entropy(model(nc.tensor(x[mine])), nc.tensor(y[mine])).backward()
            opt.step()
            ref_opt.zero_grad()
            F.cross_entropy(ref(nc.tensor(x)), nc.tensor(y)).backward()
            ref_opt.step()
        for (name, p), q in zip(model.module.named_parameters(), ref.parameters()):
            every = gathered(p.detach().numpy())
            assert all(np.array_equal(every[0], e) for e in every), f"{name} differs by rank"
            err = np.abs(p.detach().numpy() - q.detach().numpy()).max()
            assert err <= tol, f"{name} ({dtype.__name__}): {err} from the one-process run"
    assert "module.0.weight" in model.state_dict()


def case_no_sync() -> None:
    """Accumulating 2 micro-batches per rank under no_sync equals the big batch."""
    r, w = dist.get_rank(), dist.get_world_size()
    model = DDP(mlp(0, np.float64))
    ref = mlp(0, np.float64)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4 * w, 13))
    y = rng.integers(0, 3, 4 * w)
    mine = x[4 * r:4 * r + 4], y[4 * r:4 * r + 4]
    with model.no_sync():
        loss = F.cross_entropy(model(nc.tensor(mine[0][:2])), nc.tensor(mine[1][:2])) / 2
        loss.backward()
    # NOTE: no communication yet: the local gradient is this rank's own.
    local = model.module[0].weight.grad.numpy().copy()
    assert not np.array_equal(gathered(local)[0], gathered(local)[-1])
    loss = F.cross_entropy(model(nc.tensor(mine[0][2:])), nc.tensor(mine[1][2:])) / 2
    loss.backward()
    F.cross_entropy(ref(nc.tensor(x)), nc.tensor(y)).backward()
    for p, q in zip(model.module.parameters(), ref.parameters()):
        assert np.abs(p.grad.numpy() - q.grad.numpy()).max() < 1e-12


def case_buffers_unused() -> None:
    r = dist.get_rank()
    nc.manual_seed(r)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    model = DDP(net)
    x = nc.tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    with nc.no_grad():
        net[1].running_mean.fill_(float(r))  # this rank's own statistics
        model(x)  # no broadcast without grad (an evaluation on one rank must not hang)
    assert not np.array_equal(*gathered(net[1].running_mean.numpy()))
    model(x).sum().backward()  # rank 0's running stats were broadcast before the update
    every = gathered(net[1].running_mean.numpy())
    assert np.array_equal(every[0], every[1])

    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x)

    nc.manual_seed(0)
    heads = DDP(TwoHeads(), find_unused_parameters=True)
    heads(nc.ones(2, 3)).sum().backward()
    assert heads.module.a.weight.grad is not None and heads.module.b.weight.grad is None
    nc.manual_seed(0)
    strict = DDP(TwoHeads())
    strict(nc.ones(2, 3)).sum().backward()
    try:
        strict(nc.ones(2, 3))
        raise AssertionError("an unused parameter must make the next forward raise")
    except RuntimeError as e:
        assert "Expected to have finished reduction" in str(e)


def case_sync_batchnorm() -> None:
    """SyncBatchNorm under DDP equals BatchNorm on the concatenated batch in one process
    (weights, gradients through the statistics, running statistics)."""
    r, w = dist.get_rank(), dist.get_world_size()

    def net() -> nn.Module:
        nc.manual_seed(3)
        return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(12, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).double()

    model = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(net()))
    assert isinstance(model.module[1], nn.SyncBatchNorm)
    ref = net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ref_opt = optim.SGD(ref.parameters(), lr=0.1)
    rng = np.random.default_rng(11)
    B = 3  # odd, so the per-rank means differ from the global one
    for _ in range(4):
        x = rng.standard_normal((B * w, 2, 4, 4))
        y = rng.integers(0, 2, B * w)
        opt.zero_grad()
        F.cross_entropy(model(nc.tensor(x[r * B:(r + 1) * B])),
                        nc.tensor(y[r * B:(r + 1) * B])).backward()
        opt.step()
        ref_opt.zero_grad()
        F.cross_entropy(ref(nc.tensor(x)), nc.tensor(y)).backward()
        ref_opt.step()
    mine, theirs = model.module.state_dict(), ref.state_dict()
    for key in theirs:
        err = np.abs(mine[key].numpy() - theirs[key].numpy()).max()
        assert err < 1e-10, f"{key}: {err}"


def case_mismatch() -> None:
    r = dist.get_rank()
    try:
        DDP(nn.Linear(4, 2 + r))
        raise AssertionError("a shape mismatch must raise at wrap time")
    except RuntimeError as e:
        assert "DDP expects same model across all ranks" in str(e), e
        assert "rank 1 has 'weight' of shape (3, 4)" in str(e), e


def case_sampler() -> None:
    w = dist.get_world_size()
    for n, drop_last in ((101, False), (101, True), (100, False)):
        s = DistributedSampler(range(n), shuffle=True, seed=5, drop_last=drop_last)
        s.set_epoch(3)
        shards = gathered(np.array(list(s), dtype=np.int64))
        flat = np.concatenate(shards)
        assert all(len(sh) == len(s) for sh in shards)
        if drop_last:
            assert len(set(flat.tolist())) == len(flat) == (n // w) * w
        else:
            assert set(flat.tolist()) == set(range(n)) and len(flat) == -(-n // w) * w
            if n % w == 0:
                assert sorted(flat.tolist()) == list(range(n))  # exact partition


def case_fit() -> None:
    """fit takes a DDP model and sharded loaders: same history everywhere, rank 0 writes."""
    from nncore.train import ModelCheckpoint, fit
    from nncore.utils.data import DataLoader, TensorDataset

    r = dist.get_rank()
    base = os.environ["NNCORE_TEST_DIR"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 13)).astype(np.float32)
    ds = TensorDataset(nc.tensor(x), nc.tensor((x[:, 0] > 0).astype(np.int64)))
    model = DDP(mlp(r, np.float32))
    train = DataLoader(ds, batch_size=8, sampler=DistributedSampler(ds, seed=1))
    val = DataLoader(ds, batch_size=32, sampler=DistributedSampler(ds, shuffle=False))
    opt = optim.SGD(model.parameters(), lr=0.1)
    ckpt = ModelCheckpoint(os.path.join(base, f"ckpt{r}"))
    hist = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=2, callbacks=[ckpt],
               run_dir=os.path.join(base, f"run{r}"), progress=False)
    every: list = [None] * dist.get_world_size()
    dist.all_gather_object(every, hist.history)
    assert every[0] == every[1] and len(hist.history["loss"]) == 2
    assert train.sampler.epoch == 1  # fit called set_epoch
    written = os.listdir(os.path.join(base, f"ckpt{r}"))
    assert (sorted(written) == ["best.safetensors", "last.ckpt"]) if r == 0 else written == []
    assert os.path.isdir(os.path.join(base, f"run{r}")) == (r == 0)
    saved = nc.load(os.path.join(base, "ckpt0", "best.safetensors"))
    assert "0.weight" in saved  # the wrapped module's names, loadable without DDP


def case_ok() -> None:
    for case in (case_collectives, case_ddp, case_no_sync, case_buffers_unused, case_mismatch,
                 case_sampler, case_fit, case_sync_batchnorm):
        case()


# ---- faults: each must end the whole job with an error, never hang ----
def case_raise() -> None:
    if dist.get_rank() == 1:
        raise ValueError("rank 1 fails on purpose")
    dist.all_reduce(np.ones(3))


def case_kill() -> None:
    model = DDP(mlp(0, np.float32))
    for step in range(1000):
        if step == 3 and dist.get_rank() == 1:
            os.kill(os.getpid(), 9)
        model(nc.ones(4, 13)).sum().backward()


def case_stall() -> None:
    if dist.get_rank() == 1:
        time.sleep(60)
    dist.all_reduce(np.ones(3))


if __name__ == "__main__":
    which = sys.argv[1]
    timeout = timedelta(seconds=3 if which == "stall" else 60)
    dist.init_process_group(backend="mpi", timeout=timeout)
    assert dist.get_world_size() == 2 and dist.get_backend() == "mpi"
    assert os.environ["LOCAL_RANK"] == str(dist.get_rank())
    globals()[f"case_{which}"]()
    dist.barrier()
    if dist.get_rank() == 0:
        print(f"OK {which}", flush=True)
    dist.destroy_process_group()
